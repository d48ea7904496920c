"""The undo journal: `State` caches and writes the rows a chunk touches and, near the head, records each
row's value before its first change in a block; `rewind` replays that record backwards after a reorg."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from operator import itemgetter
from typing import Any

from .db import Database
from .events import IndexedEvent
from .schema import TABLE_KEYS

__all__ = ["State", "rewind"]


def _columns(db: Database, table: str) -> list[str]:
    return db.columns(table)


class State:
    """Rows touched while applying one chunk, written back by `flush`."""

    def __init__(
        self, db: Database, journal_from: int, gas_of: Callable[[str], int | None] = lambda _tx: None
    ) -> None:
        self.db = db
        self.gas_of = gas_of
        """Gas used by a settlement transaction (one receipt per batch, not per event)."""
        self.journal_from = journal_from
        self.columns = {t: _columns(db, t) for t in TABLE_KEYS}
        self.cache: dict[tuple[str, Any], dict[str, Any] | None] = {}
        self.dirty: set[tuple[str, Any]] = set()
        self.journaled: set[tuple[str, Any, int]] = set()
        self.undo: list[tuple[Any, ...]] = []
        self.events: list[tuple[Any, ...]] = []
        self.seq = int(db.scalar("SELECT COALESCE(MAX(seq), 0) FROM undo") or 0)
        self.block = 0

    def get(self, table: str, key: Any) -> dict[str, Any] | None:
        """The row of `table` with primary key `key` (a copy may be changed and `put` back)."""
        ck = (table, key)
        if ck not in self.cache:
            pk = TABLE_KEYS[table][0]
            rows = self.db.query_dicts(f"SELECT * FROM {table} WHERE {pk} = ?", (key,))
            self.cache[ck] = rows[0] if rows else None
        row = self.cache[ck]
        return dict(row) if row is not None else None

    def prefetch(self, table: str, keys: Iterable[Any]) -> None:
        """Load many rows in a few queries (a chunk's handlers then find them, or their absence, cached)."""
        wanted = [k for k in set(keys) if k is not None and (table, k) not in self.cache]
        pk = TABLE_KEYS[table][0]
        for n in range(0, len(wanted), 500):
            part = wanted[n : n + 500]
            marks = ", ".join("?" for _ in part)
            for row in self.db.query_dicts(f"SELECT * FROM {table} WHERE {pk} IN ({marks})", part):
                self.cache[(table, row[pk])] = row
            for k in part:
                self.cache.setdefault((table, k), None)

    def prefetch_for(self, events: Sequence[IndexedEvent]) -> None:
        """Prefetch every row the handlers of `events` may read."""
        job_ids = [e.args.get("jobId") for e in events]
        self.prefetch("jobs", job_ids)
        jobs = [self.cache.get(("jobs", j)) for j in set(job_ids) if j is not None]
        self.prefetch("offers", [e.args.get("offerId") for e in events] + [j["offer_id"] for j in jobs if j])
        self.prefetch(
            "providers", [e.args.get("provider") for e in events] + [j["provider"] for j in jobs if j]
        )
        self.prefetch("disputes", [e.args.get("jobId") for e in events if e.name == "DisputeResolved"])
        self.prefetch("settlement_txs", [e.tx_hash for e in events if e.name == "JobSettled"])
        self.prefetch("totals", ["value_settled", "fees", "gpu_seconds"])
        lease_ids = [e.args.get("leaseId") for e in events]
        self.prefetch("leases", lease_ids)
        leases = [self.cache.get(("leases", n)) for n in set(lease_ids) if n is not None]
        self.prefetch("offers", [x["offer_id"] for x in leases if x])
        self.prefetch("providers", [x["provider"] for x in leases if x])

    def put(self, table: str, key: Any, row: dict[str, Any]) -> None:
        """Replace the row (journaled when the current block is near the head)."""
        ck = (table, key)
        if self.block > self.journal_from and (table, key, self.block) not in self.journaled:
            before = self.get(table, key) if ck not in self.cache else self.cache[ck]
            self.journaled.add((table, key, self.block))
            self.seq += 1
            self.undo.append(
                (self.seq, self.block, table, json.dumps(key), None if before is None else json.dumps(before))
            )
        self.cache[ck] = row
        self.dirty.add(ck)

    def flush(self) -> None:
        """Write the touched rows, the journal and the raw events."""
        by_table: dict[str, list[dict[str, Any]]] = {}
        for table, key in self.dirty:
            row = self.cache[(table, key)]
            if row is not None:
                by_table.setdefault(table, []).append(row)
        for table, rows in by_table.items():
            cols = self.columns[table]
            self.db.executemany(_upsert(table, cols), _values(rows, cols))
        self.db.executemany(
            "INSERT INTO undo (seq, block_number, tbl, pk, row_json) VALUES (?, ?, ?, ?, ?)", self.undo
        )
        self.db.executemany(
            "INSERT INTO events (block_number, log_index, tx_hash, time, contract, name, job_id, offer_id, "
            "account, args, lease_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            self.events,
        )
        self.dirty.clear()
        self.undo.clear()
        self.events.clear()


def _values(rows: list[dict[str, Any]], cols: list[str]) -> list[Sequence[Any]]:
    """Each row's values in `cols` order, a column a row lacks as NULL. itemgetter builds each tuple in C
    (flush reads every column of every touched row); a row missing a column takes the slower path."""
    pick = itemgetter(*cols)
    out: list[Sequence[Any]] = []
    for row in rows:
        try:
            values = pick(row)
        except KeyError:
            values = tuple(map(row.get, cols))
        out.append(values if len(cols) > 1 else (values,))
    return out


def _upsert(table: str, cols: list[str]) -> str:
    keys = TABLE_KEYS[table]
    updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c not in keys)
    marks = ", ".join("?" for _ in cols)
    return (
        f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks}) "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
    )


def rewind(db: Database, block: int) -> int:
    """Undo everything derived from blocks after `block`; returns how many row changes were undone."""
    columns = {t: _columns(db, t) for t in TABLE_KEYS}
    with db.transaction():
        rows = db.query(
            "SELECT tbl, pk, row_json FROM undo WHERE block_number > ? ORDER BY seq DESC", (block,)
        )
        for table, pk_json, row_json in rows:
            key = json.loads(pk_json)
            if row_json is None:
                db.execute(f"DELETE FROM {table} WHERE {TABLE_KEYS[table][0]} = ?", (key,))
            else:
                row = json.loads(row_json)
                cols = columns[table]
                db.execute(_upsert(table, cols), [row.get(c) for c in cols])
        db.execute("DELETE FROM undo WHERE block_number > ?", (block,))
        db.execute("DELETE FROM events WHERE block_number > ?", (block,))
        db.execute("DELETE FROM blocks WHERE number > ?", (block,))
        db.execute("UPDATE meta SET value = ? WHERE key = 'last_block'", (str(block),))
    return len(rows)
