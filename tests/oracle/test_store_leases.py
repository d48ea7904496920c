"""The lease half of the Store, on SQLite and PostgreSQL alike: one heartbeat per (lease, sequence),
probe outcomes (a failure sticks), checkpoints and their batches sharing the receipts' nonce record;
everything survives reopening."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gpusettle.oracle.store import (
    CHECKPOINT_BUILT,
    CHECKPOINT_POSTED,
    CHECKPOINT_SETTLED,
    CHECKPOINT_SKIPPED,
    NewHeartbeat,
    NewReceipt,
    SQLiteStore,
    TxAttempt,
)
from gpusettle.oracle.store.lease_sql import LeaseSQLStore
from tests.fixtures.postgres import empty_database

Opener = Callable[[], LeaseSQLStore]  # type: ignore[type-arg]


@pytest.fixture(params=["sqlite", "postgres"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    opened: list[LeaseSQLStore] = []  # type: ignore[type-arg]
    if request.param == "postgres":
        from gpusettle.oracle.store.postgres import PostgresStore

        dsn = request.getfixturevalue("pg_dsn")
        empty_database(dsn)

        def opener() -> LeaseSQLStore:  # type: ignore[type-arg]
            store = PostgresStore(dsn)
            opened.append(store)
            return store
    else:

        def opener() -> LeaseSQLStore:  # type: ignore[type-arg]
            store = SQLiteStore(tmp_path / "s.sqlite")
            opened.append(store)
            return store

    yield opener
    for store in opened:
        store.close()


def beat(lease: int, seq: int, struct: bytes = b"\x01" * 32, up: bool = True) -> NewHeartbeat:
    return NewHeartbeat(
        lease_id=lease,
        sequence=seq,
        provider="0xP",
        signer="0xW",
        timestamp=seq * 30 + 1,
        service_up=up,
        struct_hash=struct,
        body="{}",
    )


def test_a_batch_of_heartbeats_is_one_commit_in_order(open_store: Opener) -> None:
    store = open_store()
    assert store.add_heartbeat(beat(1, 9)).result(10).kind == "stored"
    commits = store.commits
    batch = [beat(1, 9, struct=b"\x02" * 32), beat(1, 10), beat(2, 10), beat(1, 10, up=False)]
    outcomes = store.add_heartbeats(batch).result(10)
    assert [o.kind for o in outcomes] == ["duplicate", "stored", "stored", "duplicate"]
    assert outcomes[0].record is not None and outcomes[0].record.struct_hash == b"\x01" * 32
    assert outcomes[3].record is not None and outcomes[3].record.service_up  # the first in the list counts
    assert store.commits == commits + 1
    store.close()
    reopened = open_store()
    assert [(h.lease_id, h.sequence) for h in reopened.heartbeats(1, 0, 100)] == [(1, 9), (1, 10)]
    assert [(h.lease_id, h.sequence) for h in reopened.heartbeats(2, 0, 100)] == [(2, 10)]


def attempt(tx: str, nonce: int) -> TxAttempt:
    return TxAttempt(tx, 0, nonce, b"raw" + tx.encode(), 10, 1, 0.0)


def test_one_heartbeat_per_lease_and_sequence(open_store: Opener) -> None:
    store = open_store()
    assert store.add_heartbeat(beat(1, 10)).result(10).kind == "stored"
    again = store.add_heartbeat(beat(1, 10, struct=b"\x02" * 32, up=False)).result(10)
    assert again.kind == "duplicate" and again.record is not None
    assert again.record.struct_hash == b"\x01" * 32 and again.record.service_up
    assert store.add_heartbeat(beat(1, 11)).result(10).kind == "stored"
    assert store.add_heartbeat(beat(2, 10)).result(10).kind == "stored"
    store.close()
    reopened = open_store()
    got = reopened.heartbeats(1, 0, 100)
    assert [(h.sequence, h.service_up) for h in got] == [(10, True), (11, True)]
    assert [h.sequence for h in reopened.heartbeats(1, 11, 12)] == [11]


def test_a_failed_probe_is_never_overwritten_by_a_pass(open_store: Opener) -> None:
    store = open_store()
    store.record_probe(1, 5, True, "ok")
    store.record_probe(1, 5, False, "wrong product")
    store.record_probe(1, 5, True, "ok again")
    store.record_probe(1, 6, True, "ok")
    assert store.failed_probes(1, 0, 100) == [5]
    assert store.failed_probes(1, 6, 100) == []
    assert store.probe_counts(1) == (1, 1)


def test_checkpoints_batches_and_the_shared_nonce(open_store: Opener) -> None:
    store = open_store()
    assert store.add_checkpoint(1, 100, 160, 50, 10, b"\x03" * 32, False)
    assert not store.add_checkpoint(1, 100, 170, 70, 0, b"\x04" * 32, False)  # one per (lease, from)
    assert store.add_checkpoint(2, 100, 200, 100, 0, b"\x00" * 32, True)
    built = store.checkpoints(CHECKPOINT_BUILT)
    assert [c.key for c in built] == [(1, 100), (2, 100)]
    assert built[0].to_time == 160 and built[1].final
    # A receipt batch uses nonce 4; a checkpoint batch then 5: one nonce record for both.
    store.add_receipt(NewReceipt(9, "0xP", "0xW", b"\x09" * 32, "{}", 1)).result(10)
    store.set_status([9], "verified")
    store.create_batch([9], 1, 4, attempt("0xaa", 4))
    assert store.next_nonce() == 5
    batch = store.create_checkpoint_batch([(1, 100), (2, 100)], 1, 5, attempt("0xbb", 5))
    assert store.next_nonce() == 6
    assert [c.status for c in store.lease_checkpoints(1)] == [CHECKPOINT_POSTED]
    with pytest.raises(RuntimeError, match="no longer built"):
        store.create_checkpoint_batch([(1, 100)], 1, 6, attempt("0xcc", 6))
    store.add_checkpoint_attempt(TxAttempt("0xbc", batch.id, 5, b"bump", 20, 2, 1.0))
    store.close()
    store = open_store()
    (opened,) = store.open_checkpoint_batches()
    assert opened.items == [(1, 100), (2, 100)] and [a.tx_hash for a in opened.attempts] == ["0xbb", "0xbc"]
    store.mark_checkpoint_batch_mined(opened.id, "0xbc", 7, "0xh", 50_000)
    assert store.open_checkpoint_batches()[0].mined_hash == "0xh"
    store.mark_checkpoint_batch_unmined(opened.id)
    assert store.open_checkpoint_batches()[0].mined_hash is None
    store.finish_checkpoint_batch(opened.id, {(2, 100): ("0xbc", 7)}, {(1, 100): "stale period"}, [])
    assert store.open_checkpoint_batches() == []
    assert store.lease_checkpoints(2)[0].status == CHECKPOINT_SETTLED
    skipped = store.lease_checkpoints(1)[0]
    assert skipped.status == CHECKPOINT_SKIPPED and skipped.note == "stale period"
    # A skipped checkpoint is replaced by a rebuilt one for the same start.
    assert store.add_checkpoint(1, 100, 190, 90, 0, b"\x05" * 32, False)
    rebuilt = store.lease_checkpoints(1)[0]
    assert (rebuilt.status, rebuilt.to_time, rebuilt.note) == (CHECKPOINT_BUILT, 190, None)


def test_a_failed_checkpoint_batch_puts_its_checkpoints_back(open_store: Opener) -> None:
    store = open_store()
    store.add_checkpoint(3, 10, 20, 10, 0, b"\x00" * 32, False)
    batch = store.create_checkpoint_batch([(3, 10)], 1, 0, attempt("0xdd", 0))
    store.finish_checkpoint_batch(batch.id, {}, {}, [(3, 10)], note="reverted", failed=True)
    assert [c.key for c in store.checkpoints(CHECKPOINT_BUILT)] == [(3, 10)]


def test_prune_forgets_heartbeats_only_behind_old_settled_checkpoints(open_store: Opener) -> None:
    import time

    store = open_store()
    for seq in (10, 11, 50):
        store.add_heartbeat(beat(1, seq)).result(10)  # ts = seq * 30 + 1
    store.add_heartbeat(beat(2, 10)).result(10)  # lease 2 has no settled checkpoint
    store.record_probe(1, 10, False, "late")
    store.add_checkpoint(1, 300, 360, 60, 0, b"\x00" * 32, False)  # covers buckets 10 and 11
    batch = store.create_checkpoint_batch([(1, 300)], 1, 0, attempt("0xee", 0))
    store.finish_checkpoint_batch(batch.id, {(1, 300): ("0xee", 5)}, {}, [])
    assert store.prune(time.time() - 3600).heartbeats == 0  # everything is younger than the cutoff
    result = store.prune(time.time() + 3600)
    assert result.heartbeats == 2 + 0  # heartbeats 10 and 11 (the probe's wall time is after to_time)
    assert [h.sequence for h in store.heartbeats(1, 0, 2**62)] == [50]
    assert [h.sequence for h in store.heartbeats(2, 0, 2**62)] == [10]
    assert result.checkpoints == 2 and store.lease_checkpoints(1) == []  # the checkpoint and its batch


def test_the_receipt_poster_skips_nonces_open_checkpoint_batches_hold(tmp_path: Path) -> None:
    """One account posts both: a receipt batch must not reuse the nonce of a checkpoint batch in flight."""
    from types import SimpleNamespace
    from typing import Any, cast

    from eth_account import Account

    from gpusettle.eip712 import ReceiptVerifier
    from gpusettle.oracle.poster import Poster
    from gpusettle.oracle.quorum import QuorumSigner
    from tests.oracle.helpers import CHAIN_ID, ESCROW

    store = SQLiteStore(tmp_path / "s.sqlite")
    try:
        store.add_checkpoint(1, 10, 20, 10, 0, bytes(32), False)
        store.create_checkpoint_batch([(1, 10)], 1, 3, attempt("0xcp", 3))  # sent, not mined
        account = Account.create()
        chain = SimpleNamespace(chain_id=CHAIN_ID, mined_nonce=lambda address: 3)
        poster = Poster(
            store=store,
            client=cast(Any, SimpleNamespace(chain=chain)),
            account=account,
            signer=QuorumSigner(
                ReceiptVerifier(CHAIN_ID, ESCROW).domain, bytes(account.key), account.address
            ),
            view=cast(Any, SimpleNamespace()),
        )
        assert poster._next_nonce(store.open_batches()) == 4
    finally:
        store.close()


def test_a_worker_endpoint_is_replaced_only_by_a_later_one_and_survives_reopening(open_store: Opener) -> None:
    store = open_store()
    provider = "0x00000000000000000000000000000000000000A1"
    assert store.worker_endpoint(provider) is None
    assert store.record_worker_endpoint(provider, "http://a.example:1", 100, "0xW")
    assert not store.record_worker_endpoint(provider, "http://b.example:1", 100, "0xW")  # same second
    assert not store.record_worker_endpoint(provider, "http://c.example:1", 99, "0xW")  # older
    assert store.worker_endpoint(provider) == ("http://a.example:1", "0xW")
    assert store.record_worker_endpoint(provider, "http://d.example:1", 101, "0xW")
    # Another key (the intake took it as the current worker key): replaces even an announcement dated later.
    assert store.record_worker_endpoint(provider, "http://e.example:1", 50, "0xW2")
    store.close()
    assert open_store().worker_endpoint(provider) == ("http://e.example:1", "0xW2")
