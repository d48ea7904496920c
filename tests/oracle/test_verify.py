"""The background checks against chain state, including Freivalds on matmul results."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from gpusettle.chain import JobInfo
from gpusettle.hashing import keccak256
from gpusettle.models import JobReceipt, JobSpec, MatmulWorkload, Outcome, SignedReceipt
from gpusettle.oracle.verify import ReceiptSubmission, Verdict, check_against_chain, fraud_evidence_hash
from gpusettle.workloads import decode_result, encode_result, run_matmul
from tests.oracle.helpers import NOW, OTHER, PROVIDER_CS, WORKER, job, receipt

NO_PAYLOAD = lambda _h: None


def signed(r: JobReceipt) -> SignedReceipt:
    return SignedReceipt(receipt=r, r="0x" + "11" * 32, vs="0x" + "22" * 32)


def verdict(
    r: JobReceipt,
    j: JobInfo | None = None,
    worker: str | None = WORKER,
    spec: JobSpec | None = None,
    payload: Callable[[str], bytes | None] = NO_PAYLOAD,
    received_at: float | None = None,
    chain_now: int | None = None,
) -> Verdict:
    # The builders' clock (helpers.NOW), never the wall clock: a verdict must not drift with how long
    # the run took to get here.
    return check_against_chain(
        signed(r),
        WORKER,
        j,
        worker,
        NOW if chain_now is None else chain_now,
        spec,
        payload,
        received_at=NOW if received_at is None else received_at,
        now=float(NOW),
    )


def test_a_sound_receipt_passes() -> None:
    assert verdict(receipt(), job()).kind == "ok"


@pytest.mark.parametrize(
    ("r", "j", "worker", "kind", "words"),
    [
        (receipt(), None, WORKER, "reject", "does not exist"),
        (receipt(), job(provider=OTHER), WORKER, "reject", "belongs to provider"),
        (receipt(), job(status="Settled"), WORKER, "reject", "already settled"),
        (receipt(), job(status="Cancelled"), WORKER, "reject", "Cancelled, not Running"),
        (receipt(), job(), OTHER, "reject", "current worker key"),
        (receipt(), job(), None, "reject", "no worker key"),
        (
            receipt(gpu_seconds=5000, wall=6000),
            job(max_gpu_seconds=3600),
            WORKER,
            "reject",
            "exceed the job's maximum",
        ),
        (receipt(gpu_seconds=300, wall=100), job(gpu_count=2), WORKER, "reject", "impossible"),
        (
            receipt(start=NOW - 50, wall=10, gpu_seconds=10),
            job(accepted_at=NOW - 20),
            WORKER,
            "reject",
            "before the job was accepted",
        ),
        (receipt(start=NOW + 100, wall=10, gpu_seconds=10), job(), WORKER, "reject", "in the future"),
        (receipt(start=NOW - 5, wall=7, gpu_seconds=7), job(), WORKER, "defer", "ahead of the chain"),
    ],
)
def test_impossible_receipts(r: JobReceipt, j, worker, kind: str, words: str) -> None:  # type: ignore[no-untyped-def]
    v = verdict(r, j, worker=worker, chain_now=NOW - 3 if kind == "defer" else NOW)
    assert v.kind == kind and words in v.reason, v


def test_tolerance_on_gpu_seconds_matches_the_escrow() -> None:
    assert verdict(receipt(gpu_seconds=(100 + 5) * 2, wall=100), job(gpu_count=2)).kind == "ok"
    assert verdict(receipt(gpu_seconds=(100 + 5) * 2 + 1, wall=100), job(gpu_count=2)).kind == "reject"


def test_open_job_is_deferred_then_rejected() -> None:
    assert verdict(receipt(), job(status="Open"), received_at=NOW).kind == "defer"
    assert verdict(receipt(), job(status="Open"), received_at=NOW - 1000).kind == "reject"


@pytest.fixture(scope="module")
def matmul() -> tuple[JobSpec, bytes]:
    spec = JobSpec(workload=MatmulWorkload(kind="matmul", seed=5, n=64, repetitions=1))
    result = run_matmul(spec.workload, device="cpu")  # type: ignore[arg-type]
    assert result.payload is not None
    return spec, result.payload


def test_matmul_right_result_passes(matmul: tuple[JobSpec, bytes]) -> None:
    spec, payload = matmul
    h = "0x" + keccak256(payload).hex()
    v = verdict(receipt(result_hash=h), job(spec_hash=spec.spec_hash()), spec=spec, payload={h: payload}.get)
    assert v.kind == "ok", v


def test_matmul_wrong_result_is_fraud(matmul: tuple[JobSpec, bytes]) -> None:
    spec, payload = matmul
    c = decode_result(payload, 64, "float32").copy()
    c[3, 4] += 10.0
    bad = encode_result(c)
    h = "0x" + keccak256(bad).hex()
    v = verdict(receipt(result_hash=h), job(), spec=spec, payload={h: bad}.get)
    assert v.kind == "fraud" and "Freivalds" in v.reason
    garbage = b"not a matrix"
    g = "0x" + keccak256(garbage).hex()
    assert verdict(receipt(result_hash=g), job(), spec=spec, payload={g: garbage}.get).kind == "fraud"
    zeros = encode_result(np.zeros((64, 64), dtype=np.float32))
    z = "0x" + keccak256(zeros).hex()
    assert verdict(receipt(result_hash=z), job(), spec=spec, payload={z: zeros}.get).kind == "fraud"


def test_matmul_without_payload_is_rejected_not_fraud(matmul: tuple[JobSpec, bytes]) -> None:
    spec, _ = matmul
    v = verdict(receipt(), job(), spec=spec)
    assert v.kind == "reject" and "was not uploaded" in v.reason


def test_failed_matmul_needs_no_payload(matmul: tuple[JobSpec, bytes]) -> None:
    spec, _ = matmul
    assert verdict(receipt(outcome=Outcome.FAILED_PROVIDER), job(), spec=spec).kind == "ok"


def test_fraud_evidence_binds_receipt_and_reason() -> None:
    a = fraud_evidence_hash(signed(receipt(1)), "x")
    assert a != fraud_evidence_hash(signed(receipt(2)), "x") and a != fraud_evidence_hash(
        signed(receipt(1)), "y"
    )


def test_intake_parses_receipts_with_job_receipt_itself() -> None:
    """One model: the wire format carries a JobReceipt, so intake applies exactly its rules."""
    assert ReceiptSubmission.model_fields["receipt"].annotation is JobReceipt
    good = receipt().model_dump(mode="json")
    wire = {"receipt": good, "r": "0x" + "11" * 32, "vs": "0x" + "22" * 32}
    assert ReceiptSubmission.model_validate(wire).receipt == JobReceipt.model_validate(good)
    for bad in (
        {**good, "provider": PROVIDER_CS.lower().replace("0x", "0X")},
        {**good, "provider": PROVIDER_CS[:-1] + ("A" if PROVIDER_CS[-1] != "A" else "B")},
        {**good, "gpuSeconds": -1},
        {**good, "gpuSeconds": "5"},
        {**good, "outcome": 3},
        {**good, "outcome": True},
        {**good, "endTime": good["startTime"] - 1},
        {**good, "resultHash": "0x12"},
        {**good, "extra": 1},
    ):
        with pytest.raises(ValueError):
            ReceiptSubmission.model_validate({**wire, "receipt": bad})
    lower = {**good, "provider": PROVIDER_CS.lower()}
    assert ReceiptSubmission.model_validate({**wire, "receipt": lower}).receipt.provider == PROVIDER_CS


def test_intake_hashes_the_receipt_once_and_returns_that_struct_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    """check_submission recovers the signer from the struct hash it returns (one hash per receipt), and that
    hash is hashStruct(JobReceipt)."""
    from eth_account import Account

    import gpusettle.eip712 as eip712_module
    import gpusettle.oracle.verify as verify_module
    from gpusettle.eip712 import ReceiptVerifier, receipt_struct_hash, sign_digest
    from tests.oracle.helpers import CHAIN_ID, ESCROW

    verifier = ReceiptVerifier(CHAIN_ID, ESCROW)
    key = "0x" + "31" * 32
    receipt = JobReceipt(
        jobId=9, provider=PROVIDER_CS, gpuSeconds=100, startTime=1_700_000_000, endTime=1_700_000_050,
        resultHash="0x" + "ab" * 32, outcome=0,
    )  # fmt: skip
    r, vs = sign_digest(verifier.digest(receipt), key).hex()
    submission = ReceiptSubmission(receipt=receipt, r=r, vs=vs)
    calls: list[JobReceipt] = []

    def counting(what: JobReceipt) -> bytes:
        calls.append(what)
        return receipt_struct_hash(what)

    monkeypatch.setattr(verify_module, "receipt_struct_hash", counting)
    monkeypatch.setattr(eip712_module, "receipt_struct_hash", counting)
    signer, struct_hash = verify_module.check_submission(submission, verifier, now=1_700_000_100)
    assert signer == Account.from_key(key).address
    assert struct_hash == receipt_struct_hash(receipt)
    assert len(calls) == 1
