"""The oracle's HTTP API in-process: every bad submission gets a 4xx with a reason and is not stored."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from gpusettle.eip712 import ReceiptVerifier
from gpusettle.hashing import keccak256
from gpusettle.models import CommandWorkload, JobSpec
from gpusettle.oracle.app import IntakeSettings, OracleApp
from gpusettle.oracle.chainview import StaticChainView
from gpusettle.oracle.store import InsertOutcome, NewReceipt, SQLiteStore, StoreUnavailableError
from gpusettle.signed_requests import result_upload_headers
from tests.oracle.helpers import (
    CHAIN_ID,
    ESCROW,
    OTHER_KEY,
    PROVIDER_CS,
    WORKER,
    WORKER_KEY,
    body,
    job,
    oracle_app,
    receipt,
    submission,
)


@pytest.fixture
def view() -> StaticChainView:
    return StaticChainView(CHAIN_ID, ESCROW, {PROVIDER_CS: WORKER})


@pytest.fixture
def app(store: SQLiteStore, view: StaticChainView, tmp_path: Path) -> OracleApp:
    return oracle_app(
        store,
        tmp_path / "results",
        view,
        settings=IntakeSettings(max_body=8192, max_result=4096),
    )


@pytest.fixture
def http(app: OracleApp) -> Iterator[TestClient]:
    with TestClient(app.asgi()) as client:
        yield client


def post(http: TestClient, doc: dict[str, Any]) -> Any:
    return http.post("/v1/receipts", content=body(doc), headers={"content-type": "application/json"})


def test_good_receipt_is_acknowledged_after_commit(http: TestClient, store: SQLiteStore) -> None:
    response = post(http, submission(receipt(7)))
    assert response.status_code == 202, response.text
    assert response.json() == {"status": "received", "job_id": 7}
    stored = store.receipt(7)
    assert stored is not None and stored.status == "received" and stored.signer == WORKER
    status = http.get("/v1/receipts/7").json()
    assert status["status"] == "received" and status["job_id"] == 7


def test_same_receipt_again_is_idempotent(http: TestClient) -> None:
    doc = submission(receipt(8))
    assert post(http, doc).status_code == 202
    again = post(http, doc)
    assert again.status_code == 200 and again.json()["duplicate"] is True


def test_other_receipt_for_the_same_job_conflicts(http: TestClient) -> None:
    assert post(http, submission(receipt(9, gpu_seconds=50))).status_code == 202
    other = post(http, submission(receipt(9, gpu_seconds=60)))
    assert other.status_code == 409 and other.json()["error"] == "conflicting_receipt"


def test_replay_of_a_settled_receipt_is_refused(http: TestClient, store: SQLiteStore) -> None:
    doc = submission(receipt(10))
    assert post(http, doc).status_code == 202
    store.set_status([10], "settled")
    replay = post(http, doc)
    assert replay.status_code == 409 and replay.json()["error"] == "already_settled"
    different = post(http, submission(receipt(10, gpu_seconds=99)))
    assert different.status_code == 409 and different.json()["error"] == "already_settled"


@pytest.mark.parametrize(
    ("doc", "status", "code", "words"),
    [
        (lambda: submission(receipt(20), key=OTHER_KEY), 422, "bad_signature", "not by provider"),
        (lambda: submission(receipt(21), chain_id=1), 422, "bad_signature", "another chain"),
        (lambda: submission(receipt(22), chain_id=1, declare=True), 422, "wrong_chain", "chain id 1"),
        (
            lambda: submission(receipt(23), escrow="0x" + "12" * 20, declare=True),
            422,
            "wrong_escrow",
            "escrow",
        ),
        (lambda: submission(receipt(24, start=2_000_000_000)), 422, "end_in_future", "future"),
        (
            lambda: submission(receipt(25, gpu_seconds=10**9, wall=10)),
            422,
            "impossible_gpu_seconds",
            "cannot",
        ),
        (lambda: {**submission(receipt(26)), "r": "0x" + "00" * 32}, 422, "bad_signature", "invalid"),
        (lambda: {**submission(receipt(27)), "extra": 1}, 422, "invalid_receipt", "extra"),
        (lambda: {"receipt": {"jobId": 1}}, 422, "invalid_receipt", "schema"),
        (lambda: submission(receipt(0)), 422, "unknown_job", "cannot exist"),
    ],
)
def test_bad_receipts_are_refused_with_a_reason(
    http: TestClient, store: SQLiteStore, doc: Any, status: int, code: str, words: str
) -> None:
    response = post(http, doc())
    assert response.status_code == status, response.text
    assert response.json()["error"] == code
    assert words in response.json()["reason"]
    assert store.counts()["received"] == 0


def test_rotated_out_key_is_refused(http: TestClient, view: StaticChainView, app: OracleApp) -> None:
    assert post(http, submission(receipt(30))).status_code == 202
    view.workers[PROVIDER_CS] = "0x" + "44" * 20  # the provider named a new worker key
    app.keys._cache.clear()
    response = post(http, submission(receipt(31)))
    assert response.status_code == 422 and "current worker key" in response.json()["reason"]


@pytest.mark.parametrize(
    "ctype", [None, "text/plain", "application/x-www-form-urlencoded", "application/jsonx"]
)
def test_a_good_receipt_with_the_wrong_content_type_is_refused(
    http: TestClient, store: SQLiteStore, ctype: str | None
) -> None:
    doc = body(submission(receipt(7)))
    headers = {"content-type": ctype} if ctype else {}
    response = http.post("/v1/receipts", content=doc, headers=headers)
    assert response.status_code == 415
    assert (
        response.json()["error"] == "unsupported_media_type"
        and "application/json" in response.json()["reason"]
    )
    assert http.get("/v1/receipts/7").status_code == 404


def test_malformed_json(http: TestClient) -> None:
    response = http.post(
        "/v1/receipts", content=b'{"receipt": {', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400 and response.json()["error"] == "malformed_json"


def test_oversized_body_declared_and_streamed(http: TestClient) -> None:
    big = b'{"pad":"' + b"x" * 9000 + b'"}'
    response = http.post("/v1/receipts", content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413 and "8192" in response.json()["reason"]

    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b"x" * 1000

    streamed = http.post("/v1/receipts", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413


def test_unknown_provider_has_no_worker_key(http: TestClient) -> None:
    response = post(http, submission(receipt(40, provider="0x" + "55" * 20)))
    assert response.status_code == 422 and response.json()["error"] == "no_worker_key"


def test_store_failure_is_a_503_with_reason(
    http: TestClient, app: OracleApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(record: NewReceipt) -> Future[InsertOutcome]:
        future: Future[InsertOutcome] = Future()
        future.set_exception(
            StoreUnavailableError("the oracle's store cannot write: database or disk is full")
        )
        return future

    monkeypatch.setattr(app.store, "add_receipt", failing)
    response = post(http, submission(receipt(50)))
    assert response.status_code == 503 and "disk is full" in response.json()["reason"]


def test_read_only_store_is_a_503(http: TestClient, store: SQLiteStore) -> None:
    assert post(http, submission(receipt(60))).status_code == 202
    store._write(lambda conn: conn.execute("PRAGMA query_only=ON"))  # the writer's connection turns read-only
    response = post(http, submission(receipt(61)))
    assert response.status_code == 503 and response.json()["error"] == "store_unavailable"
    assert "readonly" in response.json()["reason"]
    health = http.get("/health")
    assert health.status_code == 503 and "readonly" in health.json()["reason"]
    assert store.receipt(60) is not None and store.receipt(61) is None


def test_full_disk_is_a_503_and_loses_nothing_acknowledged(http: TestClient, store: SQLiteStore) -> None:
    pages = int(store._reader().execute("PRAGMA page_count").fetchone()[0])
    store._write(lambda conn: conn.execute(f"PRAGMA max_page_count={pages + 2}"))
    acknowledged, refused = [], []
    for job_id in range(100, 160):
        doc = submission(receipt(job_id), evidence={"gpu_names": ["x" * 1500], "gpu_uuids": ["y"]})
        response = post(http, doc)
        (acknowledged if response.status_code == 202 else refused).append((job_id, response))
    assert refused, "the page limit never bit"
    job_id, response = refused[0]
    assert response.status_code == 503 and "full" in response.json()["reason"]
    assert all(store.receipt(j) is not None for j, _ in acknowledged)
    assert all(store.receipt(j) is None for j, _ in refused)


def test_results_are_stored_by_hash(http: TestClient, view: StaticChainView) -> None:
    view.job_table[5] = job(5)
    domain = ReceiptVerifier(CHAIN_ID, ESCROW).domain
    payload = b"product bytes"
    name = "0x" + keccak256(payload).hex()

    def put(target: str, content: bytes) -> Any:
        headers = result_upload_headers(domain, WORKER_KEY, 5, target)
        return http.put(f"/v1/results/{target}", content=content, headers=headers)

    assert put(name, payload).status_code == 201
    assert http.get(f"/v1/results/{name}").content == payload
    wrong = put("0x" + "00" * 32, payload)
    assert wrong.status_code == 422 and wrong.json()["error"] == "hash_mismatch"
    assert put(name, b"x" * 5000).status_code == 413
    assert http.get("/v1/results/nothex").status_code == 400


def test_specs_are_published_under_their_hash(http: TestClient) -> None:
    spec = JobSpec(workload=CommandWorkload(kind="command", argv=["echo", "hi"]))
    name = spec.spec_hash()
    assert http.put(f"/v1/specs/{name}", content=spec.canonical_json()).status_code == 201
    assert JobSpec.model_validate_json(http.get(f"/v1/specs/{name}").content) == spec
    assert http.put("/v1/specs/0x" + "00" * 32, content=spec.canonical_json()).status_code == 422
    assert http.put(f"/v1/specs/{name}", content=b'{"workload": {}}').status_code == 422
    assert http.get("/v1/specs/0x" + "01" * 32).status_code == 404


def test_health_and_metrics(http: TestClient) -> None:
    post(http, submission(receipt(70)))
    post(http, submission(receipt(71), key=OTHER_KEY))
    health = http.get("/health")
    assert health.status_code == 200 and health.json()["receipts"]["received"] == 1
    text = http.get("/metrics").text
    assert 'gpusettle_oracle_intake_total{result="accepted"} 1.0' in text
    assert 'gpusettle_oracle_intake_total{result="bad_signature"} 1.0' in text
    assert 'gpusettle_oracle_receipts{status="received"} 1.0' in text
    assert "gpusettle_oracle_intake_seconds_bucket" in text


def test_unknown_status_and_bad_ids(http: TestClient) -> None:
    assert http.get("/v1/receipts/999").status_code == 404
    assert http.get("/v1/receipts/abc").status_code == 400
    assert http.post("/v1/cosign", content=b"{}").status_code == 404
