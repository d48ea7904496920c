"""A thin database layer: the same SQL on SQLite (the default) and PostgreSQL.

SQL is written with `?` placeholders and portable types (BIGINT, TEXT, DOUBLE PRECISION, INTEGER as a
boolean); this layer swaps in `%s` for psycopg. Amounts can exceed 64 bits, so they are stored as decimal
TEXT, with a DOUBLE PRECISION copy where a column is sorted or summed.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ["Database", "is_postgres_url"]


def is_postgres_url(target: str) -> bool:
    """True for postgres:// or postgresql:// connection strings."""
    return target.startswith(("postgres://", "postgresql://"))


class Database:
    """One connection, used by one thread at a time (a lock guards it)."""

    def __init__(self, target: str | Path, *, read_only: bool = False) -> None:
        self.target = str(target)
        self.read_only = read_only
        self._lock = threading.RLock()
        self.kind: str
        self._conn: Any
        if is_postgres_url(self.target):
            try:
                import psycopg
            except ImportError:
                raise ConfigError(
                    "an index on PostgreSQL needs psycopg", "pip install 'psycopg[binary]'"
                ) from None
            self.kind = "postgres"
            self._conn = psycopg.connect(self.target, autocommit=True)
        else:
            self.kind = "sqlite"
            path = Path(self.target)
            if read_only and not path.exists():
                raise ConfigError(
                    f"no index database at {path}", "build one first with `gpusettle index run`"
                )
            path.parent.mkdir(parents=True, exist_ok=True)
            uri = f"file:{path}?mode=ro" if read_only else f"file:{path}"
            self._conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA busy_timeout = 10000")
            if not read_only:
                self._conn.execute("PRAGMA journal_mode = WAL")
                self._conn.execute("PRAGMA synchronous = NORMAL")
                # 64 MiB of page cache: catch-up updates several B-trees per event.
                self._conn.execute("PRAGMA cache_size = -65536")
        self._depth = 0

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.kind == "postgres" else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one statement."""
        with self._lock:
            self._conn.execute(self._sql(sql), tuple(params))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each row."""
        if not rows:
            return
        with self._lock:
            if self.kind == "postgres":
                with self._conn.cursor() as cur:
                    cur.executemany(self._sql(sql), [tuple(r) for r in rows])
            else:
                self._conn.executemany(sql, rows)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a SELECT."""
        with self._lock:
            cur = self._conn.execute(self._sql(sql), tuple(params))
            return [tuple(r) for r in cur.fetchall()]

    def query_dicts(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a SELECT as column -> value."""
        with self._lock:
            cur = self._conn.execute(self._sql(sql), tuple(params))
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def columns(self, table: str) -> list[str]:
        """A table's column names (read the portable way: an empty SELECT)."""
        with self._lock:
            cur = self._conn.execute(f"SELECT * FROM {table} WHERE 1 = 0")
            return [d[0] for d in cur.description]

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first column of the first row, or None."""
        rows = self.query(sql, params)
        return rows[0][0] if rows else None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing (nested calls join the outer transaction)."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._conn.execute("BEGIN")
            self._depth = 1
            try:
                yield
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")
            finally:
                self._depth = 0

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()
