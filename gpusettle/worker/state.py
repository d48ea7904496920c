"""The worker's durable memory (SQLite, WAL, synchronous=FULL): which jobs it has seen, accepted, run,
receipted and handed to the oracle, so a restart never runs or bills a job twice.

Version 2 adds the GPU slot assignment, the leases this worker serves, the heartbeat outbox and the
availability log (their modules: slots.py, leases.py, heartbeat.py, availability.py). Version 3 adds
the record of settled jobs whose GPUs went back to their offers (gpurelease.py).

Job states, in order: new -> accepting -> accepted -> running -> receipted -> submitted -> settled;
or declined / skipped (never run) / rejected (the oracle refused the receipt). A job found `running`
after a restart was interrupted: it gets a FailedProvider receipt instead of a second run.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..schema import migrate_sqlite

__all__ = ["FINAL_STATES", "MIGRATIONS", "JobRecord", "WorkerState"]

FINAL_STATES = ("settled", "rejected", "declined", "skipped")

_V1 = (
    """CREATE TABLE IF NOT EXISTS jobs (
        job_id          INTEGER PRIMARY KEY,
        state           TEXT NOT NULL,
        spec_hash       TEXT NOT NULL,
        spec            TEXT,
        max_gpu_seconds INTEGER NOT NULL,
        gpu_count       INTEGER NOT NULL,
        accept_by       INTEGER NOT NULL,
        deadline        INTEGER NOT NULL,
        accepted_at     INTEGER,
        accept_tx       TEXT,
        start_time      INTEGER,
        end_time        INTEGER,
        gpu_seconds     INTEGER,
        outcome         INTEGER,
        result_hash     TEXT,
        payload_path    TEXT,
        payload_sent    INTEGER NOT NULL DEFAULT 0,
        submission      TEXT,
        reason          TEXT,
        settle_tx       TEXT,
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL DEFAULT 0,
        created_at      REAL NOT NULL,
        updated_at      REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, job_id)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)

_V2 = (
    # Which GPU slot serves which job or lease ("job:7", "lease:3"): the one record that keeps two
    # pieces of work off the same GPU, also across a restart.
    "CREATE TABLE IF NOT EXISTS gpu_slots (slot INTEGER PRIMARY KEY, owner TEXT NOT NULL, assigned_at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS gpu_slots_owner ON gpu_slots (owner)",
    """CREATE TABLE IF NOT EXISTS leases (
        lease_id     INTEGER PRIMARY KEY,
        state        TEXT NOT NULL,
        offer_id     INTEGER NOT NULL,
        gpu_count    INTEGER NOT NULL,
        spec_hash    TEXT NOT NULL,
        restarts     INTEGER NOT NULL DEFAULT 0,
        last_seq     INTEGER NOT NULL DEFAULT -1,
        reason       TEXT,
        created_at   REAL NOT NULL,
        updated_at   REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS heartbeat_outbox (
        lease_id        INTEGER NOT NULL,
        sequence        INTEGER NOT NULL,
        oracle          TEXT NOT NULL,
        body            TEXT NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL DEFAULT 0,
        done            INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (lease_id, sequence, oracle)
    )""",
    """CREATE TABLE IF NOT EXISTS availability_log (
        id     INTEGER PRIMARY KEY AUTOINCREMENT,
        at     REAL NOT NULL,
        state  TEXT NOT NULL,
        reason TEXT NOT NULL
    )""",
)

_V3 = (
    # Settled jobs whose GPUs are back on their offers (gpurelease.py): released by this worker's
    # releaseJobGpus, or found released by someone else. A settled job without a row still holds them.
    """CREATE TABLE IF NOT EXISTS gpu_releases (
        job_id INTEGER PRIMARY KEY,
        how    TEXT NOT NULL,
        tx     TEXT,
        at     REAL NOT NULL
    )""",
)

MIGRATIONS: tuple[tuple[str, ...], ...] = (_V1, _V2, _V3)
"""The state database's schema as numbered migrations (PRAGMA user_version): append, never edit one
that has shipped. Version 1 is the schema from before versions existed, so a database that old
(user_version 0) only gets its version recorded."""

_COLUMNS = (
    "job_id",
    "state",
    "spec_hash",
    "spec",
    "max_gpu_seconds",
    "gpu_count",
    "accept_by",
    "deadline",
    "accepted_at",
    "accept_tx",
    "start_time",
    "end_time",
    "gpu_seconds",
    "outcome",
    "result_hash",
    "payload_path",
    "payload_sent",
    "submission",
    "reason",
    "settle_tx",
    "attempts",
    "next_attempt_at",
    "created_at",
    "updated_at",
)


