"""Shared builders for the oracle tests: keys, receipts, signed submissions, job views."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from eth_account import Account

from gpusettle.chain import JobInfo
from gpusettle.eip712 import ReceiptVerifier, sign_digest
from gpusettle.models import JobReceipt, Outcome

CHAIN_ID = 31337
ESCROW = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
WORKER_KEY = bytes.fromhex("11" * 32)
OTHER_KEY = bytes.fromhex("22" * 32)
WORKER = Account.from_key(WORKER_KEY).address
OTHER = Account.from_key(OTHER_KEY).address
PROVIDER = "0x00000000000000000000000000000000000000A1"
PROVIDER_CS = Account.from_key(bytes.fromhex("33" * 32)).address
NOW = int(time.time())
"""One clock for every builder here, fixed at import: receipts and jobs built at collection time and
at run time then agree, however long the suite takes to reach them (a verdict judged at NOW)."""


def receipt(
    job_id: int = 1,
    *,
    gpu_seconds: int = 100,
    start: int | None = None,
    wall: int = 100,
    provider: str = PROVIDER_CS,
    outcome: Outcome = Outcome.COMPLETED,
    result_hash: str = "0x" + "ab" * 32,
) -> JobReceipt:
    start = start if start is not None else NOW - wall - 10
    return JobReceipt(
        jobId=job_id,
        provider=provider,
        gpuSeconds=gpu_seconds,
        startTime=start,
        endTime=start + wall,
        resultHash=result_hash,
        outcome=outcome,
    )


def submission(
    r: JobReceipt,
    key: bytes = WORKER_KEY,
    chain_id: int = CHAIN_ID,
    escrow: str = ESCROW,
    declare: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    verifier = ReceiptVerifier(chain_id, escrow)
    sig_r, sig_vs = sign_digest(verifier.digest(r), key).hex()
    doc: dict[str, Any] = {"receipt": r.model_dump(mode="json"), "r": sig_r, "vs": sig_vs}
    if declare:
        doc["chainId"] = chain_id
        doc["escrow"] = escrow
    doc.update(extra)
    return doc


def body(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


def job(
    job_id: int = 1,
    *,
    status: str = "Running",
    provider: str = PROVIDER_CS,
    max_gpu_seconds: int = 3600,
    gpu_count: int = 1,
    accepted_at: int | None = None,
    spec_hash: str = "0x" + "00" * 32,
) -> JobInfo:
    return JobInfo(
        job_id=job_id,
        status=status,
        client=OTHER,
        provider=provider,
        offer_id=1,
        price_per_gpu_second=10**15,
        max_gpu_seconds=max_gpu_seconds,
        gpu_count=gpu_count,
        deposit=max_gpu_seconds * 10**15,
        collateral=0,
        accept_by=0,
        accepted_at=accepted_at if accepted_at is not None else NOW - 10_000,
        deadline=NOW + 86_400,
        billed_gpu_seconds=0,
        settled_at=0,
        refundable=0,
        spec_hash=spec_hash,
        dispute_bond=0,
    )


def offline_client() -> Any:
    """A stand-in for the chain client of an OracleService that never sends: the poster reads only its
    chain id (to check the confirmations), the tests give the dispute window in the config."""
    from types import SimpleNamespace

    return SimpleNamespace(chain=SimpleNamespace(chain_id=CHAIN_ID))


def oracle_app(store: Any, results_dir: Path, view: Any = None, **kw: Any) -> Any:
    """An OracleApp over `store` on the test chain (CHAIN_ID, ESCROW); `view` (a StaticChainView) by
    default knows only PROVIDER_CS's worker key WORKER. `kw` are OracleApp's other arguments."""
    from gpusettle.oracle.app import OracleApp
    from gpusettle.oracle.chainview import StaticChainView, WorkerKeyCache

    return OracleApp(
        store=store,
        verifier=ReceiptVerifier(CHAIN_ID, ESCROW),
        keys=WorkerKeyCache(view or StaticChainView(CHAIN_ID, ESCROW, {PROVIDER_CS: WORKER})),
        results_dir=results_dir,
        **kw,
    )
