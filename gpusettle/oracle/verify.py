"""Every check the oracle makes before it signs or posts a receipt (PROTOCOL.md, "What the oracle
verifies before it posts").

Two stages. `check_submission` runs at intake, before the receipt is stored and acknowledged: the
body's shape, the declared chain and escrow, times against the clock, and the worker signature
(against the provider's current worker key). `check_against_chain` runs in the background with fresh
chain state: the job exists, is running, belongs to the provider, is not settled; the numbers are
possible; the key is still current; and, for a matmul job, Freivalds' check of the result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from ..chain import JobInfo
from ..eip712 import CompactSignature, ReceiptVerifier, receipt_struct_hash, recover
from ..errors import InvalidSignatureError
from ..hashing import keccak256
from ..models import JobSpec, JobStatus, MatmulWorkload, Outcome, ReceiptSubmission, SignedReceipt
from ..workloads import matmul_reference_check

__all__ = [
    "CLOCK_SKEW_SECONDS",
    "METER_TOLERANCE_SECONDS",
    "IntakeRejection",
    "ReceiptSubmission",
    "Verdict",
    "VerdictKind",
    "check_against_chain",
    "check_submission",
    "fraud_evidence_hash",
]

METER_TOLERANCE_SECONDS = 5
"""JobEscrow.METER_TOLERANCE_SECONDS: slack on (end - start) x GPUs for metering granularity."""
CLOCK_SKEW_SECONDS = 5
"""How far a worker's clock may run ahead of the oracle's before an end time counts as future."""
MAX_GPU_COUNT = 255
MAX_JOB_ID = 2**63 - 1


class IntakeRejection(Exception):
    """A submission refused at intake: HTTP `status` and a reason a person can act on."""

    def __init__(self, status: int, reason: str, code: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.code = code


class VerdictKind(StrEnum):
    """What the background verification decided."""

    OK = "ok"
    """Every check passed: the receipt may be posted."""
    REJECT = "reject"
    """Refused, with a reason."""
    FRAUD = "fraud"
    """Refused and reported for slashing (a wrong matmul result)."""
    DEFER = "defer"
    """Not decidable yet: check again later."""


@dataclass(frozen=True)
class Verdict:
    """The background verification's result: its kind and, unless ok, the reason."""

    kind: VerdictKind
    reason: str = ""


def check_submission(
    submission: ReceiptSubmission,
    verifier: ReceiptVerifier,
    now: float,
) -> tuple[str, bytes]:
    """The intake checks that need no chain state; returns (recovered signer, struct hash).

    The caller then compares the signer with the provider's current worker key.
    """
    receipt = submission.receipt
    domain = verifier.domain
    if submission.chainId is not None and submission.chainId != domain.chain_id:
        raise IntakeRejection(
            422,
            f"the receipt was signed for chain id {submission.chainId}, but this oracle settles on chain id "
            f"{domain.chain_id}",
            "wrong_chain",
        )
    if submission.escrow is not None and submission.escrow != domain.verifying_contract:
        raise IntakeRejection(
            422,
            f"the receipt was signed for escrow {submission.escrow}, but this oracle settles on "
            f"{domain.verifying_contract}",
            "wrong_escrow",
        )
    if receipt.jobId == 0 or receipt.jobId > MAX_JOB_ID:
        raise IntakeRejection(422, f"job {receipt.jobId} cannot exist (ids run from 1)", "unknown_job")
    if receipt.endTime > now + CLOCK_SKEW_SECONDS:
        raise IntakeRejection(
            422,
            f"the receipt's end time {receipt.endTime} is {receipt.endTime - int(now)} s in the future",
            "end_in_future",
        )
    wall = receipt.endTime - receipt.startTime
    if receipt.gpuSeconds > (wall + METER_TOLERANCE_SECONDS) * MAX_GPU_COUNT:
        raise IntakeRejection(
            422,
            f"{receipt.gpuSeconds} GPU-seconds cannot be metered in {wall} s even on {MAX_GPU_COUNT} GPUs",
            "impossible_gpu_seconds",
        )
    struct_hash = receipt_struct_hash(receipt)
    try:
        signer = recover(
            verifier.digest_of(struct_hash), CompactSignature.from_hex(submission.r, submission.vs)
        )
    except InvalidSignatureError as exc:
        raise IntakeRejection(
            422, f"the worker signature is invalid: {exc.message}", "bad_signature"
        ) from None
    return signer, struct_hash


