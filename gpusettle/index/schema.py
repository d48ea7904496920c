"""The index's tables, portable between SQLite and PostgreSQL.

Every derived table has a primary key and is changed only through `apply.State`, which journals the
previous row near the head so a reorganisation can be undone. `events` keeps every followed event (the
timelines read it); `blocks` keeps the hashes the reorg cursor checks. Leases are meant to come as two
more tables of the same shape (`leases` keyed by lease id, `lease_checkpoints` keyed by lease id and
period) and columns `gpu_class`, `verified` and `gpus_free` on `offers` are already there for classes,
hardware verification and capacity.

Version 2 (leases, issue 11): `leases` (one row per lease: terms, status, billing, runway) and
`lease_checkpoints` (one row per settled period, keyed "leaseId:fromTime"); offers gain the availability
terms (`gpu_class` by name, `notice_seconds`, `uptime_bps`), `paused` and `gpus_reserved` (GPUs held by
open or running jobs and leases; `gpus_free` = gpu_count - reserved); events gain `lease_id`.

Version 3 (hardware checks): offers gain the latest HardwareRegistry check (`hw_checked_at`, `hw_passed`,
`hw_gpu_count`, `hw_vram_gb`); `verified` is 1 when it passed and covers the offer's current GPU count and VRAM,
0 when it failed or the terms grew since, NULL when the offer was never checked.

Version 4 (withheld pay): providers, jobs and leases gain `withheld`, the pay the escrows hold back for a ruling
because free stake could not back it (PayWithheld, LeasePayWithheld); it is not in a provider's `earned` until
released (WithheldPayReleased, LeaseWithheldPayReleased), and what a ruling takes of it never is.
"""

from __future__ import annotations

from ..errors import ConfigError
from .db import Database

__all__ = ["SCHEMA_VERSION", "TABLE_KEYS", "check", "create"]

SCHEMA_VERSION = 4

TABLE_KEYS: dict[str, tuple[str, ...]] = {
    "providers": ("address",),
    "offers": ("offer_id",),
    "jobs": ("job_id",),
    "settlements": ("job_id",),
    "disputes": ("job_id",),
    "oracle_sets": ("epoch",),
    "totals": ("name",),
    "settlement_txs": ("tx_hash",),
    "leases": ("lease_id",),
    "lease_checkpoints": ("id",),
}
"""Derived tables and their primary keys (what the undo journal restores)."""

