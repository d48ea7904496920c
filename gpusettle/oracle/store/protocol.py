"""What the oracle needs from its durable store, whatever the database underneath.

Receipt life: received -> verified -> posted -> settled, or rejected (with a reason) at any step
before settled. `posted` receipts belong to a batch; a batch owns one nonce and every signed
transaction (the first and its fee bumps) for that nonce, stored before it is broadcast.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

from ...errors import GpusettleError
from ...schema import SchemaError

__all__ = [
    "ACTIVE_STATES",
    "CHECKPOINT_BUILT",
    "CHECKPOINT_POSTED",
    "CHECKPOINT_SETTLED",
    "CHECKPOINT_SKIPPED",
    "POSTED",
    "RECEIVED",
    "REJECTED",
    "SETTLED",
    "VERIFIED",
    "Batch",
    "CheckpointBatch",
    "HeartbeatOutcome",
    "InsertOutcome",
    "NewHeartbeat",
    "NewReceipt",
    "PruneResult",
    "SchemaError",
    "Store",
    "StoreUnavailableError",
    "StoredCheckpoint",
    "StoredHeartbeat",
    "StoredReceipt",
    "TxAttempt",
    "ids_of",
]

RECEIVED, VERIFIED, REJECTED, POSTED, SETTLED = "received", "verified", "rejected", "posted", "settled"
ACTIVE_STATES = (RECEIVED, VERIFIED, POSTED)
"""States in which a receipt is still on its way to the chain."""


class StoreUnavailableError(GpusettleError):
    """The store cannot durably record anything right now (disk full, read-only, I/O error, database
    unreachable, writer stopped)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class NewReceipt:
    """A validated, signature-checked receipt ready to be stored."""

    job_id: int
    provider: str
    signer: str
    struct_hash: bytes
    body: str
    """The SignedReceipt (with evidence and result reference) as JSON."""
    end_time: int


@dataclass(frozen=True)
class InsertOutcome:
    """What `add_receipt` did: `stored` (new or replacing a rejected one), `duplicate` (the same
    receipt again: its current record), or `conflict` (another receipt holds the job)."""

    kind: str
    record: StoredReceipt | None = None


@dataclass(frozen=True)
class StoredReceipt:
    """A receipt and where it is on its way to the chain."""

    job_id: int
    provider: str
    signer: str
    struct_hash: bytes
    body: str
    end_time: int
    status: str
    reason: str | None
    fraud: str | None
    batch_id: int | None
    tx_hash: str | None
    block_number: int | None
    received_at: float
    updated_at: float

    def public(self) -> dict[str, Any]:
        """The status document GET /v1/receipts/{job} returns."""
        out: dict[str, Any] = {
            "job_id": self.job_id,
            "provider": self.provider,
            "status": self.status,
            "struct_hash": "0x" + bytes(self.struct_hash).hex(),
            "received_at": self.received_at,
            "updated_at": self.updated_at,
        }
        if self.reason:
            out["reason"] = self.reason
        if self.fraud:
            out["fraud_report"] = self.fraud
        if self.batch_id is not None:
            out["batch_id"] = self.batch_id
        if self.tx_hash:
            out["tx_hash"] = self.tx_hash
        if self.block_number is not None:
            out["block_number"] = self.block_number
        return out


@dataclass(frozen=True)
class TxAttempt:
    """One signed transaction for a batch's nonce (the first or a fee bump)."""

    tx_hash: str
    batch_id: int
    nonce: int
    raw: bytes
    max_fee: int
    priority_fee: int
    created_at: float


@dataclass
class Batch:
    """Receipts posted together in one settleBatch call under one nonce."""

    id: int
    created_at: float
    epoch: int
    job_ids: list[int]
    nonce: int
    status: str
    """pending (sent, not yet mined or not yet deep enough), confirmed, or failed."""
    mined_tx: str | None = None
    mined_block: int | None = None
    mined_hash: str | None = None
    gas_used: int | None = None
    note: str | None = None
    attempts: list[TxAttempt] = field(default_factory=list)


@dataclass(frozen=True)
class NewHeartbeat:
    """A signature-checked lease heartbeat ready to be stored."""

    lease_id: int
    sequence: int
    provider: str
    signer: str
    timestamp: int
    service_up: bool
    struct_hash: bytes
    body: str
    """The HeartbeatSubmission as JSON (with its evidence and signature)."""


@dataclass(frozen=True)
class StoredHeartbeat:
    """A stored heartbeat: the first one taken for its (lease, sequence)."""

    lease_id: int
    sequence: int
    provider: str
    signer: str
    timestamp: int
    service_up: bool
    struct_hash: bytes
    body: str
    received_at: float


@dataclass(frozen=True)
class HeartbeatOutcome:
    """What `add_heartbeat` did: `stored`, or `duplicate` (the (lease, sequence) already holds one:
    `record`, which stays the one that counts)."""

    kind: str
    record: StoredHeartbeat | None = None


