"""The Store contract, on SQLite and on PostgreSQL alike: group commits, receipt states, batches,
nonces, atomic rejections, retention; everything survives reopening."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gpusettle.oracle.store import NewReceipt, SQLiteStore, StoreUnavailableError, TxAttempt
from gpusettle.oracle.store.sql import GroupCommitStore
from tests.fixtures.postgres import empty_database

Opener = Callable[[], GroupCommitStore]  # type: ignore[type-arg]


@pytest.fixture(params=["sqlite", "postgres"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens (and reopens) one store of the parametrised kind; closes whatever it opened."""
    opened: list[GroupCommitStore] = []  # type: ignore[type-arg]
    if request.param == "postgres":
        from gpusettle.oracle.store.postgres import PostgresStore

        dsn = request.getfixturevalue("pg_dsn")
        empty_database(dsn)

        def opener() -> GroupCommitStore:  # type: ignore[type-arg]
            store = PostgresStore(dsn)
            opened.append(store)
            return store
    else:

        def opener() -> GroupCommitStore:  # type: ignore[type-arg]
            store = SQLiteStore(tmp_path / "s.sqlite")
            opened.append(store)
            return store

    yield opener
    for store in opened:
        store.close()


def new(job_id: int, struct: bytes = b"\x01" * 32, end: int = 100) -> NewReceipt:
    return NewReceipt(
        job_id=job_id, provider="0xP", signer="0xW", struct_hash=struct, body="{}", end_time=end
    )


def attempt(tx: str, nonce: int, max_fee: int = 10) -> TxAttempt:
    return TxAttempt(
        tx_hash=tx,
        batch_id=0,
        nonce=nonce,
        raw=b"raw" + tx.encode(),
        max_fee=max_fee,
        priority_fee=1,
        created_at=0.0,
    )


