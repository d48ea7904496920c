"""The store's single writer thread cannot be killed or wedged by its callers (issue 9, defect 1).

A cancelled caller (an HTTP request cancelled at shutdown, a client that went away) must never harm
the writer; an exception anywhere in a group fails that group only; /health says 503 within a second
when the writer is dead or stuck."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from gpusettle.oracle.store import NewReceipt, SQLiteStore, StoreUnavailableError
from tests.oracle.helpers import oracle_app


def new(job_id: int) -> NewReceipt:
    return NewReceipt(
        job_id=job_id, provider="0xP", signer="0xW", struct_hash=b"\x01" * 32, body="{}", end_time=1
    )


def _hold_writer(store: SQLiteStore, gate: threading.Event) -> None:
    """Queue an operation that keeps the writer busy until `gate` is set."""
    store._submit(lambda conn: gate.wait(10))


def test_a_cancelled_caller_does_not_kill_the_writer(store: SQLiteStore) -> None:
    gate = threading.Event()
    _hold_writer(store, gate)
    cancelled = store.add_receipt(new(1))
    assert cancelled.cancel()  # still queued behind the held operation
    gate.set()
    assert store.add_receipt(new(2)).result(timeout=5).kind == "stored"
    assert store.receipt(1) is None  # the cancelled caller's write was not done behind its back


def test_an_asyncio_cancellation_during_intake_leaves_the_writer_alive(store: SQLiteStore) -> None:
    gate = threading.Event()
    _hold_writer(store, gate)

    async def cancelled_request() -> None:
        task = asyncio.ensure_future(asyncio.wrap_future(store.add_receipt(new(3))))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancelled_request())
    gate.set()
    assert store.add_receipt(new(4)).result(timeout=5).kind == "stored"


def test_an_exception_outside_any_operation_fails_its_group_only(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = store._commit_group
    calls = {"n": 0}

    def broken_once(conn: object, group: list[object]) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("injected failure while committing")
        real(conn, group)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "_commit_group", broken_once)
    with pytest.raises(StoreUnavailableError, match="injected failure"):
        store.add_receipt(new(5)).result(timeout=5)
    assert store.add_receipt(new(6)).result(timeout=5).kind == "stored"


def test_check_writable_reports_a_stuck_writer_within_a_second(store: SQLiteStore) -> None:
    gate = threading.Event()
    _hold_writer(store, gate)
    started = time.monotonic()
    problem = store.check_writable()
    assert time.monotonic() - started < 1.5
    assert problem is not None and "stuck" in problem
    gate.set()
    assert store.check_writable() is None


def test_check_writable_reports_a_dead_writer(store: SQLiteStore) -> None:
    store._stop_writer()
    started = time.monotonic()
    problem = store.check_writable()
    assert time.monotonic() - started < 1.5
    assert problem is not None and "writer" in problem and "stopped" in problem


def test_writes_on_a_dead_writer_fail_instead_of_waiting_forever(store: SQLiteStore) -> None:
    store._stop_writer()
    store.write_timeout = 0.5
    with pytest.raises(StoreUnavailableError):
        store.set_status([1], "verified")


def test_health_is_503_within_a_second_when_the_writer_is_stuck(store: SQLiteStore, tmp_path: Path) -> None:
    app = oracle_app(store, tmp_path / "results")
    gate = threading.Event()
    with TestClient(app.asgi()) as http:
        assert http.get("/health").status_code == 200
        _hold_writer(store, gate)
        started = time.monotonic()
        health = http.get("/health")
        assert time.monotonic() - started < 1.5
        gate.set()
    assert health.status_code == 503 and "stuck" in health.json()["reason"]


def test_intake_answers_503_when_the_writer_does_not_commit_in_time(
    store: SQLiteStore, tmp_path: Path
) -> None:
    from gpusettle.oracle.app import IntakeSettings
    from tests.oracle.helpers import body, receipt, submission

    app = oracle_app(
        store,
        tmp_path / "results",
        settings=IntakeSettings(store_timeout=0.5),
    )
    gate = threading.Event()
    with TestClient(app.asgi()) as http:
        _hold_writer(store, gate)
        started = time.monotonic()
        response = http.post(
            "/v1/receipts", content=body(submission(receipt(9))), headers={"content-type": "application/json"}
        )
        waited = time.monotonic() - started
        gate.set()
        assert response.status_code == 503 and response.json()["error"] == "store_unavailable"
        assert "retry" in response.json()["reason"] and waited < 3
        assert store.receipt(9) is None  # it was still queued, so it was withdrawn, not stored later
        again = http.post(
            "/v1/receipts", content=body(submission(receipt(9))), headers={"content-type": "application/json"}
        )
        assert again.status_code == 202
