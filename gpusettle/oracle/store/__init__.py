"""The oracle's durable store: receipts, their status, batches and the transactions that post them.

`Store` (protocol.py) is the interface the oracle needs. `SQLiteStore` (sqlite.py, the default for a
single operator) and `PostgresStore` (postgres.py, for several oracle processes sharing one database)
implement it with the same SQL and the same group-commit writer (sql.py); migrations.py holds both
schemas as numbered migrations.
"""

from __future__ import annotations

from .protocol import (
    ACTIVE_STATES,
    CHECKPOINT_BUILT,
    CHECKPOINT_POSTED,
    CHECKPOINT_SETTLED,
    CHECKPOINT_SKIPPED,
    POSTED,
    RECEIVED,
    REJECTED,
    SETTLED,
    VERIFIED,
    Batch,
    CheckpointBatch,
    HeartbeatOutcome,
    InsertOutcome,
    NewHeartbeat,
    NewReceipt,
    PruneResult,
    SchemaError,
    Store,
    StoredCheckpoint,
    StoredHeartbeat,
    StoredReceipt,
    StoreUnavailableError,
    TxAttempt,
    ids_of,
)
from .sqlite import SQLiteStore

__all__ = [
    "ACTIVE_STATES",
    "CHECKPOINT_BUILT",
    "CHECKPOINT_POSTED",
    "CHECKPOINT_SETTLED",
    "CHECKPOINT_SKIPPED",
    "POSTED",
    "RECEIVED",
    "REJECTED",
    "SETTLED",
    "VERIFIED",
    "Batch",
    "CheckpointBatch",
    "HeartbeatOutcome",
    "InsertOutcome",
    "NewHeartbeat",
    "NewReceipt",
    "PruneResult",
    "SQLiteStore",
    "SchemaError",
    "Store",
    "StoreUnavailableError",
    "StoredCheckpoint",
    "StoredHeartbeat",
    "StoredReceipt",
    "TxAttempt",
    "ids_of",
    "open_store",
]


def open_store(target: str, **options: object) -> Store:
    """A store for `target`: a postgresql:// (or postgres://) DSN opens PostgreSQL, anything else is
    a SQLite file path."""
    if target.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresStore

        return PostgresStore(target, **options)  # type: ignore[arg-type]
    return SQLiteStore(target, **options)  # type: ignore[arg-type]
