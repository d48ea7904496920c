"""The oracle's durable store: receipts, their status, batches and the transactions that post them.

`Store` is the interface the oracle needs; `SQLiteStore` implements it on SQLite in WAL mode with
`synchronous=FULL`, so a commit has reached the disk before a receipt is acknowledged. A PostgreSQL
store would implement the same methods with the same transactional grouping (each method is one
transaction; `add_receipts` is safe to group-commit).

Every write goes through one writer thread that group-commits whatever is queued: under load one
fsync covers hundreds of receipts, which is how intake stays durable *and* fast. Reads use a
connection per thread (WAL readers never block the writer).

Receipt life: received -> verified -> posted -> settled, or rejected (with a reason) at any step
before settled. `posted` receipts belong to a batch; a batch owns one nonce and every signed
transaction (the first and its fee bumps) for that nonce, stored before it is broadcast.
"""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

__all__ = [
    "ACTIVE_STATES",
    "Batch",
    "InsertOutcome",
    "NewReceipt",
    "SQLiteStore",
    "Store",
    "StoreUnavailableError",
    "StoredReceipt",
    "TxAttempt",
]

T = TypeVar("T")

RECEIVED, VERIFIED, REJECTED, POSTED, SETTLED = "received", "verified", "rejected", "posted", "settled"
ACTIVE_STATES = (RECEIVED, VERIFIED, POSTED)
"""States in which a receipt is still on its way to the chain."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS receipts (
    job_id        INTEGER PRIMARY KEY,
    provider      TEXT NOT NULL,
    signer        TEXT NOT NULL,
    struct_hash   BLOB NOT NULL,
    body          TEXT NOT NULL,
    end_time      INTEGER NOT NULL,
    status        TEXT NOT NULL,
    reason        TEXT,
    fraud         TEXT,
    batch_id      INTEGER,
    tx_hash       TEXT,
    block_number  INTEGER,
    received_at   REAL NOT NULL,
    updated_at    REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS receipts_status ON receipts (status, job_id);
CREATE INDEX IF NOT EXISTS receipts_batch ON receipts (batch_id);
CREATE TABLE IF NOT EXISTS batches (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at     REAL NOT NULL,
    epoch          INTEGER NOT NULL,
    job_ids        TEXT NOT NULL,
    nonce          INTEGER NOT NULL,
    status         TEXT NOT NULL,
    mined_tx       TEXT,
    mined_block    INTEGER,
    mined_hash     TEXT,
    gas_used       INTEGER,
    note           TEXT
);
CREATE INDEX IF NOT EXISTS batches_status ON batches (status);
CREATE TABLE IF NOT EXISTS txs (
    tx_hash        TEXT PRIMARY KEY,
    batch_id       INTEGER NOT NULL,
    nonce          INTEGER NOT NULL,
    raw            BLOB NOT NULL,
    max_fee        INTEGER NOT NULL,
    priority_fee   INTEGER NOT NULL,
    created_at     REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS txs_batch ON txs (batch_id);
CREATE TABLE IF NOT EXISTS specs (
    spec_hash      TEXT PRIMARY KEY,
    body           TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key            TEXT PRIMARY KEY,
    value          TEXT NOT NULL
);
"""

_UNAVAILABLE_MARKERS = (
    "disk is full",
    "readonly",
    "read-only",
    "disk i/o error",
    "unable to open",
    "no such file",
    "database is locked",
    "out of memory",
)


