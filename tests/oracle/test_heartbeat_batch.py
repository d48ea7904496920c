"""POST /v1/heartbeats/batch: each heartbeat checked and answered on its own, as POST /v1/heartbeats would
answer it, the good ones committed together before the answer; a malformed batch is one 4xx."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from gpusettle.leases.models import MAX_HEARTBEAT_BATCH, Heartbeat
from gpusettle.oracle.heartbeats import lease_uptime, stored_heartbeats
from gpusettle.oracle.leaseview import StaticLeaseView
from gpusettle.oracle.store import SQLiteStore
from tests.oracle.helpers import (
    CHAIN_ID,
    INTERVAL,
    LEASE_ESCROW,
    OTHER,
    heartbeat_doc,
    lease_app,
    lease_terms,
)

BATCH = "/v1/heartbeats/batch"


@pytest.fixture
def http(store: SQLiteStore, tmp_path: Path) -> Iterator[TestClient]:
    leases = StaticLeaseView(
        CHAIN_ID,
        LEASE_ESCROW,
        {
            1: lease_terms(1),
            2: lease_terms(2, status=1),
            3: lease_terms(3, provider=OTHER),
            4: lease_terms(4),
        },
    )
    app = lease_app(store, tmp_path / "results", leases)
    with TestClient(app.asgi()) as client:
        yield client
    app.close()


def send(http: TestClient, doc: Any, content_type: str = "application/json") -> Any:
    raw = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return http.post(BATCH, content=raw, headers={"content-type": content_type})


def bucket(k: int) -> int:
    return (int(time.time()) // INTERVAL - k) * INTERVAL


def test_each_heartbeat_gets_its_own_answer_in_order(
    http: TestClient, store: SQLiteStore, tmp_path: Path
) -> None:
    first = heartbeat_doc(1, ts=bucket(0))
    forged = heartbeat_doc(4, ts=bucket(0))
    forged["signature"] = "0x" + "00" * 65
    beats = [
        first,
        heartbeat_doc(1, ts=bucket(1)),
        heartbeat_doc(4, ts=bucket(0), up=False),
        forged,
        heartbeat_doc(2),  # not running
        heartbeat_doc(3),  # another provider's lease
        first,  # the same bucket again in the same batch
        {k: v for k, v in heartbeat_doc(1, ts=bucket(2)).items() if k != "signature"},
    ]
    response = send(http, {"heartbeats": beats})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["code"] for r in results] == [202, 202, 202, 422, 409, 422, 200, 422]
    assert [r.get("error") for r in results] == [
        None, None, None, "bad_signature", "lease_not_running", "wrong_provider", None, "invalid_heartbeat",
    ]  # fmt: skip
    assert results[0] == {"code": 202, "status": "stored", "leaseId": 1, "sequence": bucket(0) // INTERVAL}
    assert results[6]["duplicate"] and results[6]["same"]
    assert all(r["reason"] and r["hint"] for r in results if r["code"] >= 400)
    # Durable before the answer: another connection sees exactly the three good ones.
    with sqlite3.connect(tmp_path / "oracle.sqlite") as conn:
        rows = conn.execute(
            "SELECT lease_id, sequence, service_up FROM heartbeats ORDER BY lease_id, sequence"
        )
        assert rows.fetchall() == [
            (1, bucket(1) // INTERVAL, 1),
            (1, bucket(0) // INTERVAL, 1),
            (4, bucket(0) // INTERVAL, 0),
        ]


def test_a_batch_is_one_group_commit(http: TestClient, store: SQLiteStore) -> None:
    before = store.commits
    response = send(http, {"heartbeats": [heartbeat_doc(1, ts=bucket(k)) for k in range(6)]})
    assert [r["code"] for r in response.json()["results"]] == [202] * 6
    assert store.commits == before + 1


def test_a_batched_heartbeat_is_stored_as_if_it_came_alone(http: TestClient, store: SQLiteStore) -> None:
    docs = [heartbeat_doc(1, ts=bucket(k) + 3, up=k != 1) for k in range(1, 4)]
    assert [r["code"] for r in send(http, {"heartbeats": docs}).json()["results"]] == [202] * 3
    kept = stored_heartbeats(store.heartbeats(1, 0, 2**62))
    sent = sorted(
        (Heartbeat.model_validate({k: d[k] for k in Heartbeat.model_fields}) for d in docs),
        key=lambda h: h.sequence,
    )
    assert kept == sent
    span = lease_uptime(store, 1, INTERVAL, bucket(3), bucket(0))
    assert (span.up_seconds, span.down_seconds) == (2 * INTERVAL, INTERVAL)


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        (b"{not json", 400, "malformed_json"),
        ([], 422, "invalid_batch"),
        ({"beats": []}, 422, "invalid_batch"),
        ({"heartbeats": {}}, 422, "invalid_batch"),
        ({"heartbeats": []}, 422, "invalid_batch"),
        ({"heartbeats": [], "extra": 1}, 422, "invalid_batch"),
        (b"x" * 70_000, 413, "body_too_large"),
    ],
)
def test_a_malformed_batch_is_refused_whole(
    http: TestClient, store: SQLiteStore, payload: Any, status: int, code: str
) -> None:
    response = send(http, payload)
    assert response.status_code == status, response.text
    doc = response.json()
    assert doc["error"] == code and doc["reason"] and doc["hint"], doc
    assert store.heartbeats(1, 0, 2**62) == []


def test_too_many_heartbeats_and_the_wrong_media_type(http: TestClient, store: SQLiteStore) -> None:
    beats = [heartbeat_doc(1, ts=bucket(k)) for k in range(MAX_HEARTBEAT_BATCH + 1)]
    response = send(http, {"heartbeats": beats})
    assert response.status_code == 422 and str(MAX_HEARTBEAT_BATCH) in response.json()["reason"]
    wrong = send(http, {"heartbeats": beats[:1]}, content_type="text/plain")
    assert wrong.status_code == 415 and wrong.json()["error"] == "unsupported_media_type"
    assert store.heartbeats(1, 0, 2**62) == []
    # Within the oracle's age window: two running leases, half a batch of buckets each.
    half = MAX_HEARTBEAT_BATCH // 2
    full = send(http, {"heartbeats": [heartbeat_doc(i, ts=bucket(k)) for i in (1, 4) for k in range(half)]})
    assert [r["code"] for r in full.json()["results"]] == [202] * MAX_HEARTBEAT_BATCH


def test_a_store_that_cannot_commit_answers_each_heartbeat_503(http: TestClient, store: SQLiteStore) -> None:
    store._write(lambda conn: conn.execute("PRAGMA query_only=ON"))
    response = send(http, {"heartbeats": [heartbeat_doc(1, ts=bucket(k)) for k in range(3)]})
    assert response.status_code == 200
    assert [(r["code"], r["error"]) for r in response.json()["results"]] == [(503, "store_unavailable")] * 3
    assert store.heartbeats(1, 0, 2**62) == []
