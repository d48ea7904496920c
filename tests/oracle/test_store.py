"""The SQLite store: group commits, receipt states, batches, nonces; survives reopening."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from gpusettle.oracle.store import NewReceipt, SQLiteStore, TxAttempt


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


def test_concurrent_adds_share_commits(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.sqlite")
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
    assert all(f.result().kind == "stored" for f in futures)
    assert store.counts()["received"] == 1000
    assert store.commits < 1000  # grouped
    store.close()
    reopened = SQLiteStore(tmp_path / "s.sqlite")
    assert reopened.counts()["received"] == 1000
    reopened.close()


def test_duplicate_conflict_and_replacing_a_rejected_receipt(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.sqlite")
    assert store.add_receipt(new(1)).result().kind == "stored"
    assert store.add_receipt(new(1)).result().kind == "duplicate"
    assert store.add_receipt(new(1, b"\x02" * 32)).result().kind == "conflict"
    store.set_status([1], "rejected", "job was Open")
    assert store.add_receipt(new(1, b"\x02" * 32)).result().kind == "stored"
    record = store.receipt(1)
    assert record is not None and record.status == "received" and record.struct_hash == b"\x02" * 32
    store.set_status([1], "rejected", "fraud")
    store.set_fraud(1, "pending")
    assert store.add_receipt(new(1, b"\x03" * 32)).result().kind == "conflict"  # a fraud stays on record
    store.close()


def test_batch_lifecycle_and_nonces(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.sqlite")
    for j in (1, 2, 3):
        store.add_receipt(new(j)).result()
    store.set_status([1, 2, 3], "verified")
    batch = store.create_batch([1, 2], epoch=1, nonce=7, attempt=attempt("0xa", 7))
    assert store.next_nonce() == 8
    assert [r.job_id for r in store.receipts("posted")] == [1, 2]
    with pytest.raises(RuntimeError):
        store.create_batch([2, 3], epoch=1, nonce=8, attempt=attempt("0xb", 8))  # 2 is posted already
    assert store.receipt(3) is not None and store.receipt(3).status == "verified"  # type: ignore[union-attr]
    store.add_attempt(TxAttempt("0xc", batch.id, 7, b"bumped", 20, 2, 1.0))
    (open_batch,) = store.open_batches()
    assert [a.tx_hash for a in open_batch.attempts] == ["0xa", "0xc"]
    store.mark_mined(batch.id, "0xc", 10, "0xblock", 50_000)
    store.finish_batch(batch.id, {1: ("0xc", 10)}, {2: "job became Cancelled"}, [])
    assert store.open_batches() == []
    assert store.receipt(1).status == "settled" and store.receipt(1).tx_hash == "0xc"  # type: ignore[union-attr]
    assert store.receipt(2).status == "rejected"  # type: ignore[union-attr]
    store.set_next_nonce(5)
    assert store.next_nonce() == 8  # never lowered
    store.close()


def test_failed_batch_gives_receipts_back(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.sqlite")
    for j in (1, 2):
        store.add_receipt(new(j)).result()
    store.set_status([1, 2], "verified")
    batch = store.create_batch([1, 2], epoch=1, nonce=0, attempt=attempt("0xa", 0))
    store.finish_batch(batch.id, {}, {1: "bad signature"}, [2], note="reverted", failed=True)
    assert store.receipt(1).status == "rejected"  # type: ignore[union-attr]
    second = store.receipt(2)
    assert second is not None and second.status == "verified" and second.batch_id is None
    assert store.batch(batch.id).status == "failed"  # type: ignore[union-attr]
    store.close()


def test_specs(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.sqlite")
    store.put_spec("0xabc", "{}")
    store.put_spec("0xabc", "{ignored}")
    assert store.spec("0xabc") == "{}" and store.spec("0xdef") is None
    assert store.check_writable() is None
    store.close()