def fraud_evidence_hash(signed: SignedReceipt, reason: str) -> bytes:
    """What reportFraud records on-chain: keccak256 of the receipt's struct hash and the reason."""
    return keccak256(receipt_struct_hash(signed.receipt) + reason.encode("utf-8"))


PayloadLookup = Callable[[str], bytes | None]
"""Result payload by its 0x-hex keccak256 (None when the oracle does not have it)."""


def check_against_chain(
    signed: SignedReceipt,
    signer: str,
    job: JobInfo | None,
    current_worker: str | None,
    chain_now: int,
    spec: JobSpec | None,
    payload: PayloadLookup,
    *,
    received_at: float,
    now: float,
    open_grace: float = 120.0,
    freivalds_rounds: int | None = None,
) -> Verdict:
    """The background checks, in the order a person would want the first failure reported."""
    r = signed.receipt
    if job is None:
        return Verdict(VerdictKind.REJECT, f"job {r.jobId} does not exist on this escrow")
    if job.provider != r.provider:
        return Verdict(
            VerdictKind.REJECT, f"job {r.jobId} belongs to provider {job.provider}, not {r.provider}"
        )
    if job.status == JobStatus.OPEN:
        if now - received_at < open_grace:
            return Verdict(VerdictKind.DEFER, f"job {r.jobId} is not accepted yet")
        return Verdict(VerdictKind.REJECT, f"job {r.jobId} was never accepted (status Open)")
    if job.status == JobStatus.SETTLED:
        return Verdict(VerdictKind.REJECT, f"job {r.jobId} is already settled: a receipt settles a job once")
    if job.status != JobStatus.RUNNING:
        return Verdict(
            VerdictKind.REJECT, f"job {r.jobId} is {job.status}, not Running: nothing can be settled"
        )
    if current_worker is None:
        return Verdict(VerdictKind.REJECT, f"provider {r.provider} has no worker key")
    if signer != current_worker:
        return Verdict(
            VerdictKind.REJECT,
            f"the receipt is signed by {signer}, which is not provider {r.provider}'s current worker key "
            f"{current_worker} (rotated out, or another key)",
        )
    if r.gpuSeconds > job.max_gpu_seconds:
        return Verdict(
            VerdictKind.REJECT,
            f"{r.gpuSeconds} GPU-seconds exceed the job's maximum of {job.max_gpu_seconds}",
        )
    limit = (r.endTime - r.startTime + METER_TOLERANCE_SECONDS) * job.gpu_count
    if r.gpuSeconds > limit:
        return Verdict(
            VerdictKind.REJECT,
            f"{r.gpuSeconds} GPU-seconds are impossible: {r.endTime - r.startTime} s on {job.gpu_count} GPU(s) "
            f"allows at most {limit}",
        )
    if r.startTime < job.accepted_at:
        return Verdict(
            VerdictKind.REJECT,
            f"the run started at {r.startTime}, before the job was accepted at {job.accepted_at}",
        )
    if r.endTime > chain_now:
        if r.endTime <= now + CLOCK_SKEW_SECONDS:
            return Verdict(
                VerdictKind.DEFER, f"the end time {r.endTime} is ahead of the chain's clock {chain_now}"
            )
        return Verdict(
            VerdictKind.REJECT, f"the end time {r.endTime} is in the future (chain time {chain_now})"
        )
    if spec is not None and isinstance(spec.workload, MatmulWorkload) and r.outcome == Outcome.COMPLETED:
        return _check_matmul(signed, spec.workload, payload, freivalds_rounds)
    return Verdict(VerdictKind.OK)


def _check_matmul(
    signed: SignedReceipt, workload: MatmulWorkload, payload: PayloadLookup, rounds: int | None
) -> Verdict:
    r = signed.receipt
    data = payload(r.resultHash)
    if data is None:
        return Verdict(
            VerdictKind.REJECT,
            f"job {r.jobId} is a matmul job but its result payload {r.resultHash} was not uploaded "
            "(PUT /v1/results/<resultHash> before submitting the receipt)",
        )
    if "0x" + keccak256(data).hex() != r.resultHash:
        return Verdict(
            VerdictKind.REJECT, "the stored result payload does not hash to the receipt's resultHash"
        )
    try:
        check = matmul_reference_check(workload, data, rounds=rounds)
    except ValueError as exc:
        return Verdict(
            VerdictKind.FRAUD, f"wrong matmul result: the signed payload is not the product ({exc})"
        )
    if not check.passed:
        return Verdict(VerdictKind.FRAUD, f"wrong matmul result: {check.describe()}")
    return Verdict(VerdictKind.OK)
