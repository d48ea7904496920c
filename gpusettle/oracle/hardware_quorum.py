"""M-of-N hardware records: the checking oracle gathers its peers' signatures on a verdict.

The HardwareRegistry takes a check signed by threshold-many members of the oracle set. The oracle that
challenged an offer signs its verdict and, when the threshold is above one, asks its peers
(POST /v1/cosign/hardware, signed like /v1/cosign) to co-sign it. A peer never signs on trust: it runs a
challenge of its own against the same provider's worker (at the URL its own settings name; never one taken from
the request) and co-signs only when its own verdict agrees (passed with passed, failed with failed), the record
describes the offer as the chain has it now, and the record is fresh. The record keeps the asking oracle's
challenge, timing and root: what the co-signers vouch for is the verdict, each from its own measurement.

A peer reuses its own verdict on an offer for `reuse_within` seconds, so a burst of requests about one offer costs
the worker one challenge per peer, not one per request; checks of one offer run one at a time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from pydantic import BaseModel, ConfigDict, Field

from ..eip712 import CompactSignature, Domain
from ..hardware.attest import check_digest, sign_check
from ..hardware.models import HardwareCheck
from .endpoints import UrlLookup
from .quorum import ask_peer, gather_signatures

__all__ = [
    "HARDWARE_COSIGN_PATH",
    "HardwareCosignRequest",
    "HardwareCosigner",
    "HardwareQuorum",
]

log = logging.getLogger("gpusettle.oracle.hardware_quorum")

HARDWARE_COSIGN_PATH = "/v1/cosign/hardware"


class HardwareCosignRequest(BaseModel):
    """The body of POST /v1/cosign/hardware."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    epoch: int = Field(strict=True, ge=0)
    """The oracle-set epoch the signature is for."""
    check: HardwareCheck
    """The verdict to co-sign, as the asking oracle will record it."""


@dataclass
class HardwareQuorum:
    """Signs a hardware verdict with this oracle's key and gathers its peers' co-signatures."""

    registry_domain: Domain
    """The HardwareRegistry's domain: what the signatures are over."""
    peer_domain: Domain
    """The domain peer requests are authenticated under (the JobEscrow's, as /v1/cosign)."""
    key: bytes = field(repr=False)
    address: str
    peers: list[str] = field(default_factory=list)
    timeout: float = 120.0
    """Seconds a peer has to answer: it runs a challenge of its own first."""
    transport: httpx.BaseTransport | None = None

    def attest(
        self, check: HardwareCheck, epoch: int, oracles: Sequence[str], threshold: int
    ) -> list[tuple[str, CompactSignature]]:
        """`threshold` signatures over `check`, sorted by signer; QuorumError (`rejected` keyed by offer id)
        when too few members agree."""
        body = HardwareCosignRequest(epoch=epoch, check=check).model_dump_json().encode()
        return gather_signatures(
            digest=check_digest(check, epoch, self.registry_domain),
            epoch=epoch,
            oracles=oracles,
            threshold=threshold,
            own=(self.address, self.key),
            peers=self.peers,
            ask=lambda url: ask_peer(
                url,
                HARDWARE_COSIGN_PATH,
                body,
                self.peer_domain,
                self.key,
                self.address,
                self.timeout,
                self.transport,
            ),
        )


class OfferView(Protocol):
    """What the co-signer reads from the chain."""

    def oracle_epoch(self) -> int:
        """The oracle set's current epoch."""
        ...

    def offer_terms(self, offer_id: int) -> tuple[str, int, int, bool]:
        """(provider, GPU count, VRAM per GPU, active) of `offer_id`."""
        ...


@dataclass
class HardwareCosigner:
    """The peer's side of POST /v1/cosign/hardware (blocking; the app runs it on its peers pool)."""

    view: OfferView
    challenge: Callable[[int, str], HardwareCheck]
    """Runs this oracle's own challenge of an offer against a worker URL: its verdict."""
    worker_urls: UrlLookup
    """Provider (checksummed) -> its worker's base URL, from this oracle's own settings."""
    registry_domain: Domain
    key: bytes = field(repr=False)
    max_age: float = 900.0
    """Seconds a record's checkedAt may lie in the past (the asker measured it just before asking)."""
    reuse_within: float = 1800.0
    """Seconds this oracle's own verdict on an offer stands in for a new challenge."""
    clock: Callable[[], float] = time.time
    _own: dict[int, HardwareCheck] = field(default_factory=dict, init=False, repr=False)
    _locks: dict[int, threading.Lock] = field(default_factory=dict, init=False, repr=False)
    _guard: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __call__(self, request: HardwareCosignRequest, asker: str) -> tuple[int, dict[str, Any]]:
        """(200, {"r", "vs"}) when this oracle agrees, (409, {"rejected": {offerId: reason}}) when it does not, and
        (503, {"error", "reason"}) when it cannot tell now (its node or the worker failed): ask again later."""
        check = request.check
        try:
            problem = self._refusal(request)
        except Exception as exc:  # noqa: BLE001 - a node or worker failure is this peer's, not a verdict on the record
            log.warning("hardware cosign for %s of offer %d not decided: %s", asker, check.offerId, exc)
            return 503, {"error": "unavailable", "reason": f"cannot check offer {check.offerId} now: {exc}"}
        if problem is not None:
            log.warning("hardware cosign for %s of offer %d refused: %s", asker, check.offerId, problem)
            return 409, {"rejected": {str(check.offerId): problem}}
        r, vs = sign_check(check, request.epoch, self.registry_domain, self.key).hex()
        log.info(
            "hardware check of offer %d (%s) co-signed for %s", check.offerId, _word(check.passed), asker
        )
        return 200, {"r": r, "vs": vs}

    def _refusal(self, request: HardwareCosignRequest) -> str | None:
        check = request.check
        epoch = self.view.oracle_epoch()
        if request.epoch != epoch:
            return f"the oracle set's epoch is {epoch}, not {request.epoch}"
        now = self.clock()
        if check.checkedAt > now + 60 or now - check.checkedAt > self.max_age:
            return (
                f"the record is dated {check.checkedAt}, not within {self.max_age:.0f} s of now ({int(now)})"
            )
        provider, gpus, vram, active = self.view.offer_terms(check.offerId)
        if not active:
            return f"offer {check.offerId} is withdrawn"
        if (check.gpuCount, check.vramGb) != (gpus, vram):
            return (
                f"the record says {check.gpuCount} GPU(s) x {check.vramGb} GB; offer {check.offerId} claims "
                f"{gpus} x {vram} GB"
            )
        url = self.worker_urls.get(provider)
        if url is None:
            return f"this oracle knows no worker URL for provider {provider}, so it cannot check the offer itself"
        own = self._own_verdict(check.offerId, url)
        if own.passed != check.passed:
            return (
                f"this oracle's own challenge of offer {check.offerId} {_word(own.passed)} "
                f"(the record says {_word(check.passed)})"
            )
        return None

    def _own_verdict(self, offer_id: int, url: str) -> HardwareCheck:
        with self._guard:
            lock = self._locks.setdefault(offer_id, threading.Lock())
        with lock:
            own = self._own.get(offer_id)
            if own is None or self.clock() - own.checkedAt > self.reuse_within:
                own = self.challenge(offer_id, url)
                self._own[offer_id] = own
            return own


def _word(passed: bool) -> str:
    return "passed" if passed else "failed"