class StoreUnavailableError(Exception):
    """The store cannot durably record anything right now (disk full, read-only, I/O error)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _unavailable(exc: BaseException) -> StoreUnavailableError | None:
    text = str(exc).lower()
    if isinstance(exc, sqlite3.OperationalError | OSError) and any(m in text for m in _UNAVAILABLE_MARKERS):
        return StoreUnavailableError(f"the oracle's store cannot write: {exc}")
    return None


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
            "struct_hash": "0x" + self.struct_hash.hex(),
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


class Store(Protocol):
    """What the oracle needs from its storage. Every method is atomic; writes are durable on return."""

    def add_receipt(self, receipt: NewReceipt) -> Future[InsertOutcome]:
        """Store a receipt (group-committed); the future resolves after the commit."""
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

    def check_writable(self) -> str | None:
        """None when a write can be committed now, else the reason it cannot."""
        ...

    def close(self) -> None:
        """Stop the writer and close connections."""
        ...


_Op = tuple[Callable[[sqlite3.Connection], Any], Future[Any], bool]
_STOP = object()


def _row_receipt(row: sqlite3.Row | tuple[Any, ...]) -> StoredReceipt:
    return StoredReceipt(*row)


_RECEIPT_COLUMNS = (
    "job_id, provider, signer, struct_hash, body, end_time, status, reason, fraud, batch_id, tx_hash, "
    "block_number, received_at, updated_at"
)


class SQLiteStore:
    """`Store` on one SQLite file in WAL mode, all writes group-committed by one writer thread."""

    def __init__(self, path: str | Path, *, synchronous: str = "FULL", max_group: int = 1024) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.synchronous = synchronous
        self.max_group = max_group
        self._local = threading.local()
        self._queue: queue.SimpleQueue[_Op | object] = queue.SimpleQueue()
        self._failure: StoreUnavailableError | None = None
        self._closed = False
        self.commits = 0
        """Commits made by the writer (each is one fsync); receipts / commits is the group size."""
        self.last_commit_at = 0.0
        conn = self._connect()
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
            conn.commit()
        except sqlite3.Error as exc:
            failure = _unavailable(exc)
            if failure is not None:
                raise failure from None
            raise
        finally:
            conn.close()
        self._writer = threading.Thread(target=self._write_loop, name="oracle-store-writer", daemon=True)
        self._writer.start()
        self._checkpoint_stop = threading.Event()
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop, name="oracle-store-checkpoint", daemon=True
        )
        self._checkpointer.start()

    # -- connections -----------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA synchronous={self.synchronous}")
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    # -- the writer ------------------------------------------------------------------------------------

    def _checkpoint_loop(self, interval: float = 1.0) -> None:
        """Copy the WAL back into the database from a connection of its own, so the writer's commits
        never pay for a checkpoint (the writer's automatic checkpoints are off)."""
        conn = self._connect()
        try:
            while not self._checkpoint_stop.wait(interval):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:
                    continue  # busy or failing disk: the writer reports what matters
        finally:
            conn.close()

    def _write_loop(self) -> None:
        conn = self._connect()
        conn.execute("PRAGMA wal_autocheckpoint=0")
        while True:
            first = self._queue.get()
            if first is _STOP:
                break
            group: list[_Op] = [first]  # type: ignore[list-item]
            stop = False
            while len(group) < self.max_group:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                group.append(item)  # type: ignore[arg-type]
            self._run_group(conn, group)
            if stop:
                break
        conn.close()

    def _run_group(self, conn: sqlite3.Connection, group: list[_Op]) -> None:
        results: list[tuple[Future[Any], Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            self._fail_all(group, exc)
            return
        for index, (fn, future, atomic) in enumerate(group):
            savepoint = f"op{index}"
            try:
                if not atomic:
                    conn.execute(f"SAVEPOINT {savepoint}")
                value = fn(conn)
                if not atomic:
                    conn.execute(f"RELEASE {savepoint}")
                results.append((future, value, None))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's future
                if not conn.in_transaction:
                    # SQLite rolled the whole transaction back (SQLITE_FULL, I/O errors): nothing of this
                    # group is stored, so every operation in it fails with this error.
                    self._fail_all(group, exc)
                    return
                if not atomic:
                    try:
                        conn.execute(f"ROLLBACK TO {savepoint}")
                        conn.execute(f"RELEASE {savepoint}")
                    except sqlite3.Error as undo:
                        self._abort(conn, group, undo)
                        return
                results.append((future, None, exc))
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._abort(conn, group, exc)
            return
        self.commits += 1
        self.last_commit_at = time.time()
        self._failure = None
        for future, value, error in results:
            if error is not None:
                failure = _unavailable(error)
                future.set_exception(failure or error)
            else:
                future.set_result(value)

    def _abort(self, conn: sqlite3.Connection, group: list[_Op], exc: BaseException) -> None:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
        self._fail_all(group, exc)

    def _fail_all(self, group: list[_Op], exc: BaseException) -> None:
        failure = _unavailable(exc) or StoreUnavailableError(f"the oracle's store cannot commit: {exc}")
        self._failure = failure
        for _, future, _ in group:
            if not future.done():
                future.set_exception(failure)

    def _submit(self, fn: Callable[[sqlite3.Connection], T], *, atomic: bool = False) -> Future[T]:
        """Queue `fn` for the writer. `atomic` ops change the database in at most one statement (after
        any number of reads), so they need no savepoint to be undone on failure."""
        future: Future[T] = Future()
        if self._closed:
            future.set_exception(StoreUnavailableError("the oracle's store is closed"))
            return future
        self._queue.put((fn, future, atomic))
        return future

    def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return self._submit(fn).result()

    # -- receipts --------------------------------------------------------------------------------------

    def add_receipt(self, receipt: NewReceipt) -> Future[InsertOutcome]:
        def op(conn: sqlite3.Connection) -> InsertOutcome:
            now = time.time()
            values = (
                receipt.job_id,
                receipt.provider,
                receipt.signer,
                receipt.struct_hash,
                receipt.body,
                receipt.end_time,
                RECEIVED,
                now,
                now,
            )
            inserted = conn.execute(
                "INSERT INTO receipts (job_id, provider, signer, struct_hash, body, end_time, status, "
                "received_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id) DO NOTHING",
                values,
            ).rowcount
            if inserted == 1:
                return InsertOutcome("stored")
            row = conn.execute(
                f"SELECT {_RECEIPT_COLUMNS} FROM receipts WHERE job_id = ?", (receipt.job_id,)
            ).fetchone()
            existing = _row_receipt(row)
            if existing.struct_hash == receipt.struct_hash and existing.status != REJECTED:
                return InsertOutcome("duplicate", existing)
            if existing.status != REJECTED or existing.fraud:
                return InsertOutcome("conflict", existing)
            # A rejected receipt (not a fraud) may be replaced by a corrected one, or checked again.
            conn.execute(
                "INSERT OR REPLACE INTO receipts (job_id, provider, signer, struct_hash, body, end_time, status, "
                "received_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )
            return InsertOutcome("stored")

        return self._submit(op, atomic=True)

    def receipt(self, job_id: int) -> StoredReceipt | None:
        row = (
            self._reader()
            .execute(f"SELECT {_RECEIPT_COLUMNS} FROM receipts WHERE job_id = ?", (job_id,))
            .fetchone()
        )
        return _row_receipt(row) if row else None

    def receipts(self, status: str, limit: int = 1000) -> list[StoredReceipt]:
        rows = (
            self._reader()
            .execute(
                f"SELECT {_RECEIPT_COLUMNS} FROM receipts WHERE status = ? ORDER BY job_id LIMIT ?",
                (status, limit),
            )
            .fetchall()
        )
        return [_row_receipt(r) for r in rows]

    def receipts_in_batch(self, batch_id: int) -> list[StoredReceipt]:
        """The receipts a batch holds."""
        rows = (
            self._reader()
            .execute(
                f"SELECT {_RECEIPT_COLUMNS} FROM receipts WHERE batch_id = ? ORDER BY job_id", (batch_id,)
            )
            .fetchall()
        )
        return [_row_receipt(r) for r in rows]

    def counts(self) -> dict[str, int]:
        rows = self._reader().execute("SELECT status, COUNT(*) FROM receipts GROUP BY status").fetchall()
        out = {s: 0 for s in (RECEIVED, VERIFIED, REJECTED, POSTED, SETTLED)}
        out.update({str(s): int(n) for s, n in rows})
        return out

    def set_status(
        self, job_ids: Sequence[int], status: str, reason: str | None = None, *, only_from: str | None = None
    ) -> int:
        ids = list(job_ids)

        def op(conn: sqlite3.Connection) -> int:
            now = time.time()
            moved = 0
            for job_id in ids:
                if only_from is None:
                    cur = conn.execute(
                        "UPDATE receipts SET status = ?, reason = ?, updated_at = ? WHERE job_id = ?",
                        (status, reason, now, job_id),
                    )
                else:
                    cur = conn.execute(
                        "UPDATE receipts SET status = ?, reason = ?, updated_at = ? "
                        "WHERE job_id = ? AND status = ?",
                        (status, reason, now, job_id, only_from),
                    )
                moved += cur.rowcount
            return moved

        return self._write(op) if ids else 0

    def set_fraud(self, job_id: int, fraud: str) -> None:
        self._write(
            lambda conn: conn.execute(
                "UPDATE receipts SET fraud = ?, updated_at = ? WHERE job_id = ?", (fraud, time.time(), job_id)
            )
        )

    def fraud_pending(self) -> list[StoredReceipt]:
        """Rejected receipts whose fraud report has not been sent yet."""
        rows = (
            self._reader()
            .execute(f"SELECT {_RECEIPT_COLUMNS} FROM receipts WHERE fraud LIKE 'pending%' ORDER BY job_id")
            .fetchall()
        )
        return [_row_receipt(r) for r in rows]

    # -- batches and transactions ----------------------------------------------------------------------

    def create_batch(self, job_ids: Sequence[int], epoch: int, nonce: int, attempt: TxAttempt) -> Batch:
        ids = list(job_ids)

        def op(conn: sqlite3.Connection) -> Batch:
            now = time.time()
            cur = conn.execute(
                "INSERT INTO batches (created_at, epoch, job_ids, nonce, status) VALUES (?, ?, ?, ?, 'pending')",
                (now, epoch, json.dumps(ids), nonce),
            )
            batch_id = int(cur.lastrowid or 0)
            for job_id in ids:
                moved = conn.execute(
                    "UPDATE receipts SET status = ?, batch_id = ?, reason = NULL, updated_at = ? "
                    "WHERE job_id = ? AND status = ?",
                    (POSTED, batch_id, now, job_id, VERIFIED),
                ).rowcount
                if moved != 1:
                    raise RuntimeError(f"receipt for job {job_id} is no longer verified; batch not created")
            _insert_attempt(
                conn,
                TxAttempt(
                    attempt.tx_hash, batch_id, nonce, attempt.raw, attempt.max_fee, attempt.priority_fee, now
                ),
            )
            _raise_nonce(conn, nonce + 1)
            return Batch(
                batch_id,
                now,
                epoch,
                ids,
                nonce,
                "pending",
                attempts=[
                    TxAttempt(
                        attempt.tx_hash,
                        batch_id,
                        nonce,
                        attempt.raw,
                        attempt.max_fee,
                        attempt.priority_fee,
                        now,
                    )
                ],
            )

        return self._write(op)

    def add_attempt(self, attempt: TxAttempt) -> None:
        self._write(lambda conn: _insert_attempt(conn, attempt))

    def _load_batches(self, where: str, args: tuple[Any, ...]) -> list[Batch]:
        conn = self._reader()
        rows = conn.execute(
            "SELECT id, created_at, epoch, job_ids, nonce, status, mined_tx, mined_block, mined_hash, gas_used, "
            f"note FROM batches WHERE {where} ORDER BY id",
            args,
        ).fetchall()
        out = []
        for row in rows:
            batch = Batch(
                id=int(row[0]),
                created_at=float(row[1]),
                epoch=int(row[2]),
                job_ids=[int(j) for j in json.loads(row[3])],
                nonce=int(row[4]),
                status=str(row[5]),
                mined_tx=row[6],
                mined_block=row[7],
                mined_hash=row[8],
                gas_used=row[9],
                note=row[10],
            )
            batch.attempts = [
                TxAttempt(str(a[0]), int(a[1]), int(a[2]), bytes(a[3]), int(a[4]), int(a[5]), float(a[6]))
                for a in conn.execute(
                    "SELECT tx_hash, batch_id, nonce, raw, max_fee, priority_fee, created_at FROM txs "
                    "WHERE batch_id = ? ORDER BY rowid",
                    (batch.id,),
                ).fetchall()
            ]
            out.append(batch)
        return out

    def open_batches(self) -> list[Batch]:
        return self._load_batches("status = 'pending'", ())

    def batch(self, batch_id: int) -> Batch | None:
        found = self._load_batches("id = ?", (batch_id,))
        return found[0] if found else None

    def batches(self) -> list[Batch]:
        """Every batch, oldest first (for reports)."""
        return self._load_batches("1 = 1", ())

    def mark_mined(self, batch_id: int, tx_hash: str, block: int, block_hash: str, gas_used: int) -> None:
        self._write(
            lambda conn: conn.execute(
                "UPDATE batches SET mined_tx = ?, mined_block = ?, mined_hash = ?, gas_used = ? WHERE id = ?",
                (tx_hash, block, block_hash, gas_used, batch_id),
            )
        )

    def mark_unmined(self, batch_id: int) -> None:
        self._write(
            lambda conn: conn.execute(
                "UPDATE batches SET mined_tx = NULL, mined_block = NULL, mined_hash = NULL, gas_used = NULL "
                "WHERE id = ?",
                (batch_id,),
            )
        )

    def finish_batch(
        self,
        batch_id: int,
        settled: dict[int, tuple[str, int]],
        rejected: dict[int, str],
        requeue: Sequence[int],
        note: str | None = None,
        failed: bool = False,
    ) -> None:
        again = list(requeue)

        def op(conn: sqlite3.Connection) -> None:
            now = time.time()
            for job_id, (tx_hash, block) in settled.items():
                conn.execute(
                    "UPDATE receipts SET status = ?, tx_hash = ?, block_number = ?, reason = NULL, updated_at = ? "
                    "WHERE job_id = ?",
                    (SETTLED, tx_hash, block, now, job_id),
                )
            for job_id, reason in rejected.items():
                conn.execute(
                    "UPDATE receipts SET status = ?, reason = ?, updated_at = ? WHERE job_id = ?",
                    (REJECTED, reason, now, job_id),
                )
            for job_id in again:
                conn.execute(
                    "UPDATE receipts SET status = ?, batch_id = NULL, updated_at = ? WHERE job_id = ? AND status = ?",
                    (VERIFIED, now, job_id, POSTED),
                )
            conn.execute(
                "UPDATE batches SET status = ?, note = ? WHERE id = ?",
                ("failed" if failed else "confirmed", note, batch_id),
            )

        self._write(op)

    def next_nonce(self) -> int | None:
        row = self._reader().execute("SELECT value FROM meta WHERE key = 'next_nonce'").fetchone()
        return int(row[0]) if row else None

    def set_next_nonce(self, nonce: int) -> None:
        self._write(lambda conn: _raise_nonce(conn, nonce))

    # -- specs and health ------------------------------------------------------------------------------

    def put_spec(self, spec_hash: str, body: str) -> None:
        self._write(
            lambda conn: conn.execute(
                "INSERT OR IGNORE INTO specs (spec_hash, body) VALUES (?, ?)", (spec_hash, body)
            )
        )

    def spec(self, spec_hash: str) -> str | None:
        row = self._reader().execute("SELECT body FROM specs WHERE spec_hash = ?", (spec_hash,)).fetchone()
        return str(row[0]) if row else None

    def check_writable(self) -> str | None:
        try:
            self._write(
                lambda conn: conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('health_probe', ?)", (str(time.time()),)
                )
            )
        except StoreUnavailableError as exc:
            return exc.reason
        except sqlite3.Error as exc:
            return str(exc)
        return None

    @property
    def failure(self) -> StoreUnavailableError | None:
        """The last commit's failure, cleared by the next successful commit."""
        return self._failure

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._writer.join(timeout=10)
        self._checkpoint_stop.set()
        self._checkpointer.join(timeout=10)
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _insert_attempt(conn: sqlite3.Connection, attempt: TxAttempt) -> None:
    conn.execute(
        "INSERT OR IGNORE INTO txs (tx_hash, batch_id, nonce, raw, max_fee, priority_fee, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            attempt.tx_hash,
            attempt.batch_id,
            attempt.nonce,
            attempt.raw,
            attempt.max_fee,
            attempt.priority_fee,
            attempt.created_at,
        ),
    )


def _raise_nonce(conn: sqlite3.Connection, nonce: int) -> None:
    row = conn.execute("SELECT value FROM meta WHERE key = 'next_nonce'").fetchone()
    if row is None or int(row[0]) < nonce:
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('next_nonce', ?)", (str(nonce),))


def ids_of(receipts: Iterable[StoredReceipt]) -> list[int]:
    """Job ids of some receipts."""
    return [r.job_id for r in receipts]
