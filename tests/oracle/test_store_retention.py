"""Retention (issue 9, defect 4, the store's part): the service prunes what is settled or rejected for
longer than the dispute window plus a margin, on its own schedule, and nothing younger or active."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
from eth_account import Account

from gpusettle.chain import Gpusettle
from gpusettle.oracle.chainview import StaticChainView
from gpusettle.oracle.service import OracleConfig, OracleService
from gpusettle.oracle.store import NewReceipt
from gpusettle.oracle.store.sql import GroupCommitStore
from tests.oracle.helpers import CHAIN_ID, ESCROW, PROVIDER_CS, WORKER, offline_client

DAY = 86400.0


def new(job_id: int) -> NewReceipt:
    return NewReceipt(job_id, PROVIDER_CS, WORKER, bytes(32), "{}", 1)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[OracleService]:
    svc = OracleService(
        OracleConfig(
            data_dir=tmp_path / "oracle", post=False, dispute_window=int(DAY), retention_margin=2 * DAY
        ),
        client_factory=lambda: cast(Gpusettle, offline_client()),
        oracle_account=Account.from_key(bytes.fromhex("44" * 32)),
        view=StaticChainView(CHAIN_ID, ESCROW, {PROVIDER_CS: WORKER}),
    )
    yield svc
    svc.store.close()


def _age(store: GroupCommitStore, job_id: int, seconds: float) -> None:  # type: ignore[type-arg]
    store._write(
        lambda conn: store._exec(
            conn, "UPDATE receipts SET updated_at = ? WHERE job_id = ?", (time.time() - seconds, job_id)
        )
    )


def test_the_service_prunes_past_dispute_window_and_margin(service: OracleService) -> None:
    store = cast(GroupCommitStore, service.store)  # type: ignore[type-arg]
    for job_id in range(1, 6):
        store.add_receipt(new(job_id)).result(timeout=5)
    store.set_status([1, 2], "settled")
    store.reject(3, "job was Cancelled")
    _age(store, 1, 3 * DAY + 60)  # settled, past window + margin: goes
    _age(store, 2, 3 * DAY - 60)  # settled, still inside the margin: stays
    _age(store, 3, 3 * DAY + 60)  # rejected, past: goes
    _age(store, 4, 30 * DAY)  # received (active), however old: stays
    assert service.prune_once() is False
    assert [j for j in range(1, 6) if store.receipt(j) is not None] == [2, 4, 5]
    _age(store, 2, 3 * DAY + 60)
    service.prune_once()  # too soon: prune_every has not passed
    assert store.receipt(2) is not None
    service._last_prune = 0.0  # as if prune_every had passed
    service.prune_once()
    assert store.receipt(2) is None


def test_without_a_known_dispute_window_nothing_is_pruned(service: OracleService) -> None:
    store = cast(GroupCommitStore, service.store)  # type: ignore[type-arg]
    store.add_receipt(new(1)).result(timeout=5)
    store.set_status([1], "settled")
    _age(store, 1, 365 * DAY)
    service._dispute_window = None  # the escrow cannot be read (this service has no chain client)
    service.prune_once()
    assert store.receipt(1) is not None


def test_an_oracle_without_the_posting_lease_still_prunes_its_own_files(
    service: OracleService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several oracles share one PostgreSQL store, but each keeps result payloads and client inputs in its
    own data directory: every instance prunes those, while only the lease holder prunes the shared rows."""
    import os

    store = cast(GroupCommitStore, service.store)  # type: ignore[type-arg]
    store.add_receipt(new(1)).result(timeout=5)
    store.set_status([1], "settled")
    _age(store, 1, 3 * DAY + 60)  # past window + margin: the holder would forget it
    old = time.time() - 4 * DAY
    payload = service.results_dir / ("0x" + "ab" * 32)  # no job recorded: kept window + margin after upload
    payload.write_bytes(b"a result nobody can ask for any more")
    os.utime(payload, (old, old))
    inputs = service.app.inputs.directory
    stale_input = inputs / ("cd" * 32)
    stale_input.write_bytes(b"an input past its retention")
    os.utime(stale_input, (old, old))
    monkeypatch.setattr(service, "holds_lease", lambda: False)  # another instance posts
    service.config.prune_every = 0.0
    service.start_background()
    try:
        deadline = time.monotonic() + 10
        while (payload.exists() or stale_input.exists()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not payload.exists(), "a non-holder never pruned its result payloads"
        assert not stale_input.exists(), "a non-holder never pruned its client inputs"
        assert store.receipt(1) is not None, "only the lease holder prunes the shared store"
    finally:
        service._stop.set()
        for thread in service._threads:
            thread.join(timeout=5)
