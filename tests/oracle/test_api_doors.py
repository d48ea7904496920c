"""The oracle's HTTP API closed to strangers (issue 9, defect 4): result uploads are signed by the job's
worker key and streamed to disk with a size bound; downloads stream; peer requests are signed by a
member of the oracle set and name no URL; blocking work runs on bounded pools of its own, so /health
answers while peers keep the co-signing pool busy; result payloads are pruned after their retention."""

from __future__ import annotations

import concurrent.futures
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from starlette.testclient import TestClient

from gpusettle.chain import OracleSet
from gpusettle.eip712 import ReceiptVerifier
from gpusettle.hashing import keccak256
from gpusettle.oracle.app import IntakeSettings, OracleApp, PoolSizes
from gpusettle.oracle.chainview import StaticChainView
from gpusettle.oracle.quorum import CosignRequest, PeerFetcher
from gpusettle.oracle.results import ResultFiles
from gpusettle.oracle.store import SQLiteStore
from gpusettle.signed_requests import peer_request_headers, result_upload_headers
from tests.oracle.helpers import CHAIN_ID, ESCROW, OTHER_KEY, PROVIDER_CS, WORKER, WORKER_KEY, job, oracle_app

PEER_KEY = bytes.fromhex("44" * 32)
PEER = Account.from_key(PEER_KEY).address
STRANGER_KEY = bytes.fromhex("55" * 32)
MAX_RESULT = 1024 * 1024
DOMAIN = ReceiptVerifier(CHAIN_ID, ESCROW).domain


