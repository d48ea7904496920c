"""Shared builders for the oracle tests: keys, receipts, signed submissions, job views."""

from __future__ import annotations

import json
import random
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


LEASE_ESCROW = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
INTERVAL = 30


def lease_terms(lease_id: int = 1, *, status: int = 2, provider: str = PROVIDER_CS, started: int | None = None,
                paid_through: int | None = None, **extra: Any) -> Any:  # fmt: skip
    """A Running lease of PROVIDER_CS (LeaseTerms), started an hour before NOW."""
    from gpusettle.leases.models import LeaseTerms

    start = started if started is not None else NOW - 3600
    return LeaseTerms.model_validate(
        {
            "leaseId": lease_id,
            "status": status,
            "client": OTHER,
            "provider": provider,
            "offerId": 1,
            "gpuCount": 2,
            "ratePerSecond": 2 * 10**12,
            "deposit": 10**18,
            "paidThrough": paid_through if paid_through is not None else start,
            "startedAt": start,
            **extra,
        }
    )


def heartbeat_doc(lease_id: int = 1, *, ts: int | None = None, up: bool = True, key: bytes = WORKER_KEY,
                  provider: str = PROVIDER_CS, seq: int | None = None, evidence: dict[str, Any] | None = None,
                  tamper: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    """A signed POST /v1/heartbeats body; `tamper` changes fields after signing."""
    from gpusettle.leases.eip712 import lease_domain, sign_heartbeat
    from gpusettle.leases.models import Heartbeat, evidence_hash

    ts = ts if ts is not None else int(time.time())
    ev = evidence or {"gpus": [{"uuid": "GPU-0", "util": 97, "memUsedMb": 2048}], "pid": 4242, "alive": up}
    beat = Heartbeat(
        leaseId=lease_id,
        provider=provider,
        timestamp=ts,
        sequence=ts // INTERVAL if seq is None else seq,
        evidenceHash=evidence_hash(ev),
        serviceUp=up,
    )
    doc: dict[str, Any] = {
        **beat.model_dump(mode="json"),
        "evidence": ev,
        "signature": sign_heartbeat(beat, lease_domain(CHAIN_ID, LEASE_ESCROW), key),
    }
    doc.update(tamper or {})
    return doc


def lease_app(store: Any, results_dir: Path, leases: Any = None, view: Any = None, **kw: Any) -> Any:
    """An OracleApp that takes heartbeats for LEASE_ESCROW; `leases` a StaticLeaseView (lease 1 running)."""
    from gpusettle.leases.eip712 import lease_domain
    from gpusettle.oracle.leaseview import LeaseTermsCache, StaticLeaseView

    leases = leases or StaticLeaseView(CHAIN_ID, LEASE_ESCROW, {1: lease_terms(1)})
    return oracle_app(
        store,
        results_dir,
        view,
        lease_domain=lease_domain(CHAIN_ID, LEASE_ESCROW),
        lease_terms=LeaseTermsCache(leases, ttl=0.0, miss_ttl=0.0),
        **kw,
    )


class Draws(random.Random):
    """Random with scripted draws: `expovariate` and `uniform` return the next of their lists, and remember
    what they were asked."""

    def __init__(self, expo: list[float], uniform: list[float]) -> None:
        super().__init__(0)
        self.expo = list(expo)
        self.unif = list(uniform)
        self.asked: list[tuple[str, float, float]] = []

    def expovariate(self, lambd: float = 1.0) -> float:
        self.asked.append(("expo", lambd, 0.0))
        return self.expo.pop(0)

    def uniform(self, a: float, b: float) -> float:
        self.asked.append(("uniform", a, b))
        return self.unif.pop(0)
