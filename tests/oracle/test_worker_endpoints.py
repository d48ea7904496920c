"""POST /v1/workers/endpoint: a worker tells the oracle where it answers probes, signed by its worker key.
Each refusal is a 4xx with error, reason and hint and keeps nothing; what is kept is what the prober and
the hardware checks use, after the operator's own --worker-url."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from gpusettle.leases.eip712 import lease_domain, sign_worker_endpoint
from gpusettle.leases.models import WorkerEndpoint
from gpusettle.oracle.endpoints import EndpointSettings, WorkerUrls, worker_url_problem
from gpusettle.oracle.probes import Prober, ProbeSettings
from gpusettle.oracle.store import SQLiteStore
from tests.oracle.helpers import (
    CHAIN_ID,
    LEASE_ESCROW,
    OTHER_KEY,
    PROVIDER_CS,
    WORKER,
    WORKER_KEY,
    lease_app,
    lease_terms,
    oracle_app,
)

DOMAIN = lease_domain(CHAIN_ID, LEASE_ESCROW)
PUBLIC = "http://93.184.216.34:8800"  # an address literal: checked without a name server


def announcement(url: str = PUBLIC, *, key: bytes = WORKER_KEY, issued: int | None = None, **tamper: Any) -> dict[str, Any]:  # fmt: skip
    endpoint = WorkerEndpoint(
        provider=PROVIDER_CS, url=url, issuedAt=int(time.time()) if issued is None else issued
    )
    doc = {**endpoint.model_dump(), "signature": sign_worker_endpoint(endpoint, DOMAIN, key)}
    return {**doc, **tamper}


def _client(store: SQLiteStore, tmp_path: Path, allow_private: bool) -> Iterator[TestClient]:
    app = lease_app(
        store, tmp_path / "results", endpoint_settings=EndpointSettings(allow_private=allow_private)
    )
    with TestClient(app.asgi()) as client:
        yield client
    app.close()


@pytest.fixture
def http(store: SQLiteStore, tmp_path: Path) -> Iterator[TestClient]:
    yield from _client(store, tmp_path, allow_private=False)


def post(http: TestClient, doc: dict[str, Any]) -> httpx.Response:
    return http.post(
        "/v1/workers/endpoint", content=json.dumps(doc), headers={"content-type": "application/json"}
    )


def refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    doc: dict[str, Any] = response.json()
    assert doc["error"] == code and doc.get("reason"), doc
    return doc


def test_a_signed_announcement_is_kept_and_served(http: TestClient, store: SQLiteStore) -> None:
    response = post(http, announcement())
    assert response.status_code == 202, response.text
    assert store.worker_endpoint(PROVIDER_CS) == (PUBLIC, WORKER)
    got = http.get(f"/v1/workers/{PROVIDER_CS.lower()}/endpoint")
    assert got.status_code == 200 and got.json() == {"provider": PROVIDER_CS, "url": PUBLIC, "signer": WORKER}
    refused(
        http.get("/v1/workers/0x00000000000000000000000000000000000000b2/endpoint"), 404, "unknown_endpoint"
    )
    refused(http.get("/v1/workers/nope/endpoint"), 400, "bad_address")


def test_only_the_current_worker_key_may_announce(http: TestClient, store: SQLiteStore) -> None:
    doc = refused(post(http, announcement(key=OTHER_KEY)), 403, "not_the_worker")
    assert "current worker key" in doc["reason"] and doc["hint"]
    # The URL changed after signing: the signature recovers someone else.
    refused(
        post(http, announcement(url="http://93.184.216.35:8800") | {"url": PUBLIC}), 403, "not_the_worker"
    )
    refused(post(http, announcement(signature="0x" + "00" * 65)), 422, "bad_signature")
    assert store.worker_endpoint(PROVIDER_CS) is None


def test_an_older_announcement_replayed_cannot_move_the_worker_back(
    http: TestClient, store: SQLiteStore
) -> None:
    now = int(time.time())
    old = announcement("http://93.184.216.35:8800", issued=now - 60)
    assert post(http, old).status_code == 202
    assert post(http, announcement(issued=now)).status_code == 202
    doc = refused(post(http, old), 409, "superseded")
    assert doc["hint"]
    refused(post(http, announcement("http://93.184.216.36:8800", issued=now)), 409, "superseded")
    assert store.worker_endpoint(PROVIDER_CS) == (PUBLIC, WORKER)


def test_stale_or_future_announcements_are_refused(http: TestClient, store: SQLiteStore) -> None:
    now = int(time.time())
    refused(post(http, announcement(issued=now - 3600)), 422, "stale_endpoint")
    refused(post(http, announcement(issued=now + 600)), 422, "stale_endpoint")
    assert store.worker_endpoint(PROVIDER_CS) is None


@pytest.mark.parametrize(
    "url",
    [
        "ftp://93.184.216.34/x",
        "http://user:pw@93.184.216.34:8800",
        "http://93.184.216.34:8800/?next=http://10.0.0.1",
        "http://93.184.216.34:8800/#frag",
        "http://127.0.0.1:8800",
        "http://10.0.0.5:8800",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:8800",
        "http://[fd00::1]:8800",
        "http://0.0.0.0:8800",
        "http://gpu-box.invalid:8800",
        "http://93.184.216.34:0",
        "http://93.184.216.34:99999",
        # The third review: forms the check and the HTTP client read differently, or ranges is_global misses.
        "http://93.184.216.34\t:8800",
        "http://93.184.216.34:8800/\n",
        "http://fa\u00df.example.org:8800",
        "http://93.184.216.34:8800/#",
        "http://93.184.216.34:8800/?",
        "http://93.184.216.34\\@127.0.0.1:8800",
        "http://[::ffff:127.0.0.1]:8800",
        "http://[::127.0.0.1]:8800",
        "http://[64:ff9b::a9fe:a9fe]:8800",
        "http://[2002:a9fe:a9fe::1]:8800",
        "http://[fec0::1]:8800",
        "http://192.0.0.8:8800",
        "http://224.0.0.1:8800",
    ],
)
def test_urls_the_oracle_will_not_call_are_refused(http: TestClient, store: SQLiteStore, url: str) -> None:
    doc = refused(post(http, announcement(url)), 422, "url_refused")
    assert doc["hint"]
    assert store.worker_endpoint(PROVIDER_CS) is None


def test_a_stranger_learns_nothing_of_the_oracles_name_lookups(http: TestClient, store: SQLiteStore) -> None:
    """The key is checked before the name is looked up: an unsigned announcement of a private or unknown host
    gets not_the_worker, never the addresses or the resolver's error."""
    for url in ("http://localhost:8800", "http://10.0.0.5:8800", "http://no-such-host.internal:8800"):
        doc = refused(post(http, announcement(url, key=OTHER_KEY)), 403, "not_the_worker")
        assert "127.0.0.1" not in doc["reason"] and "resolve" not in doc["reason"]


