"""`Store` on PostgreSQL (psycopg 3), for an operator whose oracle has outgrown one machine.

The same SQL and the same group-commit writer as SQLite (sql.py): a receipt is acknowledged only
after the COMMIT that holds it returned (synchronous_commit stays on, so it is on the server's disk),
and every multi-row change is one transaction. Several oracle processes may share one database:

- all of them take intake and serve status (each has its own writer and a small pool of readers);
- one at a time holds the *posting lease*, a session-level advisory lock on a connection of its own,
  and only that one verifies, posts and reports fraud. When its process dies (even by kill -9) the
  server ends its session and frees the lock; another process takes it on its next try (every
  fraction of a second) and carries on from the shared store: the open batches with their stored,
  signed transactions and nonces, so nothing is posted twice. TCP keepalives on the lease session make
  the server notice a vanished host within about ten seconds too.

Even two processes that both believed they held the lease could not post a receipt twice: a batch
moves its receipts verified -> posted in the transaction that creates it, and a receipt another batch
already took makes that transaction fail.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.pq import TransactionStatus

from ...schema import SchemaError
from .lease_sql import LeaseSQLStore
from .migrations import POSTGRES
from .protocol import StoreUnavailableError
from .sql import DEFAULT_WRITE_TIMEOUT

__all__ = ["DEFAULT_LEASE_NAME", "LEASE_APPLICATION", "PostgresStore", "lease_holder_pid", "redact_dsn"]

log = logging.getLogger("gpusettle.oracle.store")

DEFAULT_LEASE_NAME = "gpusettle-oracle-poster"
LEASE_APPLICATION = "gpusettle-oracle-lease"
"""application_name of the session holding (or trying for) the lease, followed by `-<pid>`."""
_MIGRATION_LOCK = "gpusettle-oracle-migrations"
_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 2}


def _lock_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for `name`."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def redact_dsn(dsn: str) -> str:
    """The DSN without its password, for messages and logs."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<unparsable DSN>"
    if "password" in info:
        info["password"] = "***"
    return psycopg.conninfo.make_conninfo("", **info)


def unavailable(exc: BaseException) -> StoreUnavailableError | None:
    """The store-unavailable error a PostgreSQL failure stands for, if it is one."""
    if isinstance(exc, pg_errors.DeadlockDetected | pg_errors.SerializationFailure):
        return None  # retried by the writer, then the operation's own failure
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError | pg_errors.ReadOnlySqlTransaction):
        return StoreUnavailableError(f"the oracle's PostgreSQL store cannot write: {exc}".strip())
    return None


class _Pool:
    """A few reader connections shared by the threads of one process (PostgreSQL counts connections)."""

    def __init__(self, connect: Any, size: int, timeout: float) -> None:
        self._connect = connect
        self._idle: queue.LifoQueue[psycopg.Connection[Any]] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)
        self._timeout = timeout
        self._all: list[psycopg.Connection[Any]] = []
        self._lock = threading.Lock()

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        if not self._slots.acquire(timeout=self._timeout):
            raise StoreUnavailableError(f"no free database connection within {self._timeout:g} s")
        conn: psycopg.Connection[Any] | None = None
        try:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                conn = self._connect()
                with self._lock:
                    self._all.append(conn)
            yield conn
        finally:
            if conn is not None:
                if conn.closed or conn.broken:
                    with self._lock:
                        if conn in self._all:
                            self._all.remove(conn)
                    conn.close()
                else:
                    self._idle.put(conn)
            self._slots.release()

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()


