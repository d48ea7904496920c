"""Schema versions of gpusettle's SQLite databases: numbered migrations keyed on `PRAGMA user_version`.

Migration N (1-based) brings a database from version N-1 to N in one transaction together with the
new version number, so a crash leaves it at N-1 or N, never between. A database written before
versions existed reads as version 0 with the first migration's tables already there, which is why the
first migration of each database only creates what is missing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from .errors import GpusettleError

__all__ = ["SchemaError", "migrate_sqlite", "sqlite_version"]


class SchemaError(GpusettleError):
    """A database's schema is newer than this program, or cannot be brought up to date."""


def sqlite_version(conn: sqlite3.Connection) -> int:
    """The schema version stored in a SQLite database (0 when it never had one)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate_sqlite(conn: sqlite3.Connection, steps: Sequence[Sequence[str]], what: str) -> int:
    """Apply the migrations `conn` lacks; returns the version it is at now. `conn` is in autocommit
    mode (isolation_level=None)."""
    latest = len(steps)
    current = sqlite_version(conn)
    if current > latest:
        raise SchemaError(
            f"{what} has schema version {current}, newer than this gpusettle knows (up to {latest})",
            "upgrade gpusettle, or point it at a database this version wrote",
        )
    for version in range(current + 1, latest + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            if sqlite_version(conn) >= version:  # another process migrated it meanwhile
                conn.execute("ROLLBACK")
                continue
            for statement in steps[version - 1]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return latest
