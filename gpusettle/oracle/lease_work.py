"""The oracle's lease work in one place: which leases are running, the loops that probe them and
build their checkpoints, the checkpoint poster, and co-signing peers' checkpoint batches.

OracleService creates a `LeaseWork` when it follows a LeaseEscrow; it runs `probe_once` and
`build_once` on threads of their own, and `post_once` on the poster's thread (after the receipts'
poster: one account, one nonce sequence).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount

from ..eip712 import Domain, sign_digest
from ..leases.eip712 import checkpoint_attestation_digest, checkpoints_hash, lease_domain
from ..leases.models import LeaseStatus, LeaseTerms
from .chainview import ChainView
from .checkpoint_poster import CheckpointPoster
from .checkpoint_quorum import CheckpointCosignRequest, CheckpointQuorum
from .checkpoints import CheckpointBuilder, CheckpointSettings, cosign_refusal
from .endpoints import UrlLookup, WorkerUrls
from .heartbeats import HeartbeatSettings, lease_uptime
from .leaseview import LeaseTermsCache, LeaseView
from .metrics import OracleMetrics
from .poster import PosterSettings
from .probes import Prober, ProbeSettings
from .store import Store

__all__ = ["LeaseSettings", "LeaseWork", "RunningLeases"]

log = logging.getLogger("gpusettle.oracle.leases")


@dataclass
class LeaseSettings:
    """Everything about leases an oracle is configured with."""

    heartbeats: HeartbeatSettings = field(default_factory=HeartbeatSettings)
    probes: ProbeSettings = field(default_factory=ProbeSettings)
    checkpoints: CheckpointSettings = field(default_factory=CheckpointSettings)
    refresh_every: float = 10.0
    """Seconds between scans of the escrow for running leases."""


class RunningLeases:
    """The escrow's running leases, scanned at most every `every` seconds (thread-safe)."""

    def __init__(
        self,
        view: LeaseView,
        every: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        feeds: LeaseTermsCache | None = None,
    ) -> None:
        """`feeds`: a terms cache each scan fills, so heartbeat intake reads no lease the scan just read."""
        self.view = view
        self.every = every
        self.clock = clock
        self.feeds = feeds
        self._lock = threading.Lock()
        self._at = -float("inf")
        self._running: list[LeaseTerms] = []

    def get(self, fresh: bool = False) -> list[LeaseTerms]:
        """Running leases (re-read when older than `every`, or when `fresh`)."""
        with self._lock:
            if fresh or self.clock() - self._at >= self.every:
                count = self.view.lease_count()
                found: list[LeaseTerms] = []
                for first in range(1, count + 1, 200):
                    chunk = self.view.leases(list(range(first, min(first + 200, count + 1))))
                    found += [t for t in chunk.values() if t.status == LeaseStatus.RUNNING]
                self._running = found
                self._at = self.clock()
                if self.feeds is not None:
                    self.feeds.fill(found)
            return list(self._running)