def test_a_rotated_out_keys_announcement_is_not_used_and_a_new_keys_replaces_it(store: SQLiteStore) -> None:
    now = int(time.time())
    store.record_worker_endpoint(PROVIDER_CS, "http://93.184.216.35:8800", now + 15, "0xOld")
    current = {PROVIDER_CS: "0xNew"}
    urls = WorkerUrls({}, store, current_worker=current.get)
    assert urls.get(PROVIDER_CS) is None  # signed by a key that is no longer the worker's
    # The new key's announcement replaces it though it was issued earlier than the old key's (a thief's +15 s).
    assert store.record_worker_endpoint(PROVIDER_CS, PUBLIC, now, "0xNew")
    assert urls.get(PROVIDER_CS) == PUBLIC


def test_private_addresses_are_taken_where_the_operator_allows_them(
    store: SQLiteStore, tmp_path: Path
) -> None:
    for http in _client(store, tmp_path, allow_private=True):
        assert post(http, announcement("http://127.0.0.1:8800")).status_code == 202
        refused(post(http, announcement("ftp://127.0.0.1/x")), 422, "url_refused")
    assert store.worker_endpoint(PROVIDER_CS) == ("http://127.0.0.1:8800", WORKER)
    # Used only while allowed: an oracle that refuses private addresses does not reach it.
    assert WorkerUrls({}, store, allow_private=True).get(PROVIDER_CS) == "http://127.0.0.1:8800"
    assert WorkerUrls({}, store, allow_private=False).get(PROVIDER_CS) is None