class Gate:
    """A co-signing handler that blocks until released: a peer keeping the pool busy."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Semaphore(0)

    def __call__(self, request: CosignRequest, signer: str) -> tuple[int, dict[str, Any]]:
        self.entered.release()
        self.release.wait(10)
        return 200, {"signer": signer, "epoch": request.epoch}


@pytest.fixture
def gate() -> Iterator[Gate]:
    g = Gate()
    yield g
    g.release.set()


@pytest.fixture
def app(tmp_path: Path, gate: Gate) -> Iterator[OracleApp]:
    view = StaticChainView(
        CHAIN_ID,
        ESCROW,
        {PROVIDER_CS: WORKER},
        jobs={1: job(1), 2: job(2, status="Settled")},
        oracle_set=OracleSet((PEER,), 1, 3),
    )
    store = SQLiteStore(tmp_path / "oracle.sqlite")
    oracle = oracle_app(
        store,
        tmp_path / "results",
        view,
        settings=IntakeSettings(max_result=MAX_RESULT, pools=PoolSizes(peers=1, peers_queue=1)),
        cosign=gate,
    )
    yield oracle
    oracle.close()
    store.close()


@pytest.fixture
def http(app: OracleApp) -> Iterator[TestClient]:
    with TestClient(app.asgi()) as client:
        yield client


def name_of(payload: bytes) -> str:
    return "0x" + keccak256(payload).hex()


def upload(
    http: TestClient, payload: bytes, job_id: int = 1, key: bytes = WORKER_KEY, name: str | None = None
) -> Any:
    name = name or name_of(payload)
    return http.put(
        f"/v1/results/{name}", content=payload, headers=result_upload_headers(DOMAIN, key, job_id, name)
    )


def leftovers(app: OracleApp) -> list[str]:
    return sorted(p.name for p in app.results_dir.iterdir())


# -- uploads ----------------------------------------------------------------------------------------------


def test_a_signed_upload_for_a_running_job_is_stored_and_streams_back(
    http: TestClient, app: OracleApp
) -> None:
    payload = os.urandom(3 * 65536 + 17)
    answer = upload(http, payload)
    assert answer.status_code == 201, answer.text
    back = http.get(f"/v1/results/{name_of(payload)}")
    assert back.status_code == 200 and back.content == payload
    assert back.headers["content-type"] == "application/octet-stream"
    assert ResultFiles(app.results_dir).jobs_of(name_of(payload)) == [1]


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("unsigned", 401, "unsigned_upload"),
        ("garbled-signature", 401, "unsigned_upload"),
        ("stranger-key", 403, "not_the_worker"),
        ("unknown-job", 404, "unknown_job"),
        ("settled-job", 409, "job_not_running"),
        ("signed-for-another-hash", 403, "not_the_worker"),
    ],
)
def test_uploads_from_strangers_are_refused_before_the_body_is_read(
    http: TestClient, app: OracleApp, case: str, status: int, code: str
) -> None:
    payload = b"x" * 1000
    name = name_of(payload)
    headers = result_upload_headers(DOMAIN, WORKER_KEY, 1, name)
    if case == "unsigned":
        headers = {}
    elif case == "garbled-signature":
        headers["x-gpusettle-signature"] = "0x1234"
    elif case == "stranger-key":
        headers = result_upload_headers(DOMAIN, OTHER_KEY, 1, name)
    elif case == "unknown-job":
        headers = result_upload_headers(DOMAIN, WORKER_KEY, 99, name)
    elif case == "settled-job":
        headers = result_upload_headers(DOMAIN, WORKER_KEY, 2, name)
    elif case == "signed-for-another-hash":
        headers = result_upload_headers(DOMAIN, WORKER_KEY, 1, name_of(b"other"))
    answer = http.put(f"/v1/results/{name}", content=payload, headers=headers)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"] == code and answer.json()["reason"]
    assert leftovers(app) == []


def test_an_oversized_upload_is_cut_off_and_leaves_nothing(http: TestClient, app: OracleApp) -> None:
    chunk = b"y" * 16384
    total = MAX_RESULT + len(chunk)
    name = name_of(chunk * (total // len(chunk)))

    def body() -> Iterator[bytes]:  # no content-length: the limit must bite while streaming
        for _ in range(total // len(chunk)):
            yield chunk

    answer = http.put(
        f"/v1/results/{name}", content=body(), headers=result_upload_headers(DOMAIN, WORKER_KEY, 1, name)
    )
    assert answer.status_code == 413 and answer.json()["error"] == "body_too_large"
    assert leftovers(app) == []


def test_a_payload_that_does_not_hash_to_its_name_is_dropped(http: TestClient, app: OracleApp) -> None:
    name = name_of(b"the real product")
    answer = upload(http, b"something else", name=name)
    assert answer.status_code == 422 and answer.json()["error"] == "hash_mismatch"
    assert leftovers(app) == []


# -- peers -----------------------------------------------------------------------------------------------


def cosign_body(**extra: Any) -> bytes:
    return json.dumps({"epoch": 3, "receipts": [], "specs": {}, **extra}).encode()


def signed_cosign(http: TestClient, body: bytes, key: bytes = PEER_KEY, at: int | None = None) -> Any:
    address = Account.from_key(key).address
    stamp = int(time.time()) if at is None else at
    headers = peer_request_headers(DOMAIN, key, address, "POST", "/v1/cosign", stamp, body)
    return http.post("/v1/cosign", content=body, headers={**headers, "content-type": "application/json"})


def test_a_peer_request_from_the_oracle_set_reaches_the_cosigner(http: TestClient, gate: Gate) -> None:
    gate.release.set()
    answer = signed_cosign(http, cosign_body())
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"signer": PEER, "epoch": 3}


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("unsigned", 401, "unsigned_peer_request"),
        ("stranger", 403, "not_an_oracle_peer"),
        ("stale", 401, "unsigned_peer_request"),
        ("tampered-body", 401, "unsigned_peer_request"),
        ("results-url", 422, "invalid_request"),
    ],
)
def test_peer_requests_from_outside_the_oracle_set_are_refused(
    http: TestClient, gate: Gate, case: str, status: int, code: str
) -> None:
    gate.release.set()
    body = cosign_body()
    if case == "unsigned":
        answer = http.post("/v1/cosign", content=body)
    elif case == "stranger":
        answer = signed_cosign(http, body, key=STRANGER_KEY)
    elif case == "stale":
        answer = signed_cosign(http, body, at=int(time.time()) - 3600)
    elif case == "tampered-body":
        stamp = int(time.time())
        headers = peer_request_headers(DOMAIN, PEER_KEY, PEER, "POST", "/v1/cosign", stamp, body)
        answer = http.post("/v1/cosign", content=cosign_body(epoch=4), headers=headers)
    else:  # the old server-side request forgery: a URL in the body for the oracle to fetch
        answer = signed_cosign(http, cosign_body(results_url="http://169.254.169.254/latest/meta-data"))
    assert answer.status_code == status, answer.text
    assert answer.json()["error"] == code and answer.json()["reason"]
    assert gate.entered.acquire(timeout=0) is False, "the co-signer ran"


def test_cosign_requests_take_no_url() -> None:
    with pytest.raises(ValueError, match="results_url"):
        CosignRequest.model_validate({"epoch": 1, "receipts": [], "results_url": "http://10.0.0.1/"})


def test_health_answers_while_peers_keep_the_cosigning_pool_busy(
    http: TestClient, app: OracleApp, gate: Gate
) -> None:
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        stuck = [pool.submit(signed_cosign, http, cosign_body()) for _ in range(2)]  # pool of 1 + queue of 1
        assert gate.entered.acquire(timeout=5)
        deadline = time.monotonic() + 5
        while app.peers_pool.pending < 2 and time.monotonic() < deadline:  # the second one queues
            time.sleep(0.01)
        assert app.peers_pool.pending == 2
        started = time.perf_counter()
        health = http.get("/health")
        assert health.status_code == 200 and time.perf_counter() - started < 1.0
        extra = signed_cosign(http, cosign_body())
        assert extra.status_code == 503 and extra.json()["error"] == "busy"
        gate.release.set()
        assert [f.result(timeout=10).status_code for f in stuck] == [200, 200]


def test_peer_payloads_come_only_from_configured_peers_and_are_checked() -> None:
    good = b"the product"
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        if request.url.host == "bad-peer":
            return httpx.Response(200, content=b"not it")
        if request.url.host == "big-peer":
            return httpx.Response(200, content=b"z" * 5000)
        return httpx.Response(200, content=good)

    fetcher = PeerFetcher(
        ["http://bad-peer", "http://big-peer", "http://good-peer:8700/"],
        max_result=4096,
        transport=httpx.MockTransport(handler),
    )
    assert fetcher.result(name_of(good)) == good
    assert {httpx.URL(u).host for u in asked} == {"bad-peer", "big-peer", "good-peer"}
    assert fetcher.result("not a hash") is None


# -- retention -------------------------------------------------------------------------------------------


def test_result_payloads_are_pruned_after_settlement_plus_window_plus_margin(tmp_path: Path) -> None:
    files = ResultFiles(tmp_path)
    now = time.time()
    keep = 1000.0
    states: dict[int, tuple[str, float]] = {
        1: ("settled", now - keep - 1),  # past its retention
        2: ("settled", now - 10),  # inside the dispute window
        3: ("verified", now - 10 * keep),  # not final: kept however old
        5: ("rejected", now - keep - 1),
    }
    names = {}
    for job_id in (1, 2, 3, 4, 5):
        payload = f"payload {job_id}".encode()
        name = name_of(payload)
        upload_ = files.begin(1 << 20)
        assert upload_.write(payload)
        assert files.finish(upload_, name, job_id)
        names[job_id] = name
    old = now - keep - 5
    os.utime(files.path(names[4]), (old, old))  # job 4 never got a receipt and was uploaded long ago
    removed = files.prune(states.get, keep, now=now)
    assert sorted(removed) == sorted([names[1], names[4], names[5]])
    assert {p.name for p in tmp_path.iterdir()} == {
        names[2],
        names[3],
        f"{names[2]}.jobs",
        f"{names[3]}.jobs",
    }


# -- the clock ---------------------------------------------------------------------------------------------


def test_the_apps_clock_is_injectable(tmp_path: Path) -> None:
    """Tests move the oracle's time instead of waiting: a receipt ending in an hour is "in the future" now
    and fine once the clock is moved past it."""
    from tests.oracle.helpers import body, receipt, submission

    offset = [0.0]
    store = SQLiteStore(tmp_path / "oracle.sqlite")
    app = oracle_app(
        store,
        tmp_path / "results",
        clock=lambda: time.time() + offset[0],
    )
    later = body(submission(receipt(3, start=int(time.time()) + 3600, wall=10)))
    headers = {"content-type": "application/json"}
    try:
        with TestClient(app.asgi()) as client:
            early = client.post("/v1/receipts", content=later, headers=headers)
            assert early.status_code == 422 and early.json()["error"] == "end_in_future"
            offset[0] = 7200.0
            assert client.post("/v1/receipts", content=later, headers=headers).status_code == 202
    finally:
        app.close()
        store.close()