class PostgresStore(LeaseSQLStore["psycopg.Connection[Any]"]):
    """`Store` on a PostgreSQL database that several oracle processes may share."""

    placeholder = "%s"
    tx_order = "seq"
    failed_statement_aborts_transaction = True

    def __init__(
        self,
        dsn: str,
        *,
        max_group: int = 1024,
        write_timeout: float = DEFAULT_WRITE_TIMEOUT,
        pool_size: int = 8,
        connect_timeout: int = 5,
        lease_name: str = DEFAULT_LEASE_NAME,
    ) -> None:
        super().__init__(max_group=max_group, write_timeout=write_timeout)
        self.dsn = dsn
        self.where = redact_dsn(dsn)
        self.connect_timeout = connect_timeout
        self.lease_key = _lock_key(lease_name)
        self._pool = _Pool(self._connect, pool_size, timeout=write_timeout)
        self._lease_conn: psycopg.Connection[Any] | None = None
        self._holding = False
        self._lease_lock = threading.Lock()
        try:
            with self._connect() as conn:
                self._migrate(conn)
        except psycopg.Error as exc:
            raise StoreUnavailableError(
                f"cannot open the oracle's PostgreSQL store at {self.where}: {str(exc).strip()}"
            ) from None
        self._start_writer()

    # -- connections -----------------------------------------------------------------------------------

    def _connect(self, **extra: Any) -> psycopg.Connection[Any]:
        options: dict[str, Any] = {"application_name": "gpusettle-oracle", **extra}
        return psycopg.connect(self.dsn, autocommit=True, connect_timeout=self.connect_timeout, **options)

    def _migrate(self, conn: psycopg.Connection[Any]) -> None:
        """Bring the schema up to date, one process at a time (several oracles may start together)."""
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(_MIGRATION_LOCK),))
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
            current = int(row[0]) if row and row[0] is not None else 0
            latest = len(POSTGRES)
            if current > latest:
                raise SchemaError(
                    f"the oracle store at {self.where} has schema version {current}, newer than this "
                    f"gpusettle knows (up to {latest})",
                    "upgrade gpusettle on every oracle that shares this database",
                )
            for version in range(current + 1, latest + 1):
                for statement in POSTGRES[version - 1]:
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (version,))

    def schema_version(self) -> int:
        """The schema version of the database."""
        row = self._row("SELECT max(version) FROM schema_version")
        return int(row[0])

    def _reading(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        return self._pool.connection()

    def _open_writer(self) -> psycopg.Connection[Any]:
        return self._connect()

    def _close_connection(self, conn: psycopg.Connection[Any]) -> None:
        try:
            conn.close()
        except psycopg.Error:
            pass

    def _in_transaction(self, conn: psycopg.Connection[Any]) -> bool:
        return conn.info.transaction_status in (TransactionStatus.INTRANS, TransactionStatus.INERROR)

    def _usable(self, conn: psycopg.Connection[Any]) -> bool:
        return not (conn.closed or conn.broken)

    def _begin_sql(self) -> str:
        return "BEGIN"

    def _unavailable(self, exc: BaseException) -> StoreUnavailableError | None:
        return unavailable(exc)

    def _retryable(self, exc: BaseException) -> bool:
        return isinstance(exc, pg_errors.DeadlockDetected | pg_errors.SerializationFailure)

    # -- the posting lease -----------------------------------------------------------------------------

    def hold_posting_lease(self) -> bool:
        with self._lease_lock:
            if self._closed:
                return False
            try:
                conn = self._lease_conn
                if conn is None or conn.closed or conn.broken:
                    self._holding = False
                    # Named after this process, so an operator (or a test) can see who holds it.
                    conn = self._connect(application_name=f"{LEASE_APPLICATION}-{os.getpid()}", **_KEEPALIVES)
                    # The server too probes the session, so a vanished host frees the lease in ~10 s.
                    conn.execute("SET tcp_keepalives_idle = 5")
                    conn.execute("SET tcp_keepalives_interval = 2")
                    conn.execute("SET tcp_keepalives_count = 2")
                    self._lease_conn = conn
                if self._holding:
                    conn.execute("SELECT 1")  # the session, and with it the lock, is still there
                    return True
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self.lease_key,)).fetchone()
                self._holding = bool(row and row[0])
                if self._holding:
                    log.info("this oracle now holds the posting lease on %s", self.where)
                return self._holding
            except psycopg.Error as exc:
                if self._holding:
                    log.error("lost the posting lease on %s: %s", self.where, str(exc).strip())
                self._holding = False
                if self._lease_conn is not None:
                    self._close_connection(self._lease_conn)
                    self._lease_conn = None
                return False

    def release_posting_lease(self) -> None:
        """Give the lease up (closing its session), so another oracle can take it at once."""
        with self._lease_lock:
            if self._lease_conn is not None:
                if self._holding:
                    try:
                        # At once: the server frees a closed session's locks only when its backend exits.
                        self._lease_conn.execute("SELECT pg_advisory_unlock(%s)", (self.lease_key,))
                    except psycopg.Error as exc:
                        log.warning("could not release the posting lease cleanly: %s", str(exc).strip())
                self._close_connection(self._lease_conn)
                self._lease_conn = None
            self._holding = False

    def close(self) -> None:
        if self._closed:
            return
        self._stop_writer()
        self._closed = True
        self.release_posting_lease()
        self._pool.close()


def lease_holder_pid(dsn: str) -> int | None:
    """The process id of the oracle holding the posting lease on the database at `dsn`, if one holds it
    (from the server's view of its sessions: only a lease session ever holds a session advisory lock)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database() "
            "AND a.application_name LIKE %s",
            (LEASE_APPLICATION + "-%",),
        ).fetchone()
    return int(str(row[0]).rsplit("-", 1)[1]) if row else None
