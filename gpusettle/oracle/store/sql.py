"""The `Store` operations written once in SQL both SQLite and PostgreSQL speak, and the group-commit
writer they share.

Every write goes through one writer thread per process that group-commits whatever is queued: under
load one commit (one fsync) covers hundreds of receipts, which is how intake stays durable *and* fast.
Each operation runs in a savepoint of the group's transaction, so one that fails is undone alone and
the others still commit. Futures resolve only after the commit.

The writer must outlive its callers: a caller that cancels its future before the writer takes it is
skipped (its write is not made behind its back), one cancelled later cannot be cancelled any more, and
any exception while running a group fails that group only. Every wait on the writer has a timeout.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import Future, InvalidStateError
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .protocol import (
    POSTED,
    RECEIVED,
    REJECTED,
    SETTLED,
    VERIFIED,
    Batch,
    InsertOutcome,
    NewReceipt,
    PruneResult,
    StoredReceipt,
    StoreUnavailableError,
    TxAttempt,
)

__all__ = [
    "CHECKPOINT_BATCHES",
    "DEFAULT_WRITE_TIMEOUT",
    "RECEIPT_BATCHES",
    "BatchTables",
    "GroupCommitStore",
]

log = logging.getLogger("gpusettle.oracle.store")

T = TypeVar("T")
C = TypeVar("C")
B = TypeVar("B")

DEFAULT_WRITE_TIMEOUT = 30.0
"""Seconds a synchronous write waits for its commit before the store is called unavailable."""

RECEIPT_COLUMNS = (
    "job_id, provider, signer, struct_hash, body, end_time, status, reason, fraud, batch_id, tx_hash, "
    "block_number, received_at, updated_at"
)


@dataclass(frozen=True)
class BatchTables:
    """The two tables of one kind of batch (receipt batches, checkpoint batches): one row per batch and one per
    signed transaction of it; the batches share everything else (nonces, mined marks, how they close)."""

    batches: str
    txs: str
    items: str
    """The batch table's column listing what the batch carries (JSON)."""


RECEIPT_BATCHES = BatchTables("batches", "txs", "job_ids")
CHECKPOINT_BATCHES = BatchTables("checkpoint_batches", "checkpoint_txs", "items")


@dataclass
class _Op(Generic[C]):
    fn: Callable[[C], Any]
    future: Future[Any]
    atomic: bool
    """The operation changes the database in at most one statement, so a failure needs no savepoint to
    be undone (where the database undoes a failed statement alone)."""


_STOP = object()


def _receipt_batch(row: Sequence[Any], attempts: list[TxAttempt]) -> Batch:
    return Batch(
        int(row[0]), float(row[1]), int(row[2]), [int(j) for j in json.loads(row[3])], int(row[4]), str(row[5]),
        row[6], row[7], row[8], row[9], row[10], attempts,
    )  # fmt: skip


def row_receipt(row: Sequence[Any]) -> StoredReceipt:
    """A receipts row (RECEIPT_COLUMNS, in order) as a StoredReceipt."""
    return StoredReceipt(
        int(row[0]),
        str(row[1]),
        str(row[2]),
        bytes(row[3]),
        str(row[4]),
        int(row[5]),
        str(row[6]),
        row[7],
        row[8],
        row[9],
        row[10],
        row[11],
        float(row[12]),
        float(row[13]),
    )


def _resolve(future: Future[Any], value: Any = None, error: BaseException | None = None) -> None:
    """Hand a result to a caller; a caller that is gone (its future already done) is no concern."""
    if future.done():
        return
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)
    except InvalidStateError:
        pass


