"""Scheduled hardware checks inside `gpusettle oracle run` (docs/PROTOCOL.md, "Hardware checks").

Onboarding: every `scan_every` seconds the scheduler reads the staking contract's offer count. An offer it has not
seen before, whose provider has a worker URL, is checked within `onboard_within` seconds (a uniform draw) when
the HardwareRegistry holds no check of it yet; an offer that already has one waits for a random time like any
other. Random times: after each check the offer's next one comes after a delay drawn from an exponential
distribution of mean `every`, clipped to [0.1, 3] x `every` (memoryless, so a provider learns nothing from the
last check about the next), from a `random.Random` (`secrets.SystemRandom` unless a test injects another).

Skipped: a withdrawn offer is never checked; an offer whose provider has no worker URL is named once in the log
and never challenged.

Failures: a worker that is down, refuses or answers wrong is a failed verdict, recorded like a pass (the
HardwareChecker's rules). An error reading the chain while checking (an unreachable node) is logged and the offer
tried again `retry_after` seconds later; one while scanning, at the next scan. Nothing here stops the daemon's
other duties: the checks run on a thread of their own.

Recording: the verdict waits in a queue that the poster's thread drains (`post_once`, called only while no
receipt or checkpoint batch of this oracle is in flight: one account, one nonce sequence). A queued verdict the
node cannot take now is tried again `retry_after` seconds later; one the registry refuses is dropped with a log
line, as is one too old to be taken (HardwareRegistry.MAX_CHECK_AGE).

Threshold: the registry takes a check signed by the oracle set at its threshold. Where it is above 1 a verdict is
recorded with its peers' co-signatures (`cosigned`: the oracle has peers to ask; gpusettle.oracle.hardware_quorum);
without peers the scheduler says once (at its first scan, and again whenever the threshold changes) that it records
nothing, and still runs the checks (their verdicts go to the log and the metrics). A verdict the peers refuse is
dropped with their reasons; one they cannot be reached for is tried again later.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from random import Random
from typing import Protocol

from ..chain.client import OfferInfo, OracleSet
from ..errors import ConfigError, ContractError
from ..hardware.models import HardwareCheck
from .endpoints import UrlLookup
from .hardware import Verdict
from .metrics import OracleMetrics
from .quorum import QuorumError

__all__ = ["MAX_CHECK_AGE", "HardwareSchedule", "HardwareScheduler", "OfferSource"]

log = logging.getLogger("gpusettle.oracle.hardware")

MAX_CHECK_AGE = 86400
"""HardwareRegistry.MAX_CHECK_AGE: how old a check may be when it is recorded, seconds."""
_AGE_MARGIN = 600
"""A queued check this close to MAX_CHECK_AGE is dropped rather than sent to be refused."""


@dataclass(frozen=True)
class HardwareSchedule:
    """When an oracle checks offers' hardware on its own."""

    every: float = 21600.0
    """Mean seconds between two checks of one offer (0: no scheduled checks)."""
    onboard_within: float = 60.0
    """A new offer with no recorded check is checked within this many seconds of being found."""
    scan_every: float = 10.0
    """Seconds between reads of the offer count (and of the oracle set's threshold)."""
    retry_after: float = 120.0
    """Seconds before a check or a recording the node could not serve is tried again."""


class OfferSource(Protocol):
    """What the scheduler reads from the chain (gpusettle.chain.Gpusettle has it all)."""

    def offer_count(self) -> int: ...

    def offer(self, offer_id: int) -> OfferInfo: ...

    def hardware_checked_at(self, offer_id: int) -> int | None: ...

    def oracle_set(self) -> OracleSet: ...