CHECKPOINT_BUILT, CHECKPOINT_POSTED, CHECKPOINT_SETTLED, CHECKPOINT_SKIPPED = (
    "built",
    "posted",
    "settled",
    "skipped",
)


@dataclass(frozen=True)
class StoredCheckpoint:
    """A checkpoint this oracle built: built -> posted -> settled, or skipped (the escrow refused it
    as stale: a new one is built from the lease's paidThrough)."""

    lease_id: int
    from_time: int
    to_time: int
    up_seconds: int
    down_seconds: int
    root: bytes
    final: bool
    """Its toTime is the lease's billing end."""
    status: str
    batch_id: int | None
    tx_hash: str | None
    block_number: int | None
    note: str | None
    created_at: float
    updated_at: float

    @property
    def key(self) -> tuple[int, int]:
        """(lease id, fromTime): one checkpoint per lease and period start."""
        return self.lease_id, self.from_time


@dataclass
class CheckpointBatch:
    """Checkpoints posted together in one submitCheckpoints call under one nonce."""

    id: int
    created_at: float
    epoch: int
    items: list[tuple[int, int]]
    """(lease id, fromTime) of each checkpoint, in submission order."""
    nonce: int
    status: str
    """pending, confirmed or failed."""
    mined_tx: str | None = None
    mined_block: int | None = None
    mined_hash: str | None = None
    gas_used: int | None = None
    note: str | None = None
    attempts: list[TxAttempt] = field(default_factory=list)


@dataclass(frozen=True)
class PruneResult:
    """What one `prune` removed."""

    receipts: int
    batches: int
    txs: int
    heartbeats: int = 0
    """Heartbeats and probe outcomes behind settled checkpoints."""
    checkpoints: int = 0
    """Settled or skipped checkpoints, and closed checkpoint batches with their transactions."""