@dataclass(frozen=True)
class JobRecord:
    """One row of the jobs table."""

    job_id: int
    state: str
    spec_hash: str
    spec: str | None
    max_gpu_seconds: int
    gpu_count: int
    accept_by: int
    deadline: int
    accepted_at: int | None
    accept_tx: str | None
    start_time: int | None
    end_time: int | None
    gpu_seconds: int | None
    outcome: int | None
    result_hash: str | None
    payload_path: str | None
    payload_sent: int
    submission: str | None
    reason: str | None
    settle_tx: str | None
    attempts: int
    next_attempt_at: float
    created_at: float
    updated_at: float


class WorkerState:
    """Thread-safe access to the worker's SQLite file (a connection per thread)."""

    SCHEMA_VERSION = len(MIGRATIONS)

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        conn = self._conn()
        conn.execute("PRAGMA journal_mode=WAL")
        migrate_sqlite(conn, MIGRATIONS, f"the worker state database {self.path}")

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    def add_job(
        self, job_id: int, spec_hash: str, max_gpu_seconds: int, gpu_count: int, accept_by: int, deadline: int
    ) -> bool:
        """Record a job seen on-chain; False if it was already known."""
        now = time.time()
        cur = self._conn().execute(
            "INSERT OR IGNORE INTO jobs (job_id, state, spec_hash, max_gpu_seconds, gpu_count, accept_by, deadline, "
            "created_at, updated_at) VALUES (?, 'new', ?, ?, ?, ?, ?, ?, ?)",
            (job_id, spec_hash, max_gpu_seconds, gpu_count, accept_by, deadline, now, now),
        )
        return cur.rowcount == 1

    def update(self, job_id: int, **fields: Any) -> None:
        """Set some columns of a job (always bumps updated_at)."""
        unknown = set(fields) - set(_COLUMNS)
        if unknown:
            raise KeyError(f"unknown job columns: {sorted(unknown)}")
        fields["updated_at"] = time.time()
        names = ", ".join(f"{k} = ?" for k in fields)
        self._conn().execute(f"UPDATE jobs SET {names} WHERE job_id = ?", (*fields.values(), job_id))

    def transition(self, job_id: int, expected: str, new: str, **fields: Any) -> bool:
        """Move a job from `expected` to `new` (and set fields) only if it is still in `expected`."""
        fields["state"] = new
        fields["updated_at"] = time.time()
        names = ", ".join(f"{k} = ?" for k in fields)
        cur = self._conn().execute(
            f"UPDATE jobs SET {names} WHERE job_id = ? AND state = ?", (*fields.values(), job_id, expected)
        )
        return cur.rowcount == 1

    def job(self, job_id: int) -> JobRecord | None:
        """One job."""
        row = (
            self._conn()
            .execute(f"SELECT {', '.join(_COLUMNS)} FROM jobs WHERE job_id = ?", (job_id,))
            .fetchone()
        )
        return JobRecord(*row) if row else None

    def jobs(self, *states: str) -> list[JobRecord]:
        """Jobs in any of `states`, oldest first."""
        marks = ", ".join("?" for _ in states)
        rows = (
            self._conn()
            .execute(
                f"SELECT {', '.join(_COLUMNS)} FROM jobs WHERE state IN ({marks}) ORDER BY job_id", states
            )
            .fetchall()
        )
        return [JobRecord(*r) for r in rows]

    def count(self, *states: str) -> int:
        """How many jobs are in any of `states`."""
        marks = ", ".join("?" for _ in states)
        row = self._conn().execute(f"SELECT COUNT(*) FROM jobs WHERE state IN ({marks})", states).fetchone()
        return int(row[0])

    def get_meta(self, key: str) -> str | None:
        """A stored setting (e.g. the last scanned block)."""
        row = self._conn().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        """Store a setting."""
        self._conn().execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one statement on this thread's connection; its rows (the lease, slot, heartbeat and
        availability tables are read and written through this, by their own modules)."""
        return list(self._conn().execute(sql, params).fetchall())

    def immediate(self) -> sqlite3.Connection:
        """This thread's connection after BEGIN IMMEDIATE: the caller COMMITs or ROLLBACKs (a
        read-then-write that no other thread or process may interleave with)."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        return conn

    def close(self) -> None:
        """Close this thread's connection."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
