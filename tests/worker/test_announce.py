"""The worker's endpoint announcements: signed by the worker key, sent to every oracle at start and each
round after, retried with backoff on a network error or a 5xx, not repeated within the round after a
refusal; and taken by a real oracle app end to end."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest
from eth_account import Account
from starlette.testclient import TestClient

from gpusettle.leases.eip712 import lease_domain, recover_worker_endpoint
from gpusettle.leases.models import WorkerEndpointSubmission
from gpusettle.oracle.endpoints import EndpointSettings
from gpusettle.oracle.store import SQLiteStore
from gpusettle.worker.announce import EndpointAnnouncer

KEY = bytes.fromhex("11" * 32)
PROVIDER = Account.from_key(bytes.fromhex("33" * 32)).address
DOMAIN = lease_domain(31337, "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512")


class Oracles:
    """Scripted oracles: each request is checked and answered with the next status of its host."""

    def __init__(self, statuses: dict[str, list[int | None]]) -> None:
        self.statuses = statuses
        self.seen: list[tuple[str, WorkerEndpointSubmission]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/workers/endpoint" and request.method == "POST"
        sub = WorkerEndpointSubmission.model_validate_json(request.content)
        assert recover_worker_endpoint(sub.endpoint(), sub.signature, DOMAIN) == Account.from_key(KEY).address
        self.seen.append((request.url.host, sub))
        status = self.statuses[request.url.host].pop(0)
        if status is None:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(status, json={"error": "x", "reason": "scripted"})


def announcer(oracles: Oracles, now: list[float], every: float = 300.0) -> EndpointAnnouncer:
    return EndpointAnnouncer(
        url="https://gpu-box.example.org:8800",
        private_key=KEY,
        provider=PROVIDER,
        domain=DOMAIN,
        oracles=["http://o1", "http://o2/"],
        every=every,
        clock=lambda: now[0],
        transport=httpx.MockTransport(oracles),
    )


def test_every_oracle_is_told_at_start_and_again_each_round() -> None:
    oracles = Oracles({"o1": [202, 202], "o2": [202, 202]})
    now = [1_700_000_000.0]
    a = announcer(oracles, now)
    assert a.tick()
    assert [(h, s.url, s.issuedAt) for h, s in oracles.seen] == [
        ("o1", "https://gpu-box.example.org:8800", 1_700_000_000),
        ("o2", "https://gpu-box.example.org:8800", 1_700_000_000),
    ]
    now[0] += 299
    assert not a.tick() and len(oracles.seen) == 2
    now[0] += 1
    assert a.tick() and len(oracles.seen) == 4
    assert oracles.seen[-1][1].issuedAt == 1_700_000_300  # signed afresh: newer than the one kept
    a.close()


def test_an_unreachable_oracle_is_retried_with_backoff_and_a_refusal_waits_a_round(
    caplog: pytest.LogCaptureFixture,
) -> None:
    oracles = Oracles({"o1": [None, 503, 202], "o2": [422]})
    now = [1_700_000_000.0]
    a = announcer(oracles, now)
    with caplog.at_level(logging.ERROR, logger="gpusettle.worker.announce"):
        a.tick()
    assert [h for h, _ in oracles.seen] == ["o1", "o2"]
    assert "refused this worker's endpoint" in caplog.text and "422" in caplog.text
    for _ in range(2):  # backoff: retried well within the round
        now[0] += 61
        a.tick()
    assert [h for h, _ in oracles.seen] == ["o1", "o2", "o1", "o1"]
    assert oracles.statuses == {"o1": [], "o2": []}
    a.close()


def test_a_real_oracle_takes_what_the_worker_sends(tmp_path: Path) -> None:
    from tests.oracle.helpers import PROVIDER_CS, WORKER_KEY, lease_app

    store = SQLiteStore(tmp_path / "oracle.sqlite")
    app = lease_app(store, tmp_path / "results", endpoint_settings=EndpointSettings(allow_private=True))
    with TestClient(app.asgi(), base_url="http://oracle") as client:

        def forward(request: httpx.Request) -> httpx.Response:
            answer = client.post(request.url.path, content=request.content, headers=dict(request.headers))
            return httpx.Response(answer.status_code, content=answer.content)

        a = EndpointAnnouncer(
            url="http://127.0.0.1:8800",
            private_key=WORKER_KEY,
            provider=PROVIDER_CS,
            domain=DOMAIN,
            oracles=["http://oracle"],
            transport=httpx.MockTransport(forward),
        )
        assert a.tick()
        assert (
            json.loads(client.get(f"/v1/workers/{PROVIDER_CS}/endpoint").content)["url"]
            == "http://127.0.0.1:8800"
        )
        a.close()
    app.close()
    store.close()
