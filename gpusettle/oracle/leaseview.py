"""What the oracle reads about leases from the chain: LeaseEscrow.getLease and leaseCount, behind a
small interface so intake and the checkpoint builder can be tested and measured without a chain.

`LeaseTermsCache` keeps each lease's terms for a few seconds: a heartbeat arrives every 30 s per lease,
and a lease's provider and status change rarely, so intake need not read the chain per heartbeat. The
oracle's scan of the running leases (every few seconds, for probes and checkpoints) fills it too, so a
running lease's heartbeats find its terms without a read of their own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from eth_utils.address import to_checksum_address
from web3.exceptions import ContractLogicError

from ..leases.models import LeaseStatus, LeaseTerms

__all__ = ["LeaseTermsCache", "LeaseView", "StaticLeaseView", "Web3LeaseView", "decode_lease"]


class LeaseView(Protocol):
    """LeaseEscrow as the oracle sees it."""

    chain_id: int
    lease_escrow_address: str

    def leases(self, lease_ids: Sequence[int]) -> dict[int, LeaseTerms]:
        """The leases that exist among `lease_ids`."""
        ...

    def lease_count(self) -> int:
        """How many leases were ever opened (ids run 1..count)."""
        ...

    def chain_time(self) -> int:
        """The latest block's timestamp."""
        ...


class StaticLeaseView:
    """Leases held in a dict, for tests and the intake benchmark."""

    def __init__(
        self, chain_id: int, lease_escrow: str, leases: Mapping[int, LeaseTerms] | None = None
    ) -> None:
        self.chain_id = chain_id
        self.lease_escrow_address: str = to_checksum_address(lease_escrow)
        self.lease_table: dict[int, LeaseTerms] = dict(leases or {})
        self.offset = 0
        self.reads = 0

    def leases(self, lease_ids: Sequence[int]) -> dict[int, LeaseTerms]:
        self.reads += 1
        return {i: self.lease_table[i] for i in lease_ids if i in self.lease_table}

    def lease_count(self) -> int:
        return max(self.lease_table, default=0)

    def chain_time(self) -> int:
        return int(time.time()) + self.offset


_FIELDS = {
    "status": "status",
    "client": "client",
    "provider": "provider",
    "offerId": "offerId",
    "gpuCount": "gpuCount",
    "ratePerSecond": "ratePerSecond",
    "deposit": "deposit",
    "paidThrough": "paidThrough",
    "startedAt": "startedAt",
    "endTime": "endTime",
    "billingEnd": "billingEnd",
    "runwayEnd": "runwayEnd",
    "availabilityClass": "availabilityClass",
    "noticeSeconds": "noticeSeconds",
    "uptimeGuaranteeBps": "uptimeGuaranteeBps",
}


def decode_lease(lease_id: int, names: Sequence[str], values: Sequence[Any]) -> LeaseTerms:
    """LeaseTerms from getLease's output, by the ABI's component names (their order is the contract's)."""
    raw = dict(zip(names, values, strict=True))
    doc: dict[str, Any] = {"leaseId": lease_id}
    for ours, theirs in _FIELDS.items():
        if theirs in raw:
            value = raw[theirs]
            doc[ours] = to_checksum_address(value) if ours in ("client", "provider") else int(value)
    return LeaseTerms.model_validate(doc)


class Web3LeaseView:
    """LeaseView over a web3 contract object for LeaseEscrow (one per thread through `factory`)."""

    def __init__(self, factory: Callable[[], Any], chain_id: int) -> None:
        """`factory()` returns (web3 contract for LeaseEscrow, a function giving the latest block time)."""
        self._factory = factory
        self._local = threading.local()
        contract, _ = self._pair()
        self.chain_id = chain_id
        self.lease_escrow_address = str(contract.address)
        outputs = next(f for f in contract.abi if f.get("type") == "function" and f.get("name") == "getLease")
        self._names = [c["name"] for c in outputs["outputs"][0]["components"]]

    def _pair(self) -> tuple[Any, Callable[[], int]]:
        found: tuple[Any, Callable[[], int]] | None = getattr(self._local, "pair", None)
        if found is None:
            found = self._factory()
            self._local.pair = found
        return found

    def leases(self, lease_ids: Sequence[int]) -> dict[int, LeaseTerms]:
        contract, _ = self._pair()
        ids = [i for i in lease_ids if 0 < i < 2**63]
        out: dict[int, LeaseTerms] = {}
        # One JSON-RPC batch per 200 leases instead of one round trip per lease.
        for start in range(0, len(ids), 200):
            chunk = ids[start : start + 200]
            results: list[Any]
            try:
                with contract.w3.batch_requests() as batch:
                    for lease_id in chunk:
                        batch.add(contract.functions.getLease(lease_id))
                    results = list(batch.execute())
            except Exception:  # noqa: BLE001 - a node without batch support: one call per lease
                results = []
                for lease_id in chunk:
                    try:
                        results.append(contract.functions.getLease(lease_id).call())
                    except ContractLogicError:
                        results.append(None)  # an unknown lease reverts; an unreachable node raises on
            for lease_id, raw in zip(chunk, results, strict=True):
                if raw is None or isinstance(raw, (BaseException, dict)):
                    continue
                terms = decode_lease(lease_id, self._names, raw)
                if terms.status != LeaseStatus.NONE:
                    out[lease_id] = terms
        return out

    def lease_count(self) -> int:
        contract, _ = self._pair()
        return int(contract.functions.leaseCount().call())

    def chain_time(self) -> int:
        _, block_time = self._pair()
        return int(block_time())


class LeaseTermsCache:
    """Lease id -> terms, read through `view` at most every `ttl` seconds per lease (`miss_ttl` for a
    lease that does not exist or is not running yet, so an acceptance shows up quickly)."""

    def __init__(self, view: LeaseView, ttl: float = 10.0, miss_ttl: float = 1.0) -> None:
        self.view = view
        self.ttl = ttl
        self.miss_ttl = miss_ttl
        self._cache: dict[int, tuple[LeaseTerms | None, float]] = {}
        self._lock = threading.Lock()

    def cached(self, lease_id: int) -> tuple[LeaseTerms | None] | None:
        """(terms,) when a fresh enough answer is cached, else None."""
        hit = self._cache.get(lease_id)
        if hit is None:
            return None
        terms, at = hit
        fresh = self.ttl if terms is not None and terms.status == LeaseStatus.RUNNING else self.miss_ttl
        return (terms,) if time.monotonic() - at <= fresh else None

    def fetch(self, lease_id: int) -> LeaseTerms | None:
        """Read one lease from the chain and cache it (blocking: call from a thread)."""
        terms = self.view.leases([lease_id]).get(lease_id)
        self._put({lease_id: terms})
        return terms

    def fill(self, leases: Iterable[LeaseTerms]) -> None:
        """Cache terms read elsewhere just now (the running-lease scan), as if each were fetched."""
        self._put({terms.leaseId: terms for terms in leases})

    def _put(self, entries: Mapping[int, LeaseTerms | None]) -> None:
        at = time.monotonic()
        with self._lock:
            if len(self._cache) + len(entries) > 100_000:
                self._cache.clear()
            for lease_id, terms in entries.items():
                self._cache[lease_id] = (terms, at)