_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blocks (number BIGINT PRIMARY KEY, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS undo (
    seq BIGINT PRIMARY KEY, block_number BIGINT NOT NULL, tbl TEXT NOT NULL, pk TEXT NOT NULL, row_json TEXT
);
CREATE INDEX IF NOT EXISTS undo_block ON undo (block_number);
CREATE TABLE IF NOT EXISTS events (
    block_number BIGINT NOT NULL, log_index INTEGER NOT NULL, tx_hash TEXT NOT NULL, time BIGINT NOT NULL,
    contract TEXT NOT NULL, name TEXT NOT NULL, job_id BIGINT, offer_id BIGINT, account TEXT,
    args TEXT NOT NULL, lease_id BIGINT, PRIMARY KEY (block_number, log_index)
);
CREATE INDEX IF NOT EXISTS events_job ON events (job_id);
CREATE INDEX IF NOT EXISTS events_lease ON events (lease_id);
CREATE TABLE IF NOT EXISTS providers (
    address TEXT PRIMARY KEY, worker TEXT, bonded TEXT NOT NULL, unbonding TEXT NOT NULL,
    bonded_num DOUBLE PRECISION NOT NULL, locked TEXT NOT NULL, jailed INTEGER NOT NULL,
    jobs_completed BIGINT NOT NULL, jobs_failed BIGINT NOT NULL, jobs_timed_out BIGINT NOT NULL,
    disputes_lost BIGINT NOT NULL, gpu_seconds_served BIGINT NOT NULL, earned TEXT NOT NULL,
    earned_num DOUBLE PRECISION NOT NULL, withdrawn TEXT NOT NULL, slashed TEXT NOT NULL,
    first_block BIGINT NOT NULL, first_time BIGINT NOT NULL, withheld TEXT NOT NULL DEFAULT '0'
);
CREATE TABLE IF NOT EXISTS offers (
    offer_id BIGINT PRIMARY KEY, provider TEXT NOT NULL, gpu_model TEXT NOT NULL, gpu_family TEXT NOT NULL,
    gpu_count INTEGER NOT NULL, vram_gb BIGINT NOT NULL, price TEXT NOT NULL,
    price_num DOUBLE PRECISION NOT NULL, price_per_gb DOUBLE PRECISION NOT NULL, metadata_uri TEXT NOT NULL,
    active INTEGER NOT NULL, gpu_class TEXT, verified INTEGER, gpus_free INTEGER,
    notice_seconds BIGINT NOT NULL DEFAULT 0, uptime_bps INTEGER NOT NULL DEFAULT 0,
    paused INTEGER NOT NULL DEFAULT 0, gpus_reserved INTEGER NOT NULL DEFAULT 0,
    leases_running INTEGER NOT NULL DEFAULT 0, leases_total BIGINT NOT NULL DEFAULT 0,
    hw_checked_at BIGINT, hw_passed INTEGER, hw_gpu_count INTEGER, hw_vram_gb BIGINT,
    jobs_running INTEGER NOT NULL, jobs_total BIGINT NOT NULL, created_block BIGINT NOT NULL,
    created_time BIGINT NOT NULL, updated_block BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS offers_price ON offers (active, price_num);
CREATE INDEX IF NOT EXISTS offers_family ON offers (gpu_family);
CREATE INDEX IF NOT EXISTS offers_provider ON offers (provider);
CREATE TABLE IF NOT EXISTS jobs (
    job_id BIGINT PRIMARY KEY, client TEXT NOT NULL, provider TEXT NOT NULL, offer_id BIGINT NOT NULL,
    gpu_count INTEGER NOT NULL, price TEXT NOT NULL, max_gpu_seconds BIGINT NOT NULL, deposit TEXT NOT NULL,
    collateral TEXT NOT NULL, deadline BIGINT NOT NULL, accept_by BIGINT NOT NULL, spec_hash TEXT NOT NULL,
    status TEXT NOT NULL, created_block BIGINT NOT NULL, created_time BIGINT NOT NULL,
    created_tx TEXT NOT NULL, accepted_at BIGINT, ended_block BIGINT, ended_time BIGINT,
    gpu_seconds BIGINT, payout TEXT, fee TEXT, outcome INTEGER, refunded TEXT NOT NULL,
    withheld TEXT NOT NULL DEFAULT '0'
);
CREATE INDEX IF NOT EXISTS jobs_provider ON jobs (provider, job_id);
CREATE INDEX IF NOT EXISTS jobs_client ON jobs (client, job_id);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, job_id);
CREATE INDEX IF NOT EXISTS jobs_deadline ON jobs (status, deadline);
CREATE INDEX IF NOT EXISTS jobs_accepted ON jobs (status, accepted_at);
CREATE TABLE IF NOT EXISTS settlements (
    job_id BIGINT PRIMARY KEY, provider TEXT NOT NULL, block_number BIGINT NOT NULL, time BIGINT NOT NULL,
    tx_hash TEXT NOT NULL, gpu_seconds BIGINT NOT NULL, payout TEXT NOT NULL, fee TEXT NOT NULL,
    payout_num DOUBLE PRECISION NOT NULL, outcome INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS settlements_time ON settlements (time);
CREATE INDEX IF NOT EXISTS settlements_provider ON settlements (provider, time);
CREATE TABLE IF NOT EXISTS disputes (
    job_id BIGINT PRIMARY KEY, kind TEXT NOT NULL, client TEXT, provider TEXT NOT NULL, bond TEXT NOT NULL,
    reason_hash TEXT NOT NULL, opened_block BIGINT NOT NULL, opened_time BIGINT NOT NULL,
    status TEXT NOT NULL, slashed TEXT NOT NULL, compensation TEXT NOT NULL, resolved_block BIGINT
);
CREATE TABLE IF NOT EXISTS settlement_txs (
    tx_hash TEXT PRIMARY KEY, block_number BIGINT NOT NULL, time BIGINT NOT NULL, jobs INTEGER NOT NULL,
    gas_used BIGINT
);
CREATE TABLE IF NOT EXISTS leases (
    lease_id BIGINT PRIMARY KEY, client TEXT NOT NULL, provider TEXT NOT NULL, offer_id BIGINT NOT NULL,
    gpu_count INTEGER NOT NULL, rate TEXT NOT NULL, deposit TEXT NOT NULL, end_time BIGINT NOT NULL,
    accept_by BIGINT NOT NULL, gpu_class TEXT NOT NULL, notice_seconds BIGINT NOT NULL, spec_hash TEXT NOT NULL,
    status TEXT NOT NULL, created_block BIGINT NOT NULL, created_time BIGINT NOT NULL, created_tx TEXT NOT NULL,
    started_at BIGINT, collateral TEXT NOT NULL, billing_end BIGINT, paid_through BIGINT,
    runway_end BIGINT, up_seconds BIGINT NOT NULL, down_seconds BIGINT NOT NULL, checkpoints BIGINT NOT NULL,
    paid TEXT NOT NULL, fees TEXT NOT NULL, penalties TEXT NOT NULL, refundable TEXT NOT NULL,
    refunded TEXT NOT NULL, slashed TEXT NOT NULL, ended_time BIGINT, reclaimed INTEGER NOT NULL,
    withheld TEXT NOT NULL DEFAULT '0'
);
CREATE INDEX IF NOT EXISTS leases_client ON leases (client, lease_id);
CREATE INDEX IF NOT EXISTS leases_provider ON leases (provider, lease_id);
CREATE INDEX IF NOT EXISTS leases_status ON leases (status, lease_id);
CREATE TABLE IF NOT EXISTS lease_checkpoints (
    id TEXT PRIMARY KEY, lease_id BIGINT NOT NULL, from_time BIGINT NOT NULL, to_time BIGINT NOT NULL,
    up_seconds BIGINT NOT NULL, down_seconds BIGINT NOT NULL, payout TEXT NOT NULL, fee TEXT NOT NULL,
    penalty TEXT NOT NULL, block_number BIGINT NOT NULL, time BIGINT NOT NULL, tx_hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS lease_checkpoints_lease ON lease_checkpoints (lease_id, from_time);
CREATE TABLE IF NOT EXISTS totals (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS oracle_sets (
    epoch BIGINT PRIMARY KEY, oracles TEXT NOT NULL, threshold INTEGER NOT NULL,
    block_number BIGINT NOT NULL, time BIGINT NOT NULL, tx_hash TEXT NOT NULL
);
"""


def create(db: Database) -> None:
    """Create the tables (idempotent) and record the schema version."""
    with db.transaction():
        for statement in _DDL.split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?) ON CONFLICT (key) DO NOTHING",
            (str(SCHEMA_VERSION),),
        )
    check(db)


def check(db: Database) -> None:
    """Refuse an index another version of gpusettle laid out: it is derived data, rebuilt from the chain."""
    try:
        got = db.scalar("SELECT value FROM meta WHERE key = 'schema_version'")
    except Exception:  # noqa: BLE001 - sqlite3 and psycopg raise different types for a missing table
        got = None
    if got != str(SCHEMA_VERSION):
        raise ConfigError(
            f"the index at {db.target} has schema version {got or 'none'}; this gpusettle uses {SCHEMA_VERSION}",
            "rebuild it: delete it (or use another --db) and run `gpusettle index run`",
        )
