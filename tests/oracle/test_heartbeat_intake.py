"""POST /v1/heartbeats in-process: durable before 202, one per (lease, sequence), every bad heartbeat a
4xx with error, reason and hint, and nothing stored for it."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from gpusettle.oracle.leaseview import StaticLeaseView
from gpusettle.oracle.store import SQLiteStore
from tests.oracle.helpers import (
    CHAIN_ID,
    INTERVAL,
    LEASE_ESCROW,
    OTHER,
    OTHER_KEY,
    PROVIDER_CS,
    body,
    heartbeat_doc,
    lease_app,
    lease_terms,
)


@pytest.fixture
def leases() -> StaticLeaseView:
    return StaticLeaseView(
        CHAIN_ID,
        LEASE_ESCROW,
        {1: lease_terms(1), 2: lease_terms(2, status=1), 3: lease_terms(3, provider=OTHER)},
    )


@pytest.fixture
def http(store: SQLiteStore, leases: StaticLeaseView, tmp_path: Path) -> Iterator[TestClient]:
    app = lease_app(store, tmp_path / "results", leases)
    with TestClient(app.asgi()) as client:
        yield client
    app.close()


def post(http: TestClient, doc: dict[str, Any]) -> Any:
    return http.post("/v1/heartbeats", content=body(doc), headers={"content-type": "application/json"})


def refused(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    doc: dict[str, Any] = response.json()
    assert doc["error"] == code and doc["reason"] and doc["hint"], doc
    return doc


def test_good_heartbeat_is_durable_before_202(http: TestClient, tmp_path: Path) -> None:
    ts = int(time.time())
    response = post(http, heartbeat_doc(1, ts=ts))
    assert response.status_code == 202, response.text
    assert response.json() == {"status": "stored", "leaseId": 1, "sequence": ts // INTERVAL}
    # Another connection (another process would do the same) sees it committed.
    with sqlite3.connect(tmp_path / "oracle.sqlite") as conn:
        rows = conn.execute("SELECT lease_id, sequence, service_up FROM heartbeats").fetchall()
    assert rows == [(1, ts // INTERVAL, 1)]


def test_duplicate_sequence_is_idempotent_and_the_first_counts(http: TestClient, store: SQLiteStore) -> None:
    ts = (int(time.time()) // INTERVAL) * INTERVAL
    first = heartbeat_doc(1, ts=ts)
    assert post(http, first).status_code == 202
    again = post(http, first)
    assert again.status_code == 200 and again.json()["duplicate"] and again.json()["same"]
    # A restarted worker re-sends the bucket with another timestamp and a down verdict: not counted.
    other = post(http, heartbeat_doc(1, ts=ts + 1, up=False))
    assert other.status_code == 200 and other.json()["duplicate"] and not other.json()["same"]
    rows = store.heartbeats(1, 0, 2**62)
    assert len(rows) == 1 and rows[0].timestamp == ts and rows[0].service_up


def test_bad_signature_is_refused(http: TestClient, store: SQLiteStore) -> None:
    doc = heartbeat_doc(1)
    refused(post(http, {**doc, "signature": "0x" + "00" * 65}), 422, "bad_signature")
    # A signed field changed after signing recovers another address: not the worker.
    tampered = heartbeat_doc(1, up=True, tamper={"serviceUp": False, "evidence": doc["evidence"]})
    tampered["evidenceHash"] = doc["evidenceHash"]
    refused(post(http, tampered), 403, "not_the_worker")
    assert store.heartbeats(1, 0, 2**62) == []


def test_wrong_key_is_refused(http: TestClient, store: SQLiteStore) -> None:
    doc = refused(post(http, heartbeat_doc(1, key=OTHER_KEY)), 403, "not_the_worker")
    assert "worker key" in doc["reason"]
    assert store.heartbeats(1, 0, 2**62) == []


def test_unknown_not_running_and_foreign_leases(http: TestClient, store: SQLiteStore) -> None:
    refused(post(http, heartbeat_doc(99)), 404, "unknown_lease")
    refused(post(http, heartbeat_doc(0)), 404, "unknown_lease")
    refused(post(http, heartbeat_doc(2)), 409, "lease_not_running")
    refused(post(http, heartbeat_doc(3)), 422, "wrong_provider")
    assert all(store.heartbeats(i, 0, 2**62) == [] for i in (0, 2, 3, 99))


def test_clock_skew_and_staleness(http: TestClient) -> None:
    now = int(time.time())
    refused(post(http, heartbeat_doc(1, ts=now + 120)), 422, "clock_skew")
    refused(post(http, heartbeat_doc(1, ts=now - 3600)), 422, "stale_heartbeat")
    assert post(http, heartbeat_doc(1, ts=now + 5)).status_code == 202


def test_shape_sequence_and_evidence(http: TestClient) -> None:
    now = int(time.time())
    refused(post(http, heartbeat_doc(1, ts=now, seq=now // INTERVAL + 1)), 422, "wrong_sequence")
    doc = heartbeat_doc(1)
    doc["evidence"] = {**doc["evidence"], "pid": 1}
    refused(post(http, doc), 422, "evidence_mismatch")
    refused(
        post(http, {k: v for k, v in heartbeat_doc(1).items() if k != "signature"}), 422, "invalid_heartbeat"
    )
    bad = http.post("/v1/heartbeats", content=b"{not json", headers={"content-type": "application/json"})
    refused(bad, 400, "malformed_json")
    text = http.post("/v1/heartbeats", content=body(heartbeat_doc(1)), headers={"content-type": "text/plain"})
    refused(text, 415, "unsupported_media_type")
    big = http.post("/v1/heartbeats", content=b"x" * 70_000, headers={"content-type": "application/json"})
    refused(big, 413, "body_too_large")


def test_a_store_that_cannot_commit_is_a_503_and_stores_nothing(http: TestClient, store: SQLiteStore) -> None:
    store._write(lambda conn: conn.execute("PRAGMA query_only=ON"))
    response = post(http, heartbeat_doc(1))
    assert response.status_code == 503 and response.json()["error"] == "store_unavailable"
    assert store.heartbeats(1, 0, 2**62) == []


def test_heartbeats_are_off_without_a_lease_escrow(store: SQLiteStore, tmp_path: Path) -> None:
    from tests.oracle.helpers import oracle_app

    app = oracle_app(store, tmp_path / "results")
    with TestClient(app.asgi()) as client:
        refused(post(client, heartbeat_doc(1)), 404, "leases_disabled")
    app.close()


def test_uptime_endpoint(http: TestClient, store: SQLiteStore) -> None:
    now = int(time.time())
    base = (now // INTERVAL - 6) * INTERVAL
    for k, up in enumerate([True, True, False, True]):
        assert post(http, heartbeat_doc(1, ts=base + k * INTERVAL + 3, up=up)).status_code == 202
    store.record_probe(1, base // INTERVAL + 3, False, "no answer")
    got = http.get(f"/v1/leases/1/uptime?from={base}&to={base + 6 * INTERVAL}").json()
    assert (got["upSeconds"], got["downSeconds"], got["heartbeats"]) == (60, 120, 4)
    assert got["probes"] == {"passed": 0, "failed": 1}
    default = http.get("/v1/leases/1/uptime").json()
    assert default["from"] == lease_terms(1).paidThrough and default["upSeconds"] == 60
    assert http.get("/v1/leases/99/uptime").status_code == 404
    assert http.get("/v1/leases/x/uptime").status_code == 400
    assert http.get(f"/v1/leases/1/uptime?from={base}&to={base - 1}").status_code == 400
    assert PROVIDER_CS  # the lease's provider signed them all