def test_a_name_is_checked_again_when_it_is_used(store: SQLiteStore) -> None:
    answers = {"gpu-box.example.org": ["93.184.216.34"]}

    def resolve(host: str) -> list[str]:
        return answers[host]

    assert worker_url_problem("http://gpu-box.example.org:8800", allow_private=False, resolve=resolve) is None
    store.record_worker_endpoint(PROVIDER_CS, "http://gpu-box.example.org:8800", int(time.time()), "0x")
    urls = WorkerUrls({}, store, allow_private=False, resolve=resolve)
    assert urls.get(PROVIDER_CS) == "http://gpu-box.example.org:8800"
    answers["gpu-box.example.org"] = ["93.184.216.34", "10.1.2.3"]  # the name now points inside too
    assert urls.get(PROVIDER_CS) is None


def test_the_operators_worker_url_wins(store: SQLiteStore) -> None:
    store.record_worker_endpoint(PROVIDER_CS, PUBLIC, int(time.time()), "0x")
    assert WorkerUrls({PROVIDER_CS: "http://10.0.0.9:1"}, store).get(PROVIDER_CS) == "http://10.0.0.9:1"
    assert WorkerUrls({}, store).get(PROVIDER_CS) == PUBLIC
    assert WorkerUrls({}, None).get(PROVIDER_CS) is None


def test_bad_bodies_and_an_oracle_without_leases(
    http: TestClient, store: SQLiteStore, tmp_path: Path
) -> None:
    refused(
        http.post("/v1/workers/endpoint", content=b"{", headers={"content-type": "application/json"}),
        422,
        "invalid_endpoint",
    )
    refused(post(http, {**announcement(), "extra": 1}), 422, "invalid_endpoint")
    refused(post(http, {**announcement(), "url": "http://" + "a" * 300}), 422, "invalid_endpoint")
    refused(http.post("/v1/workers/endpoint", content=b"x" * 5000), 413, "body_too_large")
    plain = oracle_app(store, tmp_path / "plain")
    with TestClient(plain.asgi()) as client:
        refused(post(client, announcement()), 404, "no_leases")
    plain.close()
    assert store.worker_endpoint(PROVIDER_CS) is None


def _recording_prober(store: SQLiteStore, urls: Any) -> tuple[Prober, list[str], list[float]]:
    """A prober on a fake clock (`now[0]`) whose workers answer 503 and whose requests' URLs land in `seen`."""
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(503)

    now = [1e9]
    prober = Prober(
        store=store,
        domain=DOMAIN,
        key=WORKER_KEY,
        settings=ProbeSettings(every=1.0),
        transport=httpx.MockTransport(answer),
        urls=urls,
        clock=lambda: now[0],
    )
    return prober, seen, now


def test_the_prober_reaches_the_announced_worker(store: SQLiteStore) -> None:
    store.record_worker_endpoint(PROVIDER_CS, PUBLIC, int(time.time()), "0x")
    prober, seen, now = _recording_prober(store, WorkerUrls({}, store))
    prober.step([lease_terms(1)])  # the first probe of a lease is spread over one period
    now[0] += 2.0
    assert prober.step([lease_terms(1)])
    assert seen == [PUBLIC + "/v1/probe"]
    prober.close()


def test_one_leases_unusable_url_does_not_stop_the_other_leases_probes(store: SQLiteStore) -> None:
    """A URL the HTTP client refuses before sending (a tab in the host, say) raised out of the prober's step, and
    every lease after it in the scan went unprobed."""
    other = "0x00000000000000000000000000000000000000b2"
    prober, seen, now = _recording_prober(store, {PROVIDER_CS: "http://93.184.216.34\t:8800", other: PUBLIC})
    leases = [lease_terms(1), lease_terms(2, provider=other)]
    for _ in range(3):
        now[0] += 2.0
        prober.step(leases)
    assert seen and all(u == PUBLIC + "/v1/probe" for u in seen)
    prober.close()
