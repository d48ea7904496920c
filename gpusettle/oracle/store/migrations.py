"""The oracle store's schema, as numbered migrations for SQLite (`PRAGMA user_version`) and for
PostgreSQL (a `schema_version` table). Add a migration at the end of both lists; never edit one that
has shipped."""

from __future__ import annotations

__all__ = ["POSTGRES", "SQLITE"]

_SQLITE_V1 = (
    """CREATE TABLE IF NOT EXISTS receipts (
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
    )""",
    "CREATE INDEX IF NOT EXISTS receipts_status ON receipts (status, job_id)",
    "CREATE INDEX IF NOT EXISTS receipts_batch ON receipts (batch_id)",
    """CREATE TABLE IF NOT EXISTS batches (
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
    )""",
    "CREATE INDEX IF NOT EXISTS batches_status ON batches (status)",
    """CREATE TABLE IF NOT EXISTS txs (
        tx_hash        TEXT PRIMARY KEY,
        batch_id       INTEGER NOT NULL,
        nonce          INTEGER NOT NULL,
        raw            BLOB NOT NULL,
        max_fee        INTEGER NOT NULL,
        priority_fee   INTEGER NOT NULL,
        created_at     REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS txs_batch ON txs (batch_id)",
    "CREATE TABLE IF NOT EXISTS specs (spec_hash TEXT PRIMARY KEY, body TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)

_RETENTION_INDEXES = (
    "CREATE INDEX IF NOT EXISTS receipts_retention ON receipts (status, updated_at)",
    "CREATE INDEX IF NOT EXISTS batches_retention ON batches (status, created_at)",
)


def _leases(blob: str, real: str, serial: str, seq: str) -> tuple[str, ...]:
    """3: lease heartbeats (one per lease and bucket), probe outcomes, checkpoints and the batches
    and transactions that post them (apart from receipts' own: a checkpoint batch's id is not a
    receipt batch's)."""
    return (
        f"""CREATE TABLE IF NOT EXISTS heartbeats (
            lease_id      BIGINT NOT NULL,
            sequence      BIGINT NOT NULL,
            provider      TEXT NOT NULL,
            signer        TEXT NOT NULL,
            ts            BIGINT NOT NULL,
            service_up    INTEGER NOT NULL,
            struct_hash   {blob} NOT NULL,
            body          TEXT NOT NULL,
            received_at   {real} NOT NULL,
            PRIMARY KEY (lease_id, sequence)
        )""",
        f"""CREATE TABLE IF NOT EXISTS probes (
            lease_id      BIGINT NOT NULL,
            sequence      BIGINT NOT NULL,
            ok            INTEGER NOT NULL,
            detail        TEXT NOT NULL,
            at            {real} NOT NULL,
            PRIMARY KEY (lease_id, sequence)
        )""",
        f"""CREATE TABLE IF NOT EXISTS lease_checkpoints (
            lease_id      BIGINT NOT NULL,
            from_time     BIGINT NOT NULL,
            to_time       BIGINT NOT NULL,
            up_seconds    BIGINT NOT NULL,
            down_seconds  BIGINT NOT NULL,
            root          {blob} NOT NULL,
            final         INTEGER NOT NULL,
            status        TEXT NOT NULL,
            batch_id      BIGINT,
            tx_hash       TEXT,
            block_number  BIGINT,
            note          TEXT,
            created_at    {real} NOT NULL,
            updated_at    {real} NOT NULL,
            PRIMARY KEY (lease_id, from_time)
        )""",
        "CREATE INDEX IF NOT EXISTS lease_checkpoints_status ON lease_checkpoints (status, lease_id)",
        f"""CREATE TABLE IF NOT EXISTS checkpoint_batches (
            id             {serial},
            created_at     {real} NOT NULL,
            epoch          BIGINT NOT NULL,
            items          TEXT NOT NULL,
            nonce          BIGINT NOT NULL,
            status         TEXT NOT NULL,
            mined_tx       TEXT,
            mined_block    BIGINT,
            mined_hash     TEXT,
            gas_used       BIGINT,
            note           TEXT
        )""",
        "CREATE INDEX IF NOT EXISTS checkpoint_batches_status ON checkpoint_batches (status)",
        f"""CREATE TABLE IF NOT EXISTS checkpoint_txs (
            {seq}
            tx_hash        TEXT PRIMARY KEY,
            batch_id       BIGINT NOT NULL,
            nonce          BIGINT NOT NULL,
            raw            {blob} NOT NULL,
            max_fee        NUMERIC(78) NOT NULL,
            priority_fee   NUMERIC(78) NOT NULL,
            created_at     {real} NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS checkpoint_txs_batch ON checkpoint_txs (batch_id)",
    )


def _worker_endpoints(real: str) -> tuple[str, ...]:
    """4: the worker URL each provider announced last (signed by its worker key)."""
    return (
        f"""CREATE TABLE IF NOT EXISTS worker_endpoints (
            provider      TEXT PRIMARY KEY,
            url           TEXT NOT NULL,
            issued_at     BIGINT NOT NULL,
            signer        TEXT NOT NULL,
            received_at   {real} NOT NULL
        )""",
    )


SQLITE: tuple[tuple[str, ...], ...] = (
    _SQLITE_V1,
    # 2: indexes that let `prune` find what retention allows it to forget without a full scan.
    _RETENTION_INDEXES,
    _leases("BLOB", "REAL", "INTEGER PRIMARY KEY AUTOINCREMENT", ""),
    _worker_endpoints("REAL"),
)

_POSTGRES_V1 = (
    """CREATE TABLE IF NOT EXISTS receipts (
        job_id        BIGINT PRIMARY KEY,
        provider      TEXT NOT NULL,
        signer        TEXT NOT NULL,
        struct_hash   BYTEA NOT NULL,
        body          TEXT NOT NULL,
        end_time      BIGINT NOT NULL,
        status        TEXT NOT NULL,
        reason        TEXT,
        fraud         TEXT,
        batch_id      BIGINT,
        tx_hash       TEXT,
        block_number  BIGINT,
        received_at   DOUBLE PRECISION NOT NULL,
        updated_at    DOUBLE PRECISION NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS receipts_status ON receipts (status, job_id)",
    "CREATE INDEX IF NOT EXISTS receipts_batch ON receipts (batch_id)",
    """CREATE TABLE IF NOT EXISTS batches (
        id             BIGSERIAL PRIMARY KEY,
        created_at     DOUBLE PRECISION NOT NULL,
        epoch          BIGINT NOT NULL,
        job_ids        TEXT NOT NULL,
        nonce          BIGINT NOT NULL,
        status         TEXT NOT NULL,
        mined_tx       TEXT,
        mined_block    BIGINT,
        mined_hash     TEXT,
        gas_used       BIGINT,
        note           TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS batches_status ON batches (status)",
    """CREATE TABLE IF NOT EXISTS txs (
        seq            BIGSERIAL,
        tx_hash        TEXT PRIMARY KEY,
        batch_id       BIGINT NOT NULL,
        nonce          BIGINT NOT NULL,
        raw            BYTEA NOT NULL,
        max_fee        NUMERIC(78) NOT NULL,
        priority_fee   NUMERIC(78) NOT NULL,
        created_at     DOUBLE PRECISION NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS txs_batch ON txs (batch_id, seq)",
    "CREATE TABLE IF NOT EXISTS specs (spec_hash TEXT PRIMARY KEY, body TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)

POSTGRES: tuple[tuple[str, ...], ...] = (
    _POSTGRES_V1,
    _RETENTION_INDEXES,
    _leases("BYTEA", "DOUBLE PRECISION", "BIGSERIAL PRIMARY KEY", "seq BIGSERIAL,"),
    _worker_endpoints("DOUBLE PRECISION"),
)