class HardwareScheduler:
    """Decides which offer to challenge when; `step` on its own thread, `post_once` on the poster's."""

    def __init__(
        self,
        *,
        chain: OfferSource,
        challenge: Callable[[int, str], Verdict],
        record: Callable[[HardwareCheck], str],
        worker_urls: UrlLookup,
        settings: HardwareSchedule,
        metrics: OracleMetrics,
        clock: Callable[[], float] = time.time,
        rng: Random | None = None,
        cosigned: bool = False,
    ) -> None:
        """`challenge(offer_id, url)` runs one check (HardwareChecker.challenge); `record(check)` sends a
        verdict to the registry and returns the transaction hash; `worker_urls` maps providers (checksummed)
        to their workers; `cosigned`: `record` gathers peers' co-signatures where the threshold is above 1."""
        self.cosigned = cosigned
        self.chain = chain
        self.challenge = challenge
        self.record = record
        self.worker_urls = worker_urls
        self.settings = settings
        self.metrics = metrics
        self.clock = clock
        self.rng = rng or secrets.SystemRandom()
        self.last: dict[int, HardwareCheck] = {}
        """This oracle's latest verdict per offer."""
        self._seen = 0
        self._next_scan = -float("inf")
        self._due: dict[int, float] = {}
        self._providers: dict[int, str] = {}
        """The provider of each offer being checked (its worker URL is looked up at each check)."""
        self._unreachable: dict[int, str] = {}
        """Active offers whose provider's worker URL is not known yet: looked for again at each scan."""
        self._recording: bool | None = None
        self._queue: deque[HardwareCheck] = deque()
        self._lock = threading.Lock()
        self._post_after = -float("inf")

    def _draw(self) -> float:
        factor = min(max(self.rng.expovariate(1.0), 0.1), 3.0)
        return self.settings.every * factor

    # -- the scheduler's thread ------------------------------------------------------------------------

    def step(self) -> bool:
        """Scan when due, then run the most overdue check; True when one ran."""
        if self.settings.every <= 0:
            return False
        now = self.clock()
        if now >= self._next_scan:
            self._scan(now)
        due = [(at, offer_id) for offer_id, at in self._due.items() if at <= now]
        if not due:
            return False
        self._check(min(due)[1])
        return True

    def _scan(self, now: float) -> None:
        self._next_scan = now + self.settings.scan_every
        try:
            self._note_threshold(self.chain.oracle_set().threshold)
            count = self.chain.offer_count()
            while self._seen < count:
                self._discover(self._seen + 1, now)
                self._seen += 1
            for offer_id, provider in list(self._unreachable.items()):
                if self.worker_urls.get(provider) is not None:
                    del self._unreachable[offer_id]
                    log.info("offer %d: its provider's worker URL is known now", offer_id)
                    self._schedule(offer_id, provider, now)
        except Exception as exc:  # noqa: BLE001 - the node may be down; the next scan tries again
            log.warning(
                "hardware checks: cannot read the offers (%s); trying again in %g s",
                exc,
                self.settings.scan_every,
            )

    def _note_threshold(self, threshold: int) -> None:
        recording = threshold <= 1 or self.cosigned
        if recording == self._recording:
            return
        if not recording:
            log.warning(
                "the oracle set's threshold is %d and this oracle has no --peer to co-sign its hardware checks: "
                "they run but are not recorded on-chain",
                threshold,
            )
        elif self._recording is not None:
            log.info("the oracle set's threshold is 1 again: hardware checks are recorded from now on")
        self._recording = recording

    def _discover(self, offer_id: int, now: float) -> None:
        offer = self.chain.offer(offer_id)
        if not offer.active:
            log.debug("offer %d is withdrawn: not checked", offer_id)
            return
        if self.worker_urls.get(offer.provider) is None:
            log.info(
                "offer %d: its provider %s's worker URL is unknown (no --worker-url, no announcement); its "
                "hardware is checked once the worker announces where it answers",
                offer_id,
                offer.provider,
            )
            self._unreachable[offer_id] = offer.provider
            return
        self._schedule(offer_id, offer.provider, now)

    def _schedule(self, offer_id: int, provider: str, now: float) -> None:
        self._providers[offer_id] = provider
        if not self.chain.hardware_checked_at(offer_id):
            wait = self.rng.uniform(0.0, self.settings.onboard_within)
            self._due[offer_id] = now + wait
            log.info("offer %d: never checked; its hardware check comes within %.0f s", offer_id, wait)
        else:
            self._due[offer_id] = now + self._draw()

    def _check(self, offer_id: int) -> None:
        provider = self._providers[offer_id]
        url = self.worker_urls.get(provider)
        if url is None:  # an announced name that no longer resolves to a public address
            log.info("offer %d: its provider's worker URL is no longer usable; waiting for another", offer_id)
            del self._due[offer_id]
            self._unreachable[offer_id] = provider
            return
        try:
            if not self.chain.offer(offer_id).active:
                log.info("offer %d was withdrawn: no more hardware checks", offer_id)
                del self._due[offer_id]
                return
            verdict = self.challenge(offer_id, url)
        except Exception as exc:  # noqa: BLE001 - one broken check must not stop the others
            self._due[offer_id] = self.clock() + self.settings.retry_after
            self.metrics.hardware_checks.labels("error").inc()
            log.warning(
                "offer %d: hardware check not run (%s: %s); trying again in %g s",
                offer_id,
                type(exc).__name__,
                exc,
                self.settings.retry_after,
            )
            return
        self._due[offer_id] = self.clock() + self._draw()
        check = verdict.check
        self.last[offer_id] = check
        self.metrics.hardware_checks.labels("passed" if check.passed else "failed").inc()
        self.metrics.hardware_checked_at.labels(str(offer_id)).set(check.checkedAt)
        self.metrics.hardware_passed.labels(str(offer_id)).set(1 if check.passed else 0)
        if self._recording:
            with self._lock:
                self._queue.append(check)

    # -- the poster's thread ---------------------------------------------------------------------------

    def pending(self) -> int:
        """Verdicts waiting to be recorded."""
        with self._lock:
            return len(self._queue)

    def post_once(self) -> bool:
        """Record the oldest queued verdict; True when one was recorded."""
        now = self.clock()
        with self._lock:
            if not self._queue or now < self._post_after:
                return False
            check = self._queue[0]
        if now - check.checkedAt > MAX_CHECK_AGE - _AGE_MARGIN:
            self._drop(check, "expired", "it is too old for the registry now")
            return False
        try:
            tx_hash = self.record(check)
        except (ContractError, ConfigError) as exc:
            self._drop(check, "refused", str(exc))
            return False
        except QuorumError as exc:
            if exc.rejected:  # the peers' own challenges disagree: this verdict will never gather its quorum
                reasons = "; ".join(r for rs in exc.rejected.values() for r in rs)
                self._drop(check, "refused", f"{exc}; peers: {reasons}")
                return False
            self._post_after = now + self.settings.retry_after
            log.warning(
                "offer %d: too few peers co-signed the hardware check (%s); trying again in %g s",
                check.offerId,
                exc,
                self.settings.retry_after,
            )
            return False
        except Exception as exc:  # noqa: BLE001 - the node is down or refused the send: try again later
            self._post_after = now + self.settings.retry_after
            log.warning(
                "offer %d: cannot record the hardware check now (%s); trying again in %g s",
                check.offerId,
                exc,
                self.settings.retry_after,
            )
            return False
        with self._lock:
            self._queue.popleft()
        self.metrics.hardware_records.labels("recorded").inc()
        log.info(
            "offer %d: hardware check (%s) recorded in tx %s",
            check.offerId,
            "passed" if check.passed else "failed",
            tx_hash,
        )
        return True

    def _drop(self, check: HardwareCheck, outcome: str, why: str) -> None:
        with self._lock:
            self._queue.popleft()
        self.metrics.hardware_records.labels(outcome).inc()
        log.warning("offer %d: hardware check not recorded: %s", check.offerId, why)
