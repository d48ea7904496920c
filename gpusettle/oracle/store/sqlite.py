"""`Store` on one SQLite file in WAL mode with `synchronous=FULL`, so a commit has reached the disk
before a receipt is acknowledged. Reads use a connection per thread (WAL readers never block the
writer); a checkpointer thread copies the WAL back so the writer's commits never pay for it. One
process per file: several oracles sharing a database need PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from ...schema import migrate_sqlite
from .lease_sql import LeaseSQLStore
from .migrations import SQLITE
from .protocol import StoreUnavailableError
from .sql import DEFAULT_WRITE_TIMEOUT

__all__ = ["SQLiteStore"]

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


def unavailable(exc: BaseException) -> StoreUnavailableError | None:
    """The store-unavailable error a SQLite failure stands for, if it is one."""
    text = str(exc).lower()
    if isinstance(exc, sqlite3.OperationalError | OSError) and any(m in text for m in _UNAVAILABLE_MARKERS):
        return StoreUnavailableError(f"the oracle's store cannot write: {exc}")
    return None


class SQLiteStore(LeaseSQLStore[sqlite3.Connection]):
    """`Store` on one SQLite file in WAL mode, all writes group-committed by one writer thread."""

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "FULL",
        max_group: int = 1024,
        write_timeout: float = DEFAULT_WRITE_TIMEOUT,
    ) -> None:
        super().__init__(max_group=max_group, write_timeout=write_timeout)
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.synchronous = synchronous
        self._local = threading.local()
        conn = None
        try:
            conn = self._connect()
            conn.execute("PRAGMA journal_mode=WAL")
            migrate_sqlite(conn, SQLITE, f"the oracle store {self.path}")
        except sqlite3.Error as exc:
            failure = unavailable(exc)
            if failure is not None:
                raise failure from None
            raise
        finally:
            if conn is not None:
                conn.close()
        self._start_writer()
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

    @contextmanager
    def _reading_conn(self) -> Iterator[sqlite3.Connection]:
        yield self._reader()

    def _reading(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._reading_conn()

    def _open_writer(self) -> sqlite3.Connection:
        conn = self._connect()
        conn.execute("PRAGMA wal_autocheckpoint=0")
        return conn

    def _close_connection(self, conn: sqlite3.Connection) -> None:
        try:
            conn.close()
        except sqlite3.Error:
            pass

    def _in_transaction(self, conn: sqlite3.Connection) -> bool:
        return conn.in_transaction

    def _usable(self, conn: sqlite3.Connection) -> bool:
        return True

    def _begin_sql(self) -> str:
        return "BEGIN IMMEDIATE"

    def _unavailable(self, exc: BaseException) -> StoreUnavailableError | None:
        return unavailable(exc)

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

    # -- one process ------------------------------------------------------------------------------------

    def hold_posting_lease(self) -> bool:
        return not self._closed

    def close(self) -> None:
        if self._closed:
            return
        self._stop_writer()
        self._closed = True
        self._checkpoint_stop.set()
        self._checkpointer.join(timeout=10)
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
