"""What the oracle reads from the chain, behind a small interface so intake can be measured alone.

`Web3ChainView` reads a deployed suite through gpusettle.chain; `StaticChainView` serves fixed worker
keys and no jobs (the intake benchmark and unit tests).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from eth_utils.address import to_checksum_address

from ..chain import Gpusettle, JobInfo, OracleSet, decode_job
from ..chain.logs import reader_for

__all__ = ["ChainView", "StaticChainView", "Web3ChainView", "WorkerKeyCache"]


class ChainView(Protocol):
    """The chain as the oracle's checks see it."""

    chain_id: int
    escrow_address: str

    def worker_of(self, provider: str) -> str | None:
        """The provider's current worker key (None if it has none)."""
        ...

    def jobs(self, job_ids: Sequence[int]) -> dict[int, JobInfo]:
        """The jobs that exist among `job_ids`."""
        ...

    def chain_time(self) -> int:
        """The latest block's timestamp."""
        ...

    def oracle_set(self) -> OracleSet:
        """The escrow's oracle set."""
        ...


class Web3ChainView:
    """ChainView over a Gpusettle client. Thread-safe: each thread gets its own connection."""

    def __init__(self, factory: Any, client: Gpusettle | None = None) -> None:
        """`factory()` returns a fresh Gpusettle client (one per thread)."""
        self._factory = factory
        self._local = threading.local()
        first = client or factory()
        self._local.client = first
        self.chain_id = first.chain.chain_id
        self.escrow_address = str(first.escrow.address)

    @property
    def client(self) -> Gpusettle:
        """This thread's client."""
        found: Gpusettle | None = getattr(self._local, "client", None)
        if found is None:
            found = self._factory()
            self._local.client = found
        return found

    def worker_of(self, provider: str) -> str | None:
        raw = str(self.client.staking.functions.workerOf(to_checksum_address(provider)).call())
        return None if int(raw, 16) == 0 else to_checksum_address(raw)

    def jobs(self, job_ids: Sequence[int]) -> dict[int, JobInfo]:
        client = self.client
        out: dict[int, JobInfo] = {}
        ids = [j for j in job_ids if 0 < j < 2**63]
        # One JSON-RPC batch per 200 jobs instead of one round trip per job.
        for start in range(0, len(ids), 200):
            chunk = ids[start : start + 200]
            results: list[Any]
            try:
                with client.chain.w3.batch_requests() as batch:
                    for job_id in chunk:
                        batch.add(client.escrow.functions.getJob(job_id))
                    results = list(batch.execute())
            except Exception:  # noqa: BLE001 - a node without batch support: one call per job
                results = []
                for job_id in chunk:
                    try:
                        results.append(client.escrow.functions.getJob(job_id).call())
                    except Exception:  # noqa: BLE001 - unknown job reverts
                        results.append(None)
            for job_id, raw in zip(chunk, results, strict=True):
                if raw is None or isinstance(raw, (BaseException, dict)):
                    continue
                info = decode_job(job_id, raw)
                if info.status != "None":
                    out[job_id] = info
        return out

    def chain_time(self) -> int:
        return self.client.chain.timestamp("latest")

    def worker_changes(self, since: int | None) -> tuple[dict[str, str | None], int]:
        """Providers whose worker key changed after block `since` (None: start now), their current
        keys, and the block read up to."""
        client = self.client
        latest = client.chain.block_number()
        if since is None or since >= latest:
            return {}, latest if since is None else since
        logs = reader_for(client.chain.w3).events(client.staking.events.WorkerSet, since + 1, latest)
        out: dict[str, str | None] = {}
        for entry in logs:
            worker = str(entry["args"]["worker"])
            out[to_checksum_address(entry["args"]["provider"])] = (
                None if int(worker, 16) == 0 else to_checksum_address(worker)
            )
        return out, latest

    def oracle_set(self) -> OracleSet:
        return self.client.oracle_set()


class StaticChainView:
    """Fixed worker keys and jobs, for benchmarks and tests without a chain."""

    def __init__(
        self,
        chain_id: int,
        escrow_address: str,
        workers: Mapping[str, str],
        jobs: Mapping[int, JobInfo] | None = None,
        oracle_set: OracleSet | None = None,
    ) -> None:
        self.chain_id = chain_id
        self.escrow_address: str = to_checksum_address(escrow_address)
        self.workers = {to_checksum_address(p): to_checksum_address(w) for p, w in workers.items()}
        self.job_table: dict[int, JobInfo] = dict(jobs or {})
        self._oracle_set = oracle_set or OracleSet((), 1, 1)
        self.offset = 0

    def worker_of(self, provider: str) -> str | None:
        return self.workers.get(to_checksum_address(provider))

    def jobs(self, job_ids: Sequence[int]) -> dict[int, JobInfo]:
        return {j: self.job_table[j] for j in job_ids if j in self.job_table}

    def chain_time(self) -> int:
        return int(time.time()) + self.offset

    def oracle_set(self) -> OracleSet:
        return self._oracle_set


class WorkerKeyCache:
    """Provider -> worker key for intake's signature check, refreshed at most every `refresh_after`
    seconds per provider when a signature does not match (a key may just have been rotated)."""

    def __init__(self, view: ChainView, ttl: float = 30.0, refresh_after: float = 1.0) -> None:
        self.view = view
        self.ttl = ttl
        self.refresh_after = refresh_after
        self._cache: dict[str, tuple[str | None, float]] = {}
        self._lock = threading.Lock()
        self._last_refresh = 0.0
        self._cursor: int | None = None

    def cached(self, provider: str) -> tuple[str | None, float] | None:
        """The cached key and when it was read, if fresh enough to use."""
        hit = self._cache.get(provider)
        if hit is not None and time.monotonic() - hit[1] <= self.ttl:
            return hit
        return None

    def fetch(self, provider: str) -> str | None:
        """Read the key from the chain and cache it (blocking: call from a thread)."""
        worker = self.view.worker_of(provider)
        with self._lock:
            self._cache[provider] = (worker, time.monotonic())
        return worker

    def refresh_all(self, every: float = 2.0) -> None:
        """At most every `every` seconds (blocking), apply key rotations to the cache, so a rotation
        reaches intake within seconds even for providers whose signatures still match the old key.

        With a view that reports WorkerSet events this reads only what changed; otherwise every
        cached key is read again."""
        now = time.monotonic()
        if now - self._last_refresh < every:
            return
        self._last_refresh = now
        changes = getattr(self.view, "worker_changes", None)
        if changes is not None:
            changed, self._cursor = changes(self._cursor)
            stamp = time.monotonic()
            with self._lock:
                for provider, worker in changed.items():
                    if provider in self._cache:
                        self._cache[provider] = (worker, stamp)
                # Nothing else changed on-chain: the other cached keys are as fresh as this read.
                for provider, (worker, _) in list(self._cache.items()):
                    self._cache[provider] = (worker, stamp)
            return
        for provider in list(self._cache):
            self.fetch(provider)

    def may_refresh(self, provider: str) -> bool:
        """Whether a mismatch justifies reading the key again."""
        hit = self._cache.get(provider)
        return hit is None or time.monotonic() - hit[1] > self.refresh_after
