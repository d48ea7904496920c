"""Probes through a worker stand-in (httpx MockTransport): an honest product passes Freivalds; a wrong
product, a wrong checksum, an error, no answer or a late one marks the bucket down, and the uptime
rule then counts that bucket down whatever its heartbeat said."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pytest

from gpusettle.eip712 import Domain
from gpusettle.hashing import keccak256
from gpusettle.oracle.heartbeats import lease_uptime
from gpusettle.oracle.probes import Prober, ProbeSettings
from gpusettle.oracle.store import NewHeartbeat, SQLiteStore
from gpusettle.signed_requests import TIMESTAMP_HEADER, PeerRequestAuth
from gpusettle.workloads.matmul import encode_result, generate_inputs
from tests.oracle.helpers import (
    CHAIN_ID,
    ESCROW,
    INTERVAL,
    PROVIDER_CS,
    WORKER,
    WORKER_KEY,
    heartbeat_doc,
    lease_terms,
)

URL = "http://worker.test"
DOMAIN = Domain(CHAIN_ID, ESCROW)


def honest(request: httpx.Request, *, tweak: Callable[[np.ndarray], None] | None = None,
           checksum: str | None = None, seed_delta: int = 0) -> httpx.Response:  # fmt: skip
    stamp = float(request.headers[TIMESTAMP_HEADER])
    auth = PeerRequestAuth.check(DOMAIN, dict(request.headers), "POST", "/v1/probe", request.content, stamp)
    assert auth.signer == WORKER  # the oracle key below is WORKER_KEY: its signature is checkable
    ask = json.loads(request.content)
    a, b = generate_inputs(ask["seed"], ask["n"], "float32")
    c = a @ b
    if tweak is not None:
        tweak(c)
    payload = encode_result(c)
    return httpx.Response(
        200,
        json={
            "leaseId": ask["leaseId"],
            "seed": ask["seed"] + seed_delta,
            "n": ask["n"],
            "checksum": checksum or "0x" + keccak256(payload).hex(),
            "result": base64.b64encode(payload).decode(),
        },
    )


def prober(store: SQLiteStore, handler: Callable[[httpx.Request], httpx.Response], now: float = 1_000_000.0,
           **kw: Any) -> Prober:  # fmt: skip
    settings = ProbeSettings(every=60, n=32, timeout=5, worker_urls={PROVIDER_CS: URL}, **kw)
    return Prober(
        store=store,
        domain=DOMAIN,
        key=WORKER_KEY,
        address=WORKER,
        settings=settings,
        interval=INTERVAL,
        clock=lambda: now,
        transport=httpx.MockTransport(handler),
    )


def _bump(c: np.ndarray) -> None:
    c[3, 4] += 1.0


def _boom(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("refused", request=request)


@pytest.mark.parametrize(
    ("handler", "passes", "why"),
    [
        (honest, True, "ok"),
        (lambda r: honest(r, tweak=_bump), False, "Freivalds"),
        (lambda r: honest(r, checksum="0x" + "00" * 32), False, "checksum"),
        (lambda r: honest(r, seed_delta=1), False, "seed"),
        (lambda r: httpx.Response(500, text="boom"), False, "HTTP 500"),
        (lambda r: httpx.Response(200, content=b"not json"), False, "not JSON"),
        (lambda r: httpx.Response(200, json={"leaseId": 1}), False, "schema"),
        (_boom, False, "no answer"),
    ],
)
def test_probe_verdicts(store: SQLiteStore, handler: Any, passes: bool, why: str) -> None:
    p = prober(store, handler)
    assert p.probe(lease_terms(1), URL) is passes
    bucket = 1_000_000 // INTERVAL
    assert store.failed_probes(1, 0, 2**62) == ([] if passes else [bucket])
    assert store.probe_counts(1) == ((1, 0) if passes else (0, 1))
    if not passes:
        detail = store._rows("SELECT detail FROM probes")[0][0]
        assert why in detail, detail
    p.close()


def test_a_late_answer_fails(store: SQLiteStore) -> None:
    times = [1_000_000.0]
    p = prober(store, honest)

    def clock() -> float:
        now = times[0]
        times[0] = 1_000_060.0  # the answer comes back a minute after the request left
        return now

    p.clock = clock
    assert not p.probe(lease_terms(1), URL)
    assert "took" in store._rows("SELECT detail FROM probes")[0][0]


def test_a_failed_probe_makes_its_bucket_down(store: SQLiteStore) -> None:
    start = (1_000_000 // INTERVAL - 2) * INTERVAL
    for k in range(4):
        doc = heartbeat_doc(1, ts=start + k * INTERVAL + 1)
        store.add_heartbeat(
            NewHeartbeat(
                1, doc["sequence"], PROVIDER_CS, WORKER, doc["timestamp"], True, b"\x01" * 32, json.dumps(doc)
            )
        ).result(10)
    before = lease_uptime(store, 1, INTERVAL, start, start + 4 * INTERVAL)
    assert before.up_seconds == 4 * INTERVAL
    prober(store, lambda r: honest(r, tweak=_bump)).probe(lease_terms(1), URL)
    after = lease_uptime(store, 1, INTERVAL, start, start + 4 * INTERVAL)
    assert (after.up_seconds, after.down_seconds) == (3 * INTERVAL, INTERVAL)


def test_step_probes_due_leases_with_known_workers_only(store: SQLiteStore) -> None:
    asked: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(json.loads(request.content)["leaseId"])
        return honest(request)

    now = [1_000_000.0]
    p = prober(store, handler)
    p.clock = lambda: now[0]
    from tests.oracle.helpers import OTHER

    leases = [lease_terms(1), lease_terms(2, provider=OTHER)]
    p.step(leases)  # first due times are spread over one period
    now[0] += 200
    assert p.step(leases)
    assert asked == [1]  # lease 2's provider has no known worker URL: not probed, not marked down
    assert not p.step(leases)  # not due again yet
    assert store.failed_probes(2, 0, 2**62) == []