class Store(Protocol):
    """What the oracle needs from its storage. Every method is atomic; writes are durable on return."""

    def add_receipt(self, receipt: NewReceipt) -> Future[InsertOutcome]:
        """Store a receipt (group-committed); the future resolves after the commit. Cancelling the
        future before the writer takes it means the receipt is not stored."""
        ...

    def receipt(self, job_id: int) -> StoredReceipt | None:
        """One receipt by job id."""
        ...

    def receipts(self, status: str, limit: int = 1000) -> list[StoredReceipt]:
        """Receipts in `status`, oldest job first."""
        ...

    def counts(self) -> dict[str, int]:
        """How many receipts are in each status."""
        ...

    def set_status(
        self, job_ids: Sequence[int], status: str, reason: str | None = None, *, only_from: str | None = None
    ) -> int:
        """Move receipts to `status` (from `only_from` when given); returns how many moved."""
        ...

    def reject(
        self, job_id: int, reason: str, *, fraud: str | None = None, only_from: str | None = None
    ) -> bool:
        """Atomically: a receipt rejected with `reason` and, for a fraud, the state of its report.
        False when it was not in `only_from` (nothing changed)."""
        ...

    def set_fraud(self, job_id: int, fraud: str) -> None:
        """Record the state of a fraud report for a receipt."""
        ...

    def fraud_pending(self) -> list[StoredReceipt]:
        """Rejected receipts whose fraud report has not been sent yet."""
        ...

    def create_batch(self, job_ids: Sequence[int], epoch: int, nonce: int, attempt: TxAttempt) -> Batch:
        """Atomically: a batch with its first signed transaction, its receipts moved verified -> posted,
        and the next nonce advanced past `nonce`."""
        ...

    def add_attempt(self, attempt: TxAttempt) -> None:
        """Store a fee-bumped replacement before it is broadcast."""
        ...

    def open_batches(self) -> list[Batch]:
        """Batches not yet confirmed or failed, with their attempts, oldest first."""
        ...

    def batch(self, batch_id: int) -> Batch | None:
        """One batch with its attempts."""
        ...

    def mark_mined(self, batch_id: int, tx_hash: str, block: int, block_hash: str, gas_used: int) -> None:
        """Record where a batch's transaction was mined (it may still be reorganised away)."""
        ...

    def mark_unmined(self, batch_id: int) -> None:
        """A reorganisation removed the batch's transaction: it is pending again."""
        ...

    def finish_batch(
        self,
        batch_id: int,
        settled: dict[int, tuple[str, int]],
        rejected: dict[int, str],
        requeue: Sequence[int],
        note: str | None = None,
        failed: bool = False,
    ) -> None:
        """Atomically close a batch: settled job -> (tx hash, block), rejected job -> reason, and
        receipts to post again (verified)."""
        ...

    def next_nonce(self) -> int | None:
        """The next nonce this oracle will use, if it has used any."""
        ...

    def set_next_nonce(self, nonce: int) -> None:
        """Raise the next nonce (never lowers it)."""
        ...

    def put_spec(self, spec_hash: str, body: str) -> None:
        """Store a job spec by its hash (idempotent)."""
        ...

    def spec(self, spec_hash: str) -> str | None:
        """A job spec's canonical JSON."""
        ...

    def prune(self, older_than: float) -> PruneResult:
        """Forget settled and rejected receipts (not a fraud still to be reported) last changed before
        `older_than` (unix time), and closed batches and their transactions older than that which no
        active receipt belongs to; for leases, heartbeats and probes received before then and covered by
        a settled checkpoint, settled and skipped checkpoints last changed before then, and closed
        checkpoint batches with their transactions."""
        ...

    # -- leases ----------------------------------------------------------------------------------------

    def add_heartbeat(self, heartbeat: NewHeartbeat) -> Future[HeartbeatOutcome]:
        """Store a heartbeat unless its (lease, sequence) has one (group-committed); the future resolves
        after the commit."""
        ...

    def add_heartbeats(self, heartbeats: Sequence[NewHeartbeat]) -> Future[list[HeartbeatOutcome]]:
        """`add_heartbeat` for each, in order, as one operation of one commit (a batch from one worker);
        a later heartbeat for a (lease, sequence) earlier in the list is a duplicate of it."""
        ...

    def heartbeats(self, lease_id: int, from_sequence: int, to_sequence: int) -> list[StoredHeartbeat]:
        """A lease's heartbeats with from_sequence <= sequence < to_sequence, in sequence order."""
        ...

    def record_probe(self, lease_id: int, sequence: int, ok: bool, detail: str) -> None:
        """A probe's outcome for a bucket; a failure is never overwritten by a later success."""
        ...

    def failed_probes(self, lease_id: int, from_sequence: int, to_sequence: int) -> list[int]:
        """Sequences of the buckets in range whose probe failed."""
        ...

    def probe_counts(self, lease_id: int) -> tuple[int, int]:
        """(passed, failed) probes of a lease."""
        ...

    def record_worker_endpoint(self, provider: str, url: str, issued_at: int, signer: str) -> bool:
        """Keep a provider's announced worker URL when it was issued after the one kept or signed by another
        key (the caller checked `signer` is the current worker key); False: nothing changed."""
        ...

    def worker_endpoint(self, provider: str) -> tuple[str, str] | None:
        """The provider's latest announced worker URL and the worker key that signed it, or None."""
        ...

    def add_checkpoint(
        self, lease_id: int, from_time: int, to_time: int, up: int, down: int, root: bytes, final: bool
    ) -> bool:
        """Store a built checkpoint; False (nothing changed) when one for (lease, fromTime) that is not
        skipped exists. A skipped one is replaced."""
        ...

    def checkpoints(self, status: str, limit: int = 1000) -> list[StoredCheckpoint]:
        """Checkpoints in `status`, oldest first."""
        ...

    def lease_checkpoints(self, lease_id: int) -> list[StoredCheckpoint]:
        """Every checkpoint of a lease, by fromTime."""
        ...

    def set_checkpoint_status(self, key: tuple[int, int], status: str, note: str | None = None) -> None:
        """Move one checkpoint to `status` with a note."""
        ...

    def create_checkpoint_batch(
        self, items: Sequence[tuple[int, int]], epoch: int, nonce: int, attempt: TxAttempt
    ) -> CheckpointBatch:
        """Atomically: a batch with its first signed transaction, its checkpoints moved built -> posted,
        and the next nonce (shared with receipt batches) advanced past `nonce`."""
        ...

    def add_checkpoint_attempt(self, attempt: TxAttempt) -> None:
        """Store a fee-bumped replacement before it is broadcast."""
        ...

    def open_checkpoint_batches(self) -> list[CheckpointBatch]:
        """Checkpoint batches not yet confirmed or failed, with their attempts, oldest first."""
        ...

    def mark_checkpoint_batch_mined(
        self, batch_id: int, tx_hash: str, block: int, block_hash: str, gas_used: int
    ) -> None:
        """Where a checkpoint batch's transaction was mined (it may still be reorganised away)."""
        ...

    def mark_checkpoint_batch_unmined(self, batch_id: int) -> None:
        """A reorganisation removed the transaction: pending again."""
        ...

    def finish_checkpoint_batch(
        self,
        batch_id: int,
        settled: dict[tuple[int, int], tuple[str, int]],
        skipped: dict[tuple[int, int], str],
        requeue: Sequence[tuple[int, int]],
        note: str | None = None,
        failed: bool = False,
    ) -> None:
        """Atomically close a checkpoint batch: settled -> (tx, block), skipped -> reason, the rest built
        again."""
        ...

    def hold_posting_lease(self) -> bool:
        """True while this process is the one oracle of those sharing the store that may post (taking
        the lease when it is free). A single-process store always holds it."""
        ...

    def check_writable(self, timeout: float = 1.0) -> str | None:
        """None when a write can be committed now, else the reason it cannot (within `timeout`)."""
        ...

    def close(self) -> None:
        """Stop the writer and close connections."""
        ...


def ids_of(receipts: Iterable[StoredReceipt]) -> list[int]:
    """Job ids of some receipts."""
    return [r.job_id for r in receipts]
