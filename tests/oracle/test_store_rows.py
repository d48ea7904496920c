"""One unreadable stored row must not stop verification or posting (issue 9, defect 3), and the
fraud path records "rejected" and "fraud" in one transaction."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from eth_account import Account

from gpusettle.chain import Gpusettle
from gpusettle.oracle.chainview import StaticChainView
from gpusettle.oracle.poster import Poster, PosterSettings
from gpusettle.oracle.service import OracleConfig, OracleService
from gpusettle.oracle.store import NewReceipt, SQLiteStore
from gpusettle.oracle.verify import Verdict
from tests.oracle.helpers import (
    CHAIN_ID,
    ESCROW,
    PROVIDER_CS,
    WORKER,
    job,
    offline_client,
    receipt,
    submission,
)

ORACLE_KEY = bytes.fromhex("44" * 32)
ARBITER_KEY = bytes.fromhex("55" * 32)


def stored(job_id: int, body: str) -> NewReceipt:
    return NewReceipt(
        job_id=job_id, provider=PROVIDER_CS, signer=WORKER, struct_hash=bytes(32), body=body, end_time=1
    )


def good_body(job_id: int) -> str:
    import json

    return json.dumps(submission(receipt(job_id)))


@pytest.fixture
def service(tmp_path: Path) -> Iterator[OracleService]:
    view = StaticChainView(CHAIN_ID, ESCROW, {PROVIDER_CS: WORKER}, jobs={j: job(j) for j in range(1, 10)})
    svc = OracleService(
        OracleConfig(data_dir=tmp_path / "oracle", post=False),
        client_factory=lambda: cast(Gpusettle, offline_client()),
        oracle_account=Account.from_key(ORACLE_KEY),
        arbiter_account=Account.from_key(ARBITER_KEY),
        view=view,
    )
    yield svc
    svc.store.close()


def test_an_unreadable_row_is_rejected_and_verification_goes_on(service: OracleService) -> None:
    store = service.store
    store.add_receipt(stored(1, "{not json")).result(timeout=5)
    store.add_receipt(stored(2, good_body(2))).result(timeout=5)
    store.add_receipt(stored(3, '{"receipt": {"jobId": 3}}')).result(timeout=5)
    assert service.verify_once() is True
    first, second, third = (store.receipt(j) for j in (1, 2, 3))
    assert second is not None and second.status == "verified"
    for bad in (first, third):
        assert bad is not None and bad.status == "rejected"
        assert bad.reason is not None and "cannot be read" in bad.reason
    assert service.verify_once() is False  # nothing left that stops the next round


def test_the_poster_skips_and_rejects_an_unreadable_verified_row(service: OracleService) -> None:
    store = service.store
    store.add_receipt(stored(4, "[]")).result(timeout=5)
    store.add_receipt(stored(5, good_body(5))).result(timeout=5)
    store.set_status([4, 5], "verified")
    poster = Poster(
        store=store,
        client=cast(Gpusettle, offline_client()),
        account=service.account,
        signer=service.signer,
        view=service.view,
        settings=PosterSettings(batch_wait=0.0),
    )
    ready = poster._ready()
    assert [job_id for job_id, _, _ in ready] == [5]
    bad = store.receipt(4)
    assert bad is not None and bad.status == "rejected" and "cannot be read" in (bad.reason or "")


class _CrashAfterFirstWrite:
    """Proxy of a store whose process dies (here: raises SystemExit) at its second write."""

    WRITES = ("set_status", "set_fraud", "reject")

    def __init__(self, inner: SQLiteStore) -> None:
        self.inner = inner
        self.writes = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name not in self.WRITES:
            return attr

        def write(*args: Any, **kwargs: Any) -> Any:
            self.writes += 1
            if self.writes > 1:
                raise SystemExit("crashed between two writes")
            return attr(*args, **kwargs)

        return write


def test_a_fraud_verdict_is_recorded_in_one_transaction(
    service: OracleService, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    store = cast(SQLiteStore, service.store)
    store.add_receipt(stored(6, good_body(6))).result(timeout=5)
    monkeypatch.setattr(service, "_judge", lambda items, *a, **k: [Verdict("fraud", "wrong product")])
    monkeypatch.setattr(service, "store", _CrashAfterFirstWrite(store))
    try:
        service.verify_once()
    except SystemExit:
        pass
    store.close()
    reopened = SQLiteStore(tmp_path / "oracle" / "oracle.sqlite")
    record = reopened.receipt(6)
    reopened.close()
    assert record is not None
    assert (record.status, record.fraud) == ("rejected", "pending"), (
        "a crash after the first write left the fraud unrecorded"
    )
