"""The running-lease scan fills heartbeat intake's terms cache: a running lease's heartbeats read no lease
from the chain of their own (before, every heartbeat outlived the 10 s cache and cost one getLease)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from starlette.testclient import TestClient

from gpusettle.eip712 import Domain
from gpusettle.oracle.chainview import StaticChainView
from gpusettle.oracle.lease_work import LeaseSettings, LeaseWork, RunningLeases
from gpusettle.oracle.leaseview import LeaseTermsCache, StaticLeaseView
from gpusettle.oracle.metrics import OracleMetrics
from gpusettle.oracle.store import SQLiteStore
from tests.oracle.helpers import (
    CHAIN_ID,
    ESCROW,
    INTERVAL,
    LEASE_ESCROW,
    PROVIDER_CS,
    WORKER,
    body,
    heartbeat_doc,
    lease_terms,
    oracle_app,
)


@pytest.fixture
def view() -> StaticLeaseView:
    return StaticLeaseView(CHAIN_ID, LEASE_ESCROW, {1: lease_terms(1), 2: lease_terms(2, status=1)})


def _client(store: SQLiteStore, cache: LeaseTermsCache, tmp_path: Path) -> Any:
    from gpusettle.leases.eip712 import lease_domain

    app = oracle_app(
        store, tmp_path / "results", lease_domain=lease_domain(CHAIN_ID, LEASE_ESCROW), lease_terms=cache
    )
    return app, TestClient(app.asgi())


def _post(http: TestClient, doc: dict[str, Any]) -> Any:
    return http.post("/v1/heartbeats", content=body(doc), headers={"content-type": "application/json"})


def _beats(http: TestClient, lease_id: int, count: int) -> list[int]:
    newest = (int(time.time()) // INTERVAL) * INTERVAL
    return [_post(http, heartbeat_doc(lease_id, ts=newest - i * INTERVAL)).status_code for i in range(count)]


def test_scanned_running_lease_takes_heartbeats_without_a_read(
    view: StaticLeaseView, store: SQLiteStore, tmp_path: Path
) -> None:
    cache = LeaseTermsCache(view, ttl=60.0)
    running = RunningLeases(view, feeds=cache)
    assert [t.leaseId for t in running.get()] == [1]
    scanned = view.reads
    app, http = _client(store, cache, tmp_path)
    with http:
        assert _beats(http, 1, 5) == [202] * 5
        assert view.reads == scanned, "a heartbeat of a scanned running lease read the chain"
        # A lease the scan did not find running is read (and refused) as before.
        assert _post(http, heartbeat_doc(2)).status_code == 409
        assert view.reads == scanned + 1
    app.close()


def test_without_the_feed_the_first_heartbeat_reads_the_lease(
    view: StaticLeaseView, store: SQLiteStore, tmp_path: Path
) -> None:
    cache = LeaseTermsCache(view, ttl=60.0)
    RunningLeases(view).get()
    scanned = view.reads
    app, http = _client(store, cache, tmp_path)
    with http:
        assert _beats(http, 1, 3) == [202] * 3
        assert view.reads == scanned + 1
    app.close()


def test_scan_refresh_replaces_what_the_cache_held(view: StaticLeaseView) -> None:
    clock = [0.0]
    cache = LeaseTermsCache(view, ttl=60.0)
    running = RunningLeases(view, every=10.0, clock=lambda: clock[0], feeds=cache)
    running.get()
    assert cache.cached(2) is None
    view.lease_table[2] = lease_terms(2)  # accepted since the last scan
    clock[0] = 11.0
    running.get()
    hit = cache.cached(2)
    assert hit is not None and hit[0] is not None and hit[0].status == 2


def test_lease_work_scan_feeds_its_terms_cache(view: StaticLeaseView, store: SQLiteStore) -> None:
    work = LeaseWork(
        store=store,
        view=view,
        chain_view=StaticChainView(CHAIN_ID, ESCROW, {PROVIDER_CS: WORKER}),
        peer_domain=Domain(CHAIN_ID, ESCROW),
        account=Account.create(),
        peers=[],
        settings=LeaseSettings(refresh_every=30.0),
        metrics=OracleMetrics(),
    )
    try:
        assert work.terms.cached(1) is None
        work.running.get()
        reads = view.reads
        hit = work.terms.cached(1)
        assert hit is not None and hit[0] is not None and hit[0].leaseId == 1
        assert view.reads == reads
        # Entries outlive a scan period, so the next scan refreshes them before they go stale.
        assert work.terms.ttl > work.settings.refresh_every
    finally:
        work.close()