def test_concurrent_adds_share_commits(open_store: Opener) -> None:
    store = open_store()
    futures = []
    lock = threading.Lock()

    def add(start: int) -> None:
        for j in range(start, start + 200):
            f = store.add_receipt(new(j))
            with lock:
                futures.append(f)

    threads = [threading.Thread(target=add, args=(1 + 200 * i,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(f.result(timeout=30).kind == "stored" for f in futures)
    assert store.counts()["received"] == 1000
    assert store.commits < 1000  # grouped
    store.close()
    reopened = open_store()
    assert reopened.counts()["received"] == 1000


def test_duplicate_conflict_and_replacing_a_rejected_receipt(open_store: Opener) -> None:
    store = open_store()
    assert store.add_receipt(new(1)).result(timeout=5).kind == "stored"
    assert store.add_receipt(new(1)).result(timeout=5).kind == "duplicate"
    assert store.add_receipt(new(1, b"\x02" * 32)).result(timeout=5).kind == "conflict"
    store.set_status([1], "rejected", "job was Open")
    assert store.add_receipt(new(1, b"\x02" * 32)).result(timeout=5).kind == "stored"
    record = store.receipt(1)
    assert record is not None and record.status == "received" and record.struct_hash == b"\x02" * 32
    assert record.reason is None
    store.set_status([1], "rejected", "fraud")
    store.set_fraud(1, "pending")
    assert store.add_receipt(new(1, b"\x03" * 32)).result(timeout=5).kind == "conflict"  # a fraud stays


def test_batch_lifecycle_and_nonces(open_store: Opener) -> None:
    store = open_store()
    for j in (1, 2, 3):
        store.add_receipt(new(j)).result(timeout=5)
    store.set_status([1, 2, 3], "verified")
    batch = store.create_batch([1, 2], epoch=1, nonce=7, attempt=attempt("0xa", 7))
    assert store.next_nonce() == 8
    assert [r.job_id for r in store.receipts("posted")] == [1, 2]
    with pytest.raises(RuntimeError):
        store.create_batch([2, 3], epoch=1, nonce=8, attempt=attempt("0xb", 8))  # 2 is posted already
    assert store.receipt(3) is not None and store.receipt(3).status == "verified"  # type: ignore[union-attr]
    assert store.next_nonce() == 8  # the failed batch changed nothing
    store.add_attempt(TxAttempt("0xc", batch.id, 7, b"bumped", 20, 2, 1.0))
    (open_batch,) = store.open_batches()
    assert [a.tx_hash for a in open_batch.attempts] == ["0xa", "0xc"]
    assert open_batch.attempts[1].raw == b"bumped" and open_batch.attempts[1].max_fee == 20
    store.mark_mined(batch.id, "0xc", 10, "0xblock", 50_000)
    store.finish_batch(batch.id, {1: ("0xc", 10)}, {2: "job became Cancelled"}, [])
    assert store.open_batches() == []
    assert store.receipt(1).status == "settled" and store.receipt(1).tx_hash == "0xc"  # type: ignore[union-attr]
    assert store.receipt(2).status == "rejected"  # type: ignore[union-attr]
    store.set_next_nonce(5)
    assert store.next_nonce() == 8  # never lowered
    store.set_next_nonce(12)
    assert store.next_nonce() == 12


def test_failed_batch_gives_receipts_back(open_store: Opener) -> None:
    store = open_store()
    for j in (1, 2):
        store.add_receipt(new(j)).result(timeout=5)
    store.set_status([1, 2], "verified")
    batch = store.create_batch([1, 2], epoch=1, nonce=0, attempt=attempt("0xa", 0))
    store.finish_batch(batch.id, {}, {1: "bad signature"}, [2], note="reverted", failed=True)
    assert store.receipt(1).status == "rejected"  # type: ignore[union-attr]
    second = store.receipt(2)
    assert second is not None and second.status == "verified" and second.batch_id is None
    assert store.batch(batch.id).status == "failed"  # type: ignore[union-attr]


def test_specs(open_store: Opener) -> None:
    store = open_store()
    store.put_spec("0xabc", "{}")
    store.put_spec("0xabc", "{ignored}")
    assert store.spec("0xabc") == "{}" and store.spec("0xdef") is None
    assert store.check_writable() is None


def test_reject_records_the_reason_and_the_fraud_together(open_store: Opener) -> None:
    store = open_store()
    store.add_receipt(new(1)).result(timeout=5)
    store.add_receipt(new(2)).result(timeout=5)
    assert store.reject(1, "wrong product", fraud="pending", only_from="received")
    record = store.receipt(1)
    assert record is not None and (record.status, record.reason, record.fraud) == (
        "rejected",
        "wrong product",
        "pending",
    )
    assert [r.job_id for r in store.fraud_pending()] == [1]
    assert not store.reject(1, "again", fraud="pending", only_from="received")  # not received any more
    assert store.receipt(1).reason == "wrong product"  # type: ignore[union-attr]
    assert store.reject(2, "job was Open")
    assert store.receipt(2).fraud is None  # type: ignore[union-attr]


def test_prune_forgets_only_what_retention_allows(open_store: Opener) -> None:
    store = open_store()
    for j in range(1, 7):
        store.add_receipt(new(j)).result(timeout=5)
    store.set_status([1, 2, 3], "verified")
    old = store.create_batch([1, 2], epoch=1, nonce=0, attempt=attempt("0xa", 0))
    store.finish_batch(old.id, {1: ("0xa", 5), 2: ("0xa", 5)}, {}, [])
    store.reject(4, "job was Cancelled")
    store.reject(5, "wrong product", fraud="pending")
    # 3 stays verified, 6 stays received: active receipts are never pruned, however old.
    cutoff_before = store.prune(older_than=0.0)
    assert (cutoff_before.receipts, cutoff_before.batches, cutoff_before.txs) == (0, 0, 0)
    pruned = store.prune(older_than=4e9)
    assert (pruned.receipts, pruned.batches, pruned.txs) == (3, 1, 1)  # 1, 2, 4; the batch and its tx
    assert [j for j in range(1, 7) if store.receipt(j) is not None] == [3, 5, 6]
    assert store.batch(old.id) is None
    assert store.next_nonce() == 1  # the nonce record is kept


def test_prune_keeps_a_closed_batch_an_active_receipt_still_points_to(open_store: Opener) -> None:
    store = open_store()
    for j in (1, 2):
        store.add_receipt(new(j)).result(timeout=5)
    store.set_status([1, 2], "verified")
    batch = store.create_batch([1, 2], epoch=1, nonce=0, attempt=attempt("0xa", 0))
    # Marked failed, its receipts not yet given back (as mid-way through a reconcile).
    store._write(
        lambda conn: store._exec(conn, "UPDATE batches SET status = 'failed' WHERE id = ?", (batch.id,))
    )
    assert store.prune(older_than=4e9).batches == 0
    assert store.batch(batch.id) is not None


def test_one_posting_lease_among_stores_sharing_a_postgres_database(pg_dsn: str) -> None:
    import os

    from gpusettle.oracle.store.postgres import PostgresStore, lease_holder_pid

    empty_database(pg_dsn)
    first, second = PostgresStore(pg_dsn), PostgresStore(pg_dsn)
    try:
        assert lease_holder_pid(pg_dsn) is None
        assert first.hold_posting_lease() is True
        assert second.hold_posting_lease() is False
        assert first.hold_posting_lease() is True  # still held, and checked to be
        assert lease_holder_pid(pg_dsn) == os.getpid()
        # Both take intake and see each other's receipts.
        first.add_receipt(new(1)).result(timeout=5)
        second.add_receipt(new(2)).result(timeout=5)
        assert second.add_receipt(new(1)).result(timeout=5).kind == "duplicate"
        assert first.counts()["received"] == second.counts()["received"] == 2
        first.close()  # gives the lease up at once
        assert second.hold_posting_lease() is True
        assert first.hold_posting_lease() is False  # a closed store never posts
    finally:
        first.close()
        second.close()


def test_a_broken_lease_session_means_no_lease_until_retaken(pg_dsn: str) -> None:
    import psycopg

    from gpusettle.oracle.store.postgres import PostgresStore

    empty_database(pg_dsn)
    store = PostgresStore(pg_dsn)
    try:
        assert store.hold_posting_lease()
        with psycopg.connect(pg_dsn, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name LIKE 'gpusettle-oracle-lease-%'"
            )
        assert store.hold_posting_lease() is False  # noticed at once, posting stops
        assert store.hold_posting_lease() is True  # and a fresh session takes it back
    finally:
        store.close()


def test_a_postgres_writer_survives_a_terminated_connection(pg_dsn: str) -> None:
    import psycopg

    from gpusettle.oracle.store.postgres import PostgresStore

    empty_database(pg_dsn)
    store = PostgresStore(pg_dsn)
    try:
        store.add_receipt(new(1)).result(timeout=5)
        with psycopg.connect(pg_dsn, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'gpusettle-oracle' AND pid <> pg_backend_pid()"
            )
        # The first write meets the dead connection and fails as unavailable; the writer reconnects.
        with pytest.raises(StoreUnavailableError):
            store.add_receipt(new(2)).result(timeout=5)
        assert store.add_receipt(new(2)).result(timeout=5).kind == "stored"
        assert store.receipt(2) is not None
    finally:
        store.close()


def test_a_failing_operation_fails_alone_and_its_group_commits(open_store: Opener) -> None:
    store = open_store()
    gate = threading.Event()
    store._submit(lambda conn: gate.wait(10))  # hold the writer so the next three share one group
    before = store.add_receipt(new(1))
    bad = store.add_receipt(new(2**64))  # no database takes a job id this large
    after = store.add_receipt(new(3))
    gate.set()
    assert before.result(timeout=10).kind == "stored" and after.result(timeout=10).kind == "stored"
    with pytest.raises(Exception):  # noqa: B017 - each database words it its own way
        bad.result(timeout=10)
    assert store.receipt(1) is not None and store.receipt(3) is not None
    assert store.counts()["received"] == 2
