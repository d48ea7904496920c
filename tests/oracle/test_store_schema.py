"""Schema versions (issue 9, defect 3): the oracle store (SQLite and PostgreSQL) and the worker's
state database open a database written with the old schema, migrate it, and keep its rows; a
database newer than the program is refused with a clear error."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from gpusettle.oracle.store import SchemaError, SQLiteStore
from gpusettle.oracle.store.migrations import POSTGRES, SQLITE
from gpusettle.worker.state import WorkerState
from tests.fixtures.postgres import empty_database

# The oracle store's schema as it was before versions existed (gpusettle 0.1.0, PRAGMA user_version 0).
OLD_ORACLE_SCHEMA = """
CREATE TABLE receipts (
    job_id INTEGER PRIMARY KEY, provider TEXT NOT NULL, signer TEXT NOT NULL, struct_hash BLOB NOT NULL,
    body TEXT NOT NULL, end_time INTEGER NOT NULL, status TEXT NOT NULL, reason TEXT, fraud TEXT,
    batch_id INTEGER, tx_hash TEXT, block_number INTEGER, received_at REAL NOT NULL, updated_at REAL NOT NULL
);
CREATE INDEX receipts_status ON receipts (status, job_id);
CREATE INDEX receipts_batch ON receipts (batch_id);
CREATE TABLE batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT, created_at REAL NOT NULL, epoch INTEGER NOT NULL,
    job_ids TEXT NOT NULL, nonce INTEGER NOT NULL, status TEXT NOT NULL, mined_tx TEXT, mined_block INTEGER,
    mined_hash TEXT, gas_used INTEGER, note TEXT
);
CREATE INDEX batches_status ON batches (status);
CREATE TABLE txs (
    tx_hash TEXT PRIMARY KEY, batch_id INTEGER NOT NULL, nonce INTEGER NOT NULL, raw BLOB NOT NULL,
    max_fee INTEGER NOT NULL, priority_fee INTEGER NOT NULL, created_at REAL NOT NULL
);
CREATE INDEX txs_batch ON txs (batch_id);
CREATE TABLE specs (spec_hash TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO receipts VALUES (7, '0xP', '0xW', x'01', '{}', 5, 'settled', NULL, NULL, 1, '0xt', 9, 1.0, 2.0);
INSERT INTO batches VALUES (1, 1.0, 1, '[7]', 3, 'confirmed', '0xt', 9, '0xb', 100, NULL);
INSERT INTO txs VALUES ('0xt', 1, 3, x'02', 10, 1, 1.0);
INSERT INTO meta VALUES ('next_nonce', '4');
"""

# The worker's state schema before versions existed (user_version 0).
OLD_WORKER_SCHEMA = """
CREATE TABLE jobs (
    job_id INTEGER PRIMARY KEY, state TEXT NOT NULL, spec_hash TEXT NOT NULL, spec TEXT,
    max_gpu_seconds INTEGER NOT NULL, gpu_count INTEGER NOT NULL, accept_by INTEGER NOT NULL,
    deadline INTEGER NOT NULL, accepted_at INTEGER, accept_tx TEXT, start_time INTEGER, end_time INTEGER,
    gpu_seconds INTEGER, outcome INTEGER, result_hash TEXT, payload_path TEXT,
    payload_sent INTEGER NOT NULL DEFAULT 0, submission TEXT, reason TEXT, settle_tx TEXT,
    attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL DEFAULT 0,
    created_at REAL NOT NULL, updated_at REAL NOT NULL
);
CREATE INDEX jobs_state ON jobs (state, job_id);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO jobs (job_id, state, spec_hash, max_gpu_seconds, gpu_count, accept_by, deadline, created_at,
    updated_at) VALUES (11, 'running', '0xs', 60, 1, 5, 9, 1.0, 1.0);
INSERT INTO meta VALUES ('last_block', '123');
"""


def _old_database(path: Path, script: str) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(script)
    conn.commit()
    conn.close()


def _version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def _indexes(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    finally:
        conn.close()


def test_an_old_oracle_store_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "oracle.sqlite"
    _old_database(path, OLD_ORACLE_SCHEMA)
    store = SQLiteStore(path)
    try:
        record = store.receipt(7)
        assert record is not None and record.status == "settled" and record.tx_hash == "0xt"
        batch = store.batch(1)
        assert batch is not None and batch.job_ids == [7] and batch.attempts[0].raw == b"\x02"
        assert store.next_nonce() == 4
        assert store.prune(older_than=4e9).receipts == 1  # the retention indexes of migration 2 work
    finally:
        store.close()
    assert _version(path) == len(SQLITE) == 4
    assert {"receipts_retention", "batches_retention"} <= _indexes(path)


def test_a_newer_oracle_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "oracle.sqlite"
    SQLiteStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(SQLITE) + 1}")
    conn.close()
    with pytest.raises(SchemaError, match="newer than this gpusettle knows") as err:
        SQLiteStore(path)
    assert err.value.hint and "upgrade" in err.value.hint


def test_an_old_worker_state_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "worker.sqlite"
    _old_database(path, OLD_WORKER_SCHEMA)
    state = WorkerState(path)
    try:
        record = state.job(11)
        assert record is not None and record.state == "running" and record.spec_hash == "0xs"
        assert state.get_meta("last_block") == "123"
    finally:
        state.close()
    assert _version(path) == WorkerState.SCHEMA_VERSION >= 1


def test_a_newer_worker_state_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "worker.sqlite"
    WorkerState(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(SchemaError, match="newer than this gpusettle knows"):
        WorkerState(path)


def test_a_postgres_store_at_version_1_is_migrated(pg_dsn: str) -> None:
    import psycopg

    from gpusettle.oracle.store.postgres import PostgresStore

    empty_database(pg_dsn)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        for statement in POSTGRES[0]:
            conn.execute(statement)  # type: ignore[call-overload]
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO schema_version VALUES (1)")
        conn.execute(
            "INSERT INTO receipts VALUES (7, '0xP', '0xW', '\\x01', '{}', 5, 'received', NULL, NULL, NULL, "
            "NULL, NULL, 1.0, 2.0)"
        )
    store = PostgresStore(pg_dsn)
    try:
        assert store.schema_version() == len(POSTGRES) == 4
        record = store.receipt(7)
        assert record is not None and record.status == "received" and record.struct_hash == b"\x01"
    finally:
        store.close()
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        names = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'receipts'")}
        assert "receipts_retention" in names
        conn.execute("INSERT INTO schema_version VALUES (99)")
    with pytest.raises(SchemaError, match="newer than this gpusettle knows"):
        PostgresStore(pg_dsn)


def test_two_postgres_stores_opening_at_once_migrate_once(pg_dsn: str) -> None:
    import threading

    from gpusettle.oracle.store.postgres import PostgresStore

    empty_database(pg_dsn)
    opened: list[PostgresStore] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            opened.append(PostgresStore(pg_dsn))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == [] and len(opened) == 3
        assert opened[0]._row("SELECT count(*) FROM schema_version")[0] == len(POSTGRES)
    finally:
        for store in opened:
            store.close()
