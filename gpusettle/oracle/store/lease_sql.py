"""The lease half of the `Store`: heartbeats, probe outcomes, checkpoints and their batches, in the
SQL SQLite and PostgreSQL both speak, written through the same group-commit writer as receipts.

A heartbeat is acknowledged only after the commit that holds it; (lease, sequence) is its primary
key, so a worker that re-sends after a restart can never make a bucket count twice. Checkpoint
batches take their nonces from the same `next_nonce` record as receipt batches: one account, one
nonce sequence (the poster thread runs both, one after the other)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any, TypeVar

from .protocol import (
    CHECKPOINT_BUILT,
    CHECKPOINT_POSTED,
    CHECKPOINT_SETTLED,
    CHECKPOINT_SKIPPED,
    CheckpointBatch,
    HeartbeatOutcome,
    NewHeartbeat,
    StoredCheckpoint,
    StoredHeartbeat,
    TxAttempt,
)
from .sql import CHECKPOINT_BATCHES, GroupCommitStore

__all__ = ["LeaseSQLStore"]

C = TypeVar("C")

_HEARTBEAT_COLUMNS = "lease_id, sequence, provider, signer, ts, service_up, struct_hash, body, received_at"
_CHECKPOINT_COLUMNS = (
    "lease_id, from_time, to_time, up_seconds, down_seconds, root, final, status, batch_id, tx_hash, "
    "block_number, note, created_at, updated_at"
)


def _heartbeat(row: Sequence[Any]) -> StoredHeartbeat:
    return StoredHeartbeat(
        int(row[0]), int(row[1]), str(row[2]), str(row[3]), int(row[4]), bool(row[5]), bytes(row[6]), str(row[7]),
        float(row[8]),
    )  # fmt: skip


def _checkpoint(row: Sequence[Any]) -> StoredCheckpoint:
    return StoredCheckpoint(
        int(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4]), bytes(row[5]), bool(row[6]), str(row[7]),
        None if row[8] is None else int(row[8]), row[9], None if row[10] is None else int(row[10]), row[11],
        float(row[12]), float(row[13]),
    )  # fmt: skip


def _checkpoint_batch(row: Sequence[Any], attempts: list[TxAttempt]) -> CheckpointBatch:
    return CheckpointBatch(
        int(row[0]), float(row[1]), int(row[2]), [(int(a), int(b)) for a, b in json.loads(row[3])], int(row[4]),
        str(row[5]), row[6], row[7], row[8], row[9], row[10], attempts,
    )  # fmt: skip


class LeaseSQLStore(GroupCommitStore[C]):
    """GroupCommitStore with the lease tables (migration 3)."""

    # -- heartbeats and probes -------------------------------------------------------------------------

    def add_heartbeat(self, heartbeat: NewHeartbeat) -> Future[HeartbeatOutcome]:
        return self._submit(lambda conn: self._insert_heartbeat(conn, heartbeat), atomic=True)

    def add_heartbeats(self, heartbeats: Sequence[NewHeartbeat]) -> Future[list[HeartbeatOutcome]]:
        batch = list(heartbeats)
        return self._submit(lambda conn: [self._insert_heartbeat(conn, h) for h in batch], atomic=True)

    def _insert_heartbeat(self, conn: C, heartbeat: NewHeartbeat) -> HeartbeatOutcome:
        inserted = self._exec(
            conn,
            f"INSERT INTO heartbeats ({_HEARTBEAT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (lease_id, sequence) DO NOTHING",
            (
                heartbeat.lease_id,
                heartbeat.sequence,
                heartbeat.provider,
                heartbeat.signer,
                heartbeat.timestamp,
                int(heartbeat.service_up),
                heartbeat.struct_hash,
                heartbeat.body,
                time.time(),
            ),
        ).rowcount
        if inserted == 1:
            return HeartbeatOutcome("stored")
        row = self._exec(
            conn,
            f"SELECT {_HEARTBEAT_COLUMNS} FROM heartbeats WHERE lease_id = ? AND sequence = ?",
            (heartbeat.lease_id, heartbeat.sequence),
        ).fetchone()
        return HeartbeatOutcome("duplicate", _heartbeat(row))

    def heartbeats(self, lease_id: int, from_sequence: int, to_sequence: int) -> list[StoredHeartbeat]:
        rows = self._rows(
            f"SELECT {_HEARTBEAT_COLUMNS} FROM heartbeats WHERE lease_id = ? AND sequence >= ? AND sequence < ? "
            "ORDER BY sequence",
            (lease_id, from_sequence, to_sequence),
        )
        return [_heartbeat(r) for r in rows]

    def record_probe(self, lease_id: int, sequence: int, ok: bool, detail: str) -> None:
        self._write(
            lambda conn: self._exec(
                conn,
                "INSERT INTO probes (lease_id, sequence, ok, detail, at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (lease_id, sequence) DO UPDATE SET ok = excluded.ok, detail = excluded.detail, "
                "at = excluded.at WHERE probes.ok = 1",
                (lease_id, sequence, int(ok), detail[:500], time.time()),
            )
        )

    def failed_probes(self, lease_id: int, from_sequence: int, to_sequence: int) -> list[int]:
        rows = self._rows(
            "SELECT sequence FROM probes WHERE lease_id = ? AND ok = 0 AND sequence >= ? AND sequence < ? "
            "ORDER BY sequence",
            (lease_id, from_sequence, to_sequence),
        )
        return [int(r[0]) for r in rows]

    def probe_counts(self, lease_id: int) -> tuple[int, int]:
        rows = self._rows("SELECT ok, COUNT(*) FROM probes WHERE lease_id = ? GROUP BY ok", (lease_id,))
        counts = {int(ok): int(n) for ok, n in rows}
        return counts.get(1, 0), counts.get(0, 0)

    # -- worker endpoints ------------------------------------------------------------------------------

    def record_worker_endpoint(self, provider: str, url: str, issued_at: int, signer: str) -> bool:
        return bool(
            self._write(
                lambda conn: (
                    self._exec(
                        conn,
                        "INSERT INTO worker_endpoints (provider, url, issued_at, signer, received_at) "
                        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (provider) DO UPDATE SET url = excluded.url, "
                        "issued_at = excluded.issued_at, signer = excluded.signer, received_at = excluded.received_at "
                        # A later announcement, or one by another key: the intake took it only from the current
                        # worker key, so a different stored signer is a key rotated out since.
                        "WHERE worker_endpoints.issued_at < excluded.issued_at "
                        "OR worker_endpoints.signer <> excluded.signer",
                        (provider, url, issued_at, signer, time.time()),
                    ).rowcount
                    == 1
                )
            )
        )

    def worker_endpoint(self, provider: str) -> tuple[str, str] | None:
        rows = self._rows("SELECT url, signer FROM worker_endpoints WHERE provider = ?", (provider,))
        return (str(rows[0][0]), str(rows[0][1])) if rows else None

    # -- checkpoints -----------------------------------------------------------------------------------

    def add_checkpoint(
        self, lease_id: int, from_time: int, to_time: int, up: int, down: int, root: bytes, final: bool
    ) -> bool:
        def op(conn: C) -> bool:
            now = time.time()
            values = (to_time, up, down, root, int(final), CHECKPOINT_BUILT, now, now)
            inserted = self._exec(
                conn,
                f"INSERT INTO lease_checkpoints ({_CHECKPOINT_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, NULL, ?, ?) "
                "ON CONFLICT (lease_id, from_time) DO NOTHING",
                (lease_id, from_time, *values),
            ).rowcount
            if inserted == 1:
                return True
            replaced = self._exec(
                conn,
                "UPDATE lease_checkpoints SET to_time = ?, up_seconds = ?, down_seconds = ?, root = ?, final = ?, "
                "status = ?, created_at = ?, updated_at = ?, batch_id = NULL, tx_hash = NULL, block_number = NULL, "
                "note = NULL WHERE lease_id = ? AND from_time = ? AND status = ?",
                (*values, lease_id, from_time, CHECKPOINT_SKIPPED),
            ).rowcount
            return int(replaced) == 1

        return self._write(op)

    def checkpoints(self, status: str, limit: int = 1000) -> list[StoredCheckpoint]:
        rows = self._rows(
            f"SELECT {_CHECKPOINT_COLUMNS} FROM lease_checkpoints WHERE status = ? "
            "ORDER BY created_at, lease_id, from_time LIMIT ?",
            (status, limit),
        )
        return [_checkpoint(r) for r in rows]

    def lease_checkpoints(self, lease_id: int) -> list[StoredCheckpoint]:
        rows = self._rows(
            f"SELECT {_CHECKPOINT_COLUMNS} FROM lease_checkpoints WHERE lease_id = ? ORDER BY from_time",
            (lease_id,),
        )
        return [_checkpoint(r) for r in rows]

    def set_checkpoint_status(self, key: tuple[int, int], status: str, note: str | None = None) -> None:
        self._write(
            lambda conn: self._exec(
                conn,
                "UPDATE lease_checkpoints SET status = ?, note = ?, updated_at = ? WHERE lease_id = ? AND from_time = ?",
                (status, note, time.time(), key[0], key[1]),
            )
        )

    def _prune_leases(self, conn: C, older_than: float) -> tuple[int, int]:
        # A heartbeat stays while a dispute could still need its Merkle proof: until a settled checkpoint
        # covers its time and it is older than the cutoff (dispute window + margin, from the caller).
        covered = (
            "SELECT MAX(c.to_time) FROM lease_checkpoints c WHERE c.lease_id = {table}.lease_id AND c.status = ? "
            "AND c.updated_at < ?"
        )
        heartbeats = self._exec(
            conn,
            f"DELETE FROM heartbeats WHERE received_at < ? AND ts < ({covered.format(table='heartbeats')})",
            (older_than, CHECKPOINT_SETTLED, older_than),
        ).rowcount
        probes = self._exec(
            conn,
            f"DELETE FROM probes WHERE at < ? AND at < ({covered.format(table='probes')})",
            (older_than, CHECKPOINT_SETTLED, older_than),
        ).rowcount
        closed = "SELECT id FROM checkpoint_batches WHERE status <> 'pending' AND created_at < ?"
        self._exec(conn, f"DELETE FROM checkpoint_txs WHERE batch_id IN ({closed})", (older_than,))
        batches = self._exec(
            conn, f"DELETE FROM checkpoint_batches WHERE id IN ({closed})", (older_than,)
        ).rowcount
        checkpoints = self._exec(
            conn,
            "DELETE FROM lease_checkpoints WHERE status IN (?, ?) AND updated_at < ?",
            (CHECKPOINT_SETTLED, CHECKPOINT_SKIPPED, older_than),
        ).rowcount
        return int(heartbeats) + int(probes), int(checkpoints) + int(batches)

    # -- checkpoint batches ----------------------------------------------------------------------------

    def create_checkpoint_batch(
        self, items: Sequence[tuple[int, int]], epoch: int, nonce: int, attempt: TxAttempt
    ) -> CheckpointBatch:
        keys = [(int(a), int(b)) for a, b in items]

        def op(conn: C) -> CheckpointBatch:
            batch_id, now = self._insert_batch(conn, CHECKPOINT_BATCHES, epoch, keys, nonce)
            for lease_id, from_time in keys:
                moved = self._exec(
                    conn,
                    "UPDATE lease_checkpoints SET status = ?, batch_id = ?, updated_at = ? "
                    "WHERE lease_id = ? AND from_time = ? AND status = ?",
                    (CHECKPOINT_POSTED, batch_id, now, lease_id, from_time, CHECKPOINT_BUILT),
                ).rowcount
                if moved != 1:
                    raise RuntimeError(
                        f"checkpoint ({lease_id}, {from_time}) is no longer built; batch not created"
                    )
            first = self._first_attempt(conn, CHECKPOINT_BATCHES, batch_id, nonce, attempt, now)
            return CheckpointBatch(batch_id, now, epoch, keys, nonce, "pending", attempts=[first])

        return self._write(op)

    def add_checkpoint_attempt(self, attempt: TxAttempt) -> None:
        self._write(lambda conn: self._insert_tx(conn, CHECKPOINT_BATCHES, attempt))

    def open_checkpoint_batches(self) -> list[CheckpointBatch]:
        return self._load_batch_rows(CHECKPOINT_BATCHES, _checkpoint_batch, "status = 'pending'", ())

    def mark_checkpoint_batch_mined(
        self, batch_id: int, tx_hash: str, block: int, block_hash: str, gas_used: int
    ) -> None:
        self._set_mined(CHECKPOINT_BATCHES, batch_id, (tx_hash, block, block_hash, gas_used))

    def mark_checkpoint_batch_unmined(self, batch_id: int) -> None:
        self._set_mined(CHECKPOINT_BATCHES, batch_id, (None, None, None, None))

    def finish_checkpoint_batch(
        self,
        batch_id: int,
        settled: dict[tuple[int, int], tuple[str, int]],
        skipped: dict[tuple[int, int], str],
        requeue: Sequence[tuple[int, int]],
        note: str | None = None,
        failed: bool = False,
    ) -> None:
        again = list(requeue)

        def op(conn: C) -> None:
            now = time.time()
            where = "WHERE lease_id = ? AND from_time = ?"
            for (lease_id, from_time), (tx_hash, block) in settled.items():
                self._exec(
                    conn,
                    f"UPDATE lease_checkpoints SET status = ?, tx_hash = ?, block_number = ?, updated_at = ? {where}",
                    (CHECKPOINT_SETTLED, tx_hash, block, now, lease_id, from_time),
                )
            for (lease_id, from_time), reason in skipped.items():
                self._exec(
                    conn,
                    f"UPDATE lease_checkpoints SET status = ?, note = ?, updated_at = ? {where}",
                    (CHECKPOINT_SKIPPED, reason, now, lease_id, from_time),
                )
            for lease_id, from_time in again:
                self._exec(
                    conn,
                    f"UPDATE lease_checkpoints SET status = ?, batch_id = NULL, updated_at = ? {where} AND status = ?",
                    (CHECKPOINT_BUILT, now, lease_id, from_time, CHECKPOINT_POSTED),
                )
            self._close_batch(conn, CHECKPOINT_BATCHES, batch_id, note, failed)

        self._write(op)