class LeaseWork:
    """Probing, checkpointing and posting for the leases of one LeaseEscrow."""

    def __init__(
        self,
        *,
        store: Store,
        view: LeaseView,
        chain_view: ChainView,
        peer_domain: Domain,
        account: LocalAccount,
        peers: list[str],
        settings: LeaseSettings,
        metrics: OracleMetrics,
        chain: Any = None,
        contract: Any = None,
        poster_settings: PosterSettings | None = None,
        confirmations: int = 1,
        clock: Callable[[], float] = time.time,
        worker_urls: UrlLookup | None = None,
    ) -> None:
        """`chain` (gpusettle.chain.tx.Chain) and `contract` (LeaseEscrow's web3 contract) are needed only
        to post; without them this oracle probes, builds and co-signs but does not send."""
        self.store = store
        self.view = view
        self.settings = settings
        self.domain = lease_domain(view.chain_id, view.lease_escrow_address)
        self.account = account
        # Kept a little longer than a scan's period, so that a running lease's entry is refreshed by the
        # next scan before it goes stale. A lease that stopped running may take heartbeats until then:
        # harmless, checkpoints count only seconds before its billing end.
        self.terms = LeaseTermsCache(view, ttl=max(10.0, 2 * settings.refresh_every + 5))
        self.running = RunningLeases(view, settings.refresh_every, feeds=self.terms)
        self._last_build = -float("inf")
        interval = settings.heartbeats.interval
        self.builder = CheckpointBuilder(store, interval, settings.checkpoints, metrics)
        self.prober = Prober(
            store=store,
            domain=peer_domain,
            key=bytes(account.key),
            address=account.address,
            settings=settings.probes,
            interval=interval,
            metrics=metrics,
            clock=clock,
            urls=worker_urls,
            # Each probe connects to the address its URL's host was checked at (no DNS rebinding in between).
            transport=worker_urls.transport() if isinstance(worker_urls, WorkerUrls) else None,
        )
        self.quorum = CheckpointQuorum(
            self.domain, peer_domain, bytes(account.key), account.address, list(peers)
        )
        self.poster: CheckpointPoster | None = None
        if chain is not None and contract is not None:
            self.poster = CheckpointPoster(
                store=store,
                chain=chain,
                contract=contract,
                account=account,
                quorum=self.quorum,
                view=chain_view,
                confirmations=confirmations,
                settings=poster_settings or PosterSettings(),
                metrics=metrics,
                clock=clock,
            )

    def probe_once(self) -> bool:
        """Probe the running leases that are due."""
        return self.prober.step(self.running.get())

    def build_once(self) -> bool:
        """Build the checkpoints that are due, at most every `refresh_every` seconds (each round reads
        the leases fresh: paidThrough must be current)."""
        now = time.monotonic()
        if now - self._last_build < self.settings.refresh_every:
            return False
        self._last_build = now
        leases = self.running.get(fresh=True)
        return self.builder.step(leases, self.view.chain_time()) > 0

    def post_once(self) -> bool:
        """Post built checkpoints and follow the batches in flight."""
        return self.poster.step() if self.poster is not None else False

    def cosign(
        self, request: CheckpointCosignRequest, peer: str, oracle_set: Any
    ) -> tuple[int, dict[str, object]]:
        """Check a peer's checkpoint batch against this oracle's own heartbeats; sign if every one passes."""
        if request.epoch != oracle_set.epoch:
            return 409, {
                "error": "wrong_epoch",
                "reason": f"the oracle set is at epoch {oracle_set.epoch}",
                "rejected": {},
            }
        if self.account.address not in oracle_set.oracles:
            return 409, {
                "error": "not_an_oracle",
                "reason": f"{self.account.address} is not in the oracle set",
                "rejected": {},
            }
        leases = self.view.leases([c.leaseId for c in request.checkpoints])
        chain_now = self.view.chain_time()
        rejected: dict[str, str] = {}
        for cp in request.checkpoints:
            own = lease_uptime(
                self.store, cp.leaseId, self.settings.heartbeats.interval, cp.fromTime, cp.toTime
            )
            why = cosign_refusal(
                cp, leases.get(cp.leaseId), chain_now, own.up_seconds, self.settings.checkpoints
            )
            if why is not None:
                rejected[str(cp.leaseId)] = why
        if rejected:
            return 409, {
                "error": "rejected",
                "reason": "some checkpoints did not check out",
                "rejected": rejected,
            }
        log.info("co-signing %d checkpoints for %s", len(request.checkpoints), peer)
        digest = checkpoint_attestation_digest(
            checkpoints_hash(request.checkpoints), request.epoch, self.domain
        )
        r, vs = sign_digest(digest, bytes(self.account.key)).hex()
        return 200, {"signer": self.account.address, "r": r, "vs": vs}

    def close(self) -> None:
        """Close the prober's connections."""
        self.prober.close()