class GroupCommitStore(ABC, Generic[C]):
    """`Store` on a SQL database, all writes group-committed by one writer thread.

    Subclasses say how to connect, how statements are written (`?` placeholders are rewritten to the
    driver's), and which errors mean the database cannot be written."""

    placeholder = "?"
    tx_order = "rowid"
    """How the transactions of one batch are kept in insertion order."""
    failed_statement_aborts_transaction = False
    """True where a failed statement aborts the whole transaction (PostgreSQL): a group whose unguarded
    operation fails is then run again with a savepoint around every operation."""

    def __init__(self, *, max_group: int = 1024, write_timeout: float = DEFAULT_WRITE_TIMEOUT) -> None:
        self.max_group = max_group
        self.write_timeout = write_timeout
        self._queue: queue.SimpleQueue[_Op[C] | object] = queue.SimpleQueue()
        self._failure: StoreUnavailableError | None = None
        self._closed = False
        self._sql_cache: dict[str, str] = {}
        self.commits = 0
        """Commits made by the writer (each is one fsync); receipts / commits is the group size."""
        self.last_commit_at = 0.0
        self._writer = threading.Thread(target=self._write_loop, name="oracle-store-writer", daemon=True)

    def _start_writer(self) -> None:
        self._writer.start()

    # -- what a database supplies ----------------------------------------------------------------------

    @abstractmethod
    def _open_writer(self) -> C:
        """A connection for the writer thread."""

    @abstractmethod
    def _close_connection(self, conn: C) -> None:
        """Close a connection, ignoring errors."""

    @abstractmethod
    def _in_transaction(self, conn: C) -> bool:
        """Whether `conn` has a transaction open (after an error: whether it is still there to undo)."""

    @abstractmethod
    def _usable(self, conn: C) -> bool:
        """Whether `conn` can be used again after an error."""

    @abstractmethod
    def _begin_sql(self) -> str:
        """The statement that opens a write transaction."""

    @abstractmethod
    def _unavailable(self, exc: BaseException) -> StoreUnavailableError | None:
        """The store-unavailable error `exc` stands for, or None when it is the operation's own fault."""

    @abstractmethod
    def _reading(self) -> AbstractContextManager[C]:
        """A connection for reads on the calling thread."""

    # -- SQL -------------------------------------------------------------------------------------------

    def _sql(self, text: str) -> str:
        if self.placeholder == "?":
            return text
        out = self._sql_cache.get(text)
        if out is None:
            out = text.replace("?", self.placeholder)
            self._sql_cache[text] = out
        return out

    def _exec(self, conn: C, text: str, args: Sequence[Any] = ()) -> Any:
        return conn.execute(self._sql(text), tuple(args))  # type: ignore[attr-defined]

    def _rows(self, text: str, args: Sequence[Any] = ()) -> list[Any]:
        for attempt in (1, 2):
            try:
                with self._reading() as conn:
                    return list(self._exec(conn, text, args).fetchall())
            except StoreUnavailableError:
                raise
            except Exception as exc:
                failure = self._unavailable(exc)
                if failure is None:
                    raise
                if attempt == 2:
                    raise failure from None
                # Once more on a fresh connection: a read is safe to repeat, and a pooled connection
                # may have been closed by the server since its last use.
        raise AssertionError("unreachable")

    def _row(self, text: str, args: Sequence[Any] = ()) -> Any:
        rows = self._rows(text, args)
        return rows[0] if rows else None

    # -- the writer ------------------------------------------------------------------------------------

    def _write_loop(self) -> None:
        conn: C | None = None
        stop = False
        while not stop:
            first = self._queue.get()
            if first is _STOP:
                break
            group: list[_Op[C]] = [first]  # type: ignore[list-item]
            while len(group) < self.max_group:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                group.append(item)  # type: ignore[arg-type]
            # From here on a caller can no longer cancel; one that already did is skipped.
            live = [op for op in group if op.future.set_running_or_notify_cancel()]
            if not live:
                continue
            try:
                if conn is None:
                    conn = self._open_writer()
                self._commit_group(conn, live)
            except BaseException as exc:  # noqa: BLE001 - the writer must outlive any group
                log.error("store writer: a group of %d operations failed: %s", len(live), exc)
                self._fail_all(live, exc)
                if conn is not None:
                    conn = self._after_failure(conn)
        if conn is not None:
            self._close_connection(conn)

    def _after_failure(self, conn: C) -> C | None:
        """Undo what a failed group left open; None when the connection must be replaced."""
        try:
            if self._usable(conn):
                if self._in_transaction(conn):
                    self._exec(conn, "ROLLBACK")
                return conn
        except Exception as exc:  # noqa: BLE001 - the connection is replaced below
            log.warning("store writer: reconnecting after a failed rollback: %s", exc)
        self._close_connection(conn)
        return None

    def _commit_group(self, conn: C, group: list[_Op[C]]) -> None:
        results = self._run_ops(conn, group, every_op_savepoint=False)
        if results is None:
            # A statement aborted the whole transaction: run the group again, each in a savepoint.
            self._exec(conn, "ROLLBACK")
            results = self._run_ops(conn, group, every_op_savepoint=True)
            if results is None:
                raise StoreUnavailableError("the oracle's store aborted a transaction it could not undo")
        self._exec(conn, "COMMIT")
        self.commits += 1
        self.last_commit_at = time.time()
        self._failure = None
        for op, (value, error) in zip(group, results, strict=True):
            if error is not None:
                _resolve(op.future, error=self._unavailable(error) or error)
            else:
                _resolve(op.future, value)

    def _run_ops(
        self, conn: C, group: list[_Op[C]], *, every_op_savepoint: bool
    ) -> list[tuple[Any, BaseException | None]] | None:
        """Run each operation; None when a failure took the whole transaction with it."""
        self._exec(conn, self._begin_sql())
        results: list[tuple[Any, BaseException | None]] = []
        for index, op in enumerate(group):
            guarded = every_op_savepoint or not op.atomic
            outcome = self._run_op(conn, op, f"op{index}", guarded)
            if outcome is None:
                return None
            results.append(outcome)
        return results

    def _run_op(
        self, conn: C, op: _Op[C], savepoint: str, guarded: bool
    ) -> tuple[Any, BaseException | None] | None:
        """One operation inside the group's transaction: (value, None), (None, its error), or None when
        its failure took the whole transaction with it."""
        for attempt in range(3):
            try:
                if guarded:
                    self._exec(conn, f"SAVEPOINT {savepoint}")
                value = op.fn(conn)
                if guarded:
                    self._exec(conn, f"RELEASE SAVEPOINT {savepoint}")
                return value, None
            except Exception as exc:  # noqa: BLE001 - handed to the caller's future
                failure = self._unavailable(exc)
                if failure is not None or not self._in_transaction(conn):
                    # The database rolled the whole transaction back (disk full, I/O error, connection
                    # lost): nothing of this group is stored, so every operation in it fails.
                    raise (failure or exc) from None
                if not guarded:
                    return None if self.failed_statement_aborts_transaction else (None, exc)
                self._exec(conn, f"ROLLBACK TO SAVEPOINT {savepoint}")
                self._exec(conn, f"RELEASE SAVEPOINT {savepoint}")
                if attempt == 2 or not self._retryable(exc):
                    return None, exc
        raise AssertionError("unreachable")

    def _retryable(self, exc: BaseException) -> bool:
        """Whether an operation that failed this way may succeed if run again (a deadlock victim)."""
        return False

    def _fail_all(self, group: list[_Op[C]], exc: BaseException) -> None:
        failure = (
            exc
            if isinstance(exc, StoreUnavailableError)
            else self._unavailable(exc) or StoreUnavailableError(f"the oracle's store cannot commit: {exc}")
        )
        self._failure = failure
        for op in group:
            _resolve(op.future, error=failure)

    def _writer_problem(self) -> str | None:
        if self._closed:
            return "the oracle's store is closed"
        if not self._writer.is_alive():
            return "the store's writer thread has stopped; restart the oracle"
        return None

    def _submit(self, fn: Callable[[C], T], *, atomic: bool = False) -> Future[T]:
        """Queue `fn` for the writer."""
        future: Future[T] = Future()
        problem = self._writer_problem()
        if problem is not None:
            future.set_exception(StoreUnavailableError(problem))
            return future
        self._queue.put(_Op(fn, future, atomic))
        return future

    def _write(self, fn: Callable[[C], T], timeout: float | None = None) -> T:
        limit = self.write_timeout if timeout is None else timeout
        future = self._submit(fn)
        try:
            return future.result(timeout=limit)
        except FutureTimeout:
            # Cancelled if the writer has not taken it yet, so it cannot commit after this error.
            future.cancel()
            raise StoreUnavailableError(
                self._writer_problem()
                or f"the store's writer is stuck: nothing committed within {limit:g} s "
                f"(last commit {self._since_last_commit()})"
            ) from None

    def _since_last_commit(self) -> str:
        if not self.last_commit_at:
            return "never"
        return f"{time.time() - self.last_commit_at:.1f} s ago"

    # -- receipts --------------------------------------------------------------------------------------

    def add_receipt(self, receipt: NewReceipt) -> Future[InsertOutcome]:
        def op(conn: C) -> InsertOutcome:
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
            inserted = self._exec(
                conn,
                "INSERT INTO receipts (job_id, provider, signer, struct_hash, body, end_time, status, "
                "received_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id) DO NOTHING",
                values,
            ).rowcount
            if inserted == 1:
                return InsertOutcome("stored")
            row = self._exec(
                conn, f"SELECT {RECEIPT_COLUMNS} FROM receipts WHERE job_id = ?", (receipt.job_id,)
            ).fetchone()
            existing = row_receipt(row)
            if existing.struct_hash == receipt.struct_hash and existing.status != REJECTED:
                return InsertOutcome("duplicate", existing)
            if existing.status != REJECTED or existing.fraud:
                return InsertOutcome("conflict", existing)
            # A rejected receipt (not a fraud) may be replaced by a corrected one, or checked again.
            self._exec(
                conn,
                "UPDATE receipts SET provider = ?, signer = ?, struct_hash = ?, body = ?, end_time = ?, "
                "status = ?, reason = NULL, fraud = NULL, batch_id = NULL, tx_hash = NULL, block_number = NULL, "
                "received_at = ?, updated_at = ? WHERE job_id = ? AND status = ?",
                (*values[1:], receipt.job_id, REJECTED),
            )
            return InsertOutcome("stored")

        return self._submit(op, atomic=True)

    def receipt(self, job_id: int) -> StoredReceipt | None:
        row = self._row(f"SELECT {RECEIPT_COLUMNS} FROM receipts WHERE job_id = ?", (job_id,))
        return row_receipt(row) if row else None

    def receipts(self, status: str, limit: int = 1000) -> list[StoredReceipt]:
        rows = self._rows(
            f"SELECT {RECEIPT_COLUMNS} FROM receipts WHERE status = ? ORDER BY job_id LIMIT ?",
            (status, limit),
        )
        return [row_receipt(r) for r in rows]

    def receipts_in_batch(self, batch_id: int) -> list[StoredReceipt]:
        """The receipts a batch holds."""
        rows = self._rows(
            f"SELECT {RECEIPT_COLUMNS} FROM receipts WHERE batch_id = ? ORDER BY job_id", (batch_id,)
        )
        return [row_receipt(r) for r in rows]

    def counts(self) -> dict[str, int]:
        rows = self._rows("SELECT status, COUNT(*) FROM receipts GROUP BY status")
        out = {s: 0 for s in (RECEIVED, VERIFIED, REJECTED, POSTED, SETTLED)}
        out.update({str(s): int(n) for s, n in rows})
        return out

    def set_status(
        self, job_ids: Sequence[int], status: str, reason: str | None = None, *, only_from: str | None = None
    ) -> int:
        ids = list(job_ids)

        def op(conn: C) -> int:
            now = time.time()
            moved = 0
            for job_id in ids:
                if only_from is None:
                    cur = self._exec(
                        conn,
                        "UPDATE receipts SET status = ?, reason = ?, updated_at = ? WHERE job_id = ?",
                        (status, reason, now, job_id),
                    )
                else:
                    cur = self._exec(
                        conn,
                        "UPDATE receipts SET status = ?, reason = ?, updated_at = ? WHERE job_id = ? AND status = ?",
                        (status, reason, now, job_id, only_from),
                    )
                moved += int(cur.rowcount)
            return moved

        return self._write(op) if ids else 0

    def reject(
        self, job_id: int, reason: str, *, fraud: str | None = None, only_from: str | None = None
    ) -> bool:
        def op(conn: C) -> bool:
            text = "UPDATE receipts SET status = ?, reason = ?, fraud = COALESCE(?, fraud), updated_at = ? WHERE job_id = ?"
            args: list[Any] = [REJECTED, reason, fraud, time.time(), job_id]
            if only_from is not None:
                text += " AND status = ?"
                args.append(only_from)
            return int(self._exec(conn, text, args).rowcount) == 1

        return self._write(op)

    def set_fraud(self, job_id: int, fraud: str) -> None:
        self._write(
            lambda conn: self._exec(
                conn,
                "UPDATE receipts SET fraud = ?, updated_at = ? WHERE job_id = ?",
                (fraud, time.time(), job_id),
            )
        )

    def fraud_pending(self) -> list[StoredReceipt]:
        rows = self._rows(
            f"SELECT {RECEIPT_COLUMNS} FROM receipts WHERE fraud LIKE ? ORDER BY job_id", ("pending%",)
        )
        return [row_receipt(r) for r in rows]

    # -- batches and transactions ----------------------------------------------------------------------

    def create_batch(self, job_ids: Sequence[int], epoch: int, nonce: int, attempt: TxAttempt) -> Batch:
        ids = list(job_ids)

        def op(conn: C) -> Batch:
            batch_id, now = self._insert_batch(conn, RECEIPT_BATCHES, epoch, ids, nonce)
            for job_id in ids:
                moved = self._exec(
                    conn,
                    "UPDATE receipts SET status = ?, batch_id = ?, reason = NULL, updated_at = ? "
                    "WHERE job_id = ? AND status = ?",
                    (POSTED, batch_id, now, job_id, VERIFIED),
                ).rowcount
                if moved != 1:
                    raise RuntimeError(f"receipt for job {job_id} is no longer verified; batch not created")
            first = self._first_attempt(conn, RECEIPT_BATCHES, batch_id, nonce, attempt, now)
            return Batch(batch_id, now, epoch, ids, nonce, "pending", attempts=[first])

        return self._write(op)

    def add_attempt(self, attempt: TxAttempt) -> None:
        self._write(lambda conn: self._insert_tx(conn, RECEIPT_BATCHES, attempt))

    def _load_batches(self, where: str, args: tuple[Any, ...]) -> list[Batch]:
        return self._load_batch_rows(RECEIPT_BATCHES, _receipt_batch, where, args)

    def open_batches(self) -> list[Batch]:
        return self._load_batches("status = 'pending'", ())

    def batch(self, batch_id: int) -> Batch | None:
        found = self._load_batches("id = ?", (batch_id,))
        return found[0] if found else None

    def batches(self) -> list[Batch]:
        """Every batch, oldest first (for reports)."""
        return self._load_batches("1 = 1", ())

    def mark_mined(self, batch_id: int, tx_hash: str, block: int, block_hash: str, gas_used: int) -> None:
        self._set_mined(RECEIPT_BATCHES, batch_id, (tx_hash, block, block_hash, gas_used))

    def mark_unmined(self, batch_id: int) -> None:
        self._set_mined(RECEIPT_BATCHES, batch_id, (None, None, None, None))

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

        def op(conn: C) -> None:
            now = time.time()
            for job_id, (tx_hash, block) in settled.items():
                self._exec(
                    conn,
                    "UPDATE receipts SET status = ?, tx_hash = ?, block_number = ?, reason = NULL, updated_at = ? "
                    "WHERE job_id = ?",
                    (SETTLED, tx_hash, block, now, job_id),
                )
            for job_id, reason in rejected.items():
                self._exec(
                    conn,
                    "UPDATE receipts SET status = ?, reason = ?, updated_at = ? WHERE job_id = ?",
                    (REJECTED, reason, now, job_id),
                )
            for job_id in again:
                self._exec(
                    conn,
                    "UPDATE receipts SET status = ?, batch_id = NULL, updated_at = ? WHERE job_id = ? AND status = ?",
                    (VERIFIED, now, job_id, POSTED),
                )
            self._close_batch(conn, RECEIPT_BATCHES, batch_id, note, failed)

        self._write(op)

    # -- what receipt and checkpoint batches share ------------------------------------------------------

    def _insert_batch(
        self, conn: C, t: BatchTables, epoch: int, items: list[Any], nonce: int
    ) -> tuple[int, float]:
        """A new pending batch row: (its id, its creation time)."""
        now = time.time()
        row = self._exec(
            conn,
            f"INSERT INTO {t.batches} (created_at, epoch, {t.items}, nonce, status) "
            "VALUES (?, ?, ?, ?, 'pending') RETURNING id",
            (now, epoch, json.dumps(items), nonce),
        ).fetchone()
        return int(row[0]), now

    def _first_attempt(
        self, conn: C, t: BatchTables, batch_id: int, nonce: int, attempt: TxAttempt, now: float
    ) -> TxAttempt:
        """Store a new batch's first transaction and move the next nonce past it."""
        first = TxAttempt(
            attempt.tx_hash, batch_id, nonce, attempt.raw, attempt.max_fee, attempt.priority_fee, now
        )
        self._insert_tx(conn, t, first)
        self._raise_nonce(conn, nonce + 1)
        return first

    def _insert_tx(self, conn: C, t: BatchTables, attempt: TxAttempt) -> None:
        self._exec(
            conn,
            f"INSERT INTO {t.txs} (tx_hash, batch_id, nonce, raw, max_fee, priority_fee, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tx_hash) DO NOTHING",
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

    def _raise_nonce(self, conn: C, nonce: int) -> None:
        # One statement, so two oracles sharing a database can never lower it between a read and a write.
        self._exec(
            conn,
            "INSERT INTO meta (key, value) VALUES ('next_nonce', ?) ON CONFLICT (key) DO UPDATE "
            "SET value = excluded.value WHERE CAST(meta.value AS BIGINT) < CAST(excluded.value AS BIGINT)",
            (str(nonce),),
        )

    def _load_batch_rows(
        self,
        t: BatchTables,
        make: Callable[[Sequence[Any], list[TxAttempt]], B],
        where: str,
        args: tuple[Any, ...],
    ) -> list[B]:
        """The batches matching `where`, oldest first, each with its transactions in the order they were made."""
        rows = self._rows(
            f"SELECT id, created_at, epoch, {t.items}, nonce, status, mined_tx, mined_block, mined_hash, gas_used, "
            f"note FROM {t.batches} WHERE {where} ORDER BY id",
            args,
        )
        return [
            make(
                row,
                [
                    TxAttempt(str(a[0]), int(a[1]), int(a[2]), bytes(a[3]), int(a[4]), int(a[5]), float(a[6]))
                    for a in self._rows(
                        "SELECT tx_hash, batch_id, nonce, raw, max_fee, priority_fee, created_at FROM "
                        f"{t.txs} WHERE batch_id = ? ORDER BY {self.tx_order}",
                        (int(row[0]),),
                    )
                ],
            )
            for row in rows
        ]

    def _set_mined(
        self, t: BatchTables, batch_id: int, mined: tuple[str | None, int | None, str | None, int | None]
    ) -> None:
        """Record (tx hash, block, block hash, gas used) of the block holding the batch; NULLs: none does."""
        self._write(
            lambda conn: self._exec(
                conn,
                f"UPDATE {t.batches} SET mined_tx = ?, mined_block = ?, mined_hash = ?, gas_used = ? WHERE id = ?",
                (*mined, batch_id),
            )
        )

    def _close_batch(self, conn: C, t: BatchTables, batch_id: int, note: str | None, failed: bool) -> None:
        self._exec(
            conn,
            f"UPDATE {t.batches} SET status = ?, note = ? WHERE id = ?",
            ("failed" if failed else "confirmed", note, batch_id),
        )

    def next_nonce(self) -> int | None:
        row = self._row("SELECT value FROM meta WHERE key = 'next_nonce'")
        return int(row[0]) if row else None

    def set_next_nonce(self, nonce: int) -> None:
        self._write(lambda conn: self._raise_nonce(conn, nonce))

    # -- specs, retention and health -------------------------------------------------------------------

    def put_spec(self, spec_hash: str, body: str) -> None:
        self._write(
            lambda conn: self._exec(
                conn,
                "INSERT INTO specs (spec_hash, body) VALUES (?, ?) ON CONFLICT (spec_hash) DO NOTHING",
                (spec_hash, body),
            )
        )

    def spec(self, spec_hash: str) -> str | None:
        row = self._row("SELECT body FROM specs WHERE spec_hash = ?", (spec_hash,))
        return str(row[0]) if row else None

    def prune(self, older_than: float) -> PruneResult:
        def op(conn: C) -> PruneResult:
            receipts = self._exec(
                conn,
                "DELETE FROM receipts WHERE status IN (?, ?) AND updated_at < ? "
                "AND (fraud IS NULL OR fraud NOT LIKE ?)",
                (SETTLED, REJECTED, older_than, "pending%"),
            ).rowcount
            closed = (
                "SELECT id FROM batches WHERE status <> 'pending' AND created_at < ? AND NOT EXISTS "
                "(SELECT 1 FROM receipts WHERE receipts.batch_id = batches.id AND receipts.status IN (?, ?, ?))"
            )
            args = (older_than, RECEIVED, VERIFIED, POSTED)
            txs = self._exec(conn, f"DELETE FROM txs WHERE batch_id IN ({closed})", args).rowcount
            batches = self._exec(conn, f"DELETE FROM batches WHERE id IN ({closed})", args).rowcount
            heartbeats, checkpoints = self._prune_leases(conn, older_than)
            return PruneResult(int(receipts), int(batches), int(txs), heartbeats, checkpoints)

        return self._write(op)

    def _prune_leases(self, conn: C, older_than: float) -> tuple[int, int]:
        """The lease half of `prune` (lease_sql.py); nothing on a store without lease tables."""
        return 0, 0

    def check_writable(self, timeout: float = 1.0) -> str | None:
        problem = self._writer_problem()
        if problem is not None:
            return problem
        try:
            self._write(
                lambda conn: self._exec(
                    conn,
                    "INSERT INTO meta (key, value) VALUES ('health_probe', ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(time.time()),),
                ),
                timeout=timeout,
            )
        except StoreUnavailableError as exc:
            return exc.reason
        except Exception as exc:  # noqa: BLE001 - reported by /health, not raised
            return str(exc)
        return None

    @property
    def failure(self) -> StoreUnavailableError | None:
        """The last commit's failure, cleared by the next successful commit."""
        return self._failure

    def _stop_writer(self) -> None:
        if self._writer.is_alive():
            self._queue.put(_STOP)
            self._writer.join(timeout=10)
