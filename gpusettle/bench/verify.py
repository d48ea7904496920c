"""Receipt verification throughput: gpusettle's fast path against eth-account's generic one.

The oracle recovers the signer of every receipt it is shown, so this is its hot loop. Both paths run
on one pinned core, on the same receipts, and every recovered address is checked.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import version
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data

from ..eip712 import CompactSignature, Domain, ReceiptVerifier, from_compact, sign_digest, typed_data
from ..hashing import KECCAK_BACKEND, checksum_address, keccak256
from ..models import JobReceipt, Outcome
from .reference import recover_rate, reference_note
from .report import BenchOptions, BenchReport, machine_info

__all__ = ["DEFAULT_RECEIPTS", "TARGET_PER_SECOND", "run"]

DEFAULT_RECEIPTS = 20_000
BASELINE_RECEIPTS = 500
WORKER_KEYS = 256
REPEATS = 3
TARGET_PER_SECOND = 10_000

CHAIN_ID = 31337
ESCROW = "0x5FbDB2315678afecb367f032d93F642f64180aa3"

Signed = tuple[JobReceipt, CompactSignature, str]


def make_signed_receipts(count: int, seed: int, domain: Domain) -> list[Signed]:
    """`count` plausible receipts signed by a pool of throwaway worker keys: (receipt, sig, signer)."""
    rng = random.Random(seed)
    keys = []
    for _ in range(WORKER_KEYS):
        key = rng.randbytes(32)
        keys.append((key, Account.from_key(key).address))
    verifier = ReceiptVerifier(domain.chain_id, domain.verifying_contract)
    signed = []
    for job_id in range(1, count + 1):
        key, signer = keys[rng.randrange(WORKER_KEYS)]
        start = 1_700_000_000 + rng.randrange(10**7)
        wall = rng.randrange(1, 86_400)
        gpus = rng.choice((1, 2, 4, 8))
        receipt = JobReceipt(
            jobId=job_id,
            provider=checksum_address(keccak256(signer.encode())[:20]),
            gpuSeconds=wall * gpus,
            startTime=start,
            endTime=start + wall,
            resultHash="0x" + rng.randbytes(32).hex(),
            outcome=rng.choice((Outcome.COMPLETED, Outcome.COMPLETED, Outcome.FAILED_CLIENT)),
        )
        signed.append((receipt, sign_digest(verifier.digest(receipt), key), signer))
    return signed


@contextmanager
def one_core() -> Iterator[str]:
    """Pin this process to a single CPU for the duration, so the figures are per core."""
    if not hasattr(os, "sched_getaffinity"):
        yield "not pinned (no sched_setaffinity on this platform)"
        return
    before = os.sched_getaffinity(0)
    cpu = min(before)
    os.sched_setaffinity(0, {cpu})
    try:
        yield f"pinned to CPU {cpu}"
    finally:
        os.sched_setaffinity(0, before)


def _time(fn: Callable[[], list[str]]) -> tuple[float, list[str]]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def run(options: BenchOptions) -> BenchReport:
    """Measure verifications per second of both paths and report them."""
    count = options.size if options.size is not None else DEFAULT_RECEIPTS
    if count < 1:
        raise ValueError("the verify bench needs at least one receipt")
    domain = Domain(CHAIN_ID, ESCROW)
    signed = make_signed_receipts(count, options.seed, domain)
    expected = [signer for _, _, signer in signed]

    verifier = ReceiptVerifier(CHAIN_ID, ESCROW)

    def fast() -> list[str]:
        verify = verifier.verify
        return [verify(receipt, sig) for receipt, sig, _ in signed]

    baseline_set = signed[: min(BASELINE_RECEIPTS, count)]
    # The generic path's inputs are prepared outside the timer: only encoding + recovery is measured.
    baseline_inputs = [(typed_data(r, domain), from_compact(sig)) for r, sig, _ in baseline_set]

    def generic() -> list[str]:
        return [
            Account.recover_message(encode_typed_data(full_message=message), signature=signature)
            for message, signature in baseline_inputs
        ]

    with one_core() as pinning:
        fast()  # warm caches and lazy imports
        fast_runs = [_time(fast) for _ in range(REPEATS)]
        generic_seconds, generic_result = _time(generic)

    fast_seconds = statistics.median(seconds for seconds, _ in fast_runs)
    fast_ok = all(result == expected for _, result in fast_runs)
    generic_ok = generic_result == expected[: len(baseline_set)]
    fast_rate = count / fast_seconds
    generic_rate = len(baseline_set) / generic_seconds

    notes = [
        f"one core ({pinning}); fast path: median of {REPEATS} runs; keccak backend: {KECCAK_BACKEND}",
        f"speedup: {fast_rate / generic_rate:,.1f}x; target >= {TARGET_PER_SECOND:,}/s: "
        + ("met" if fast_rate >= TARGET_PER_SECOND else "MISSED"),
    ]
    notes.append(reference_note(fast_rate))
    if not (fast_ok and generic_ok):
        notes.append("WRONG RESULT: a recovered address differs from the signer")

    data: dict[str, Any] = {
        "receipts": count,
        "worker_keys": WORKER_KEYS,
        "seed": options.seed,
        "fast": {
            "path": "gpusettle.eip712.ReceiptVerifier.verify (coincurve)",
            "receipts": count,
            "repeats": REPEATS,
            "seconds_median": fast_seconds,
            "seconds_all": [seconds for seconds, _ in fast_runs],
            "per_second": fast_rate,
            "us_per_verification": 1e6 / fast_rate,
            "all_correct": fast_ok,
        },
        "eth_account": {
            "path": "Account.recover_message(encode_typed_data(full_message=...))",
            "receipts": len(baseline_set),
            "seconds": generic_seconds,
            "per_second": generic_rate,
            "us_per_verification": 1e6 / generic_rate,
            "all_correct": generic_ok,
        },
        "speedup": fast_rate / generic_rate,
        "reference_recoveries_per_second": recover_rate(),
        "target_per_second": TARGET_PER_SECOND,
        "meets_target": fast_rate >= TARGET_PER_SECOND,
        "pinning": pinning,
        "keccak_backend": KECCAK_BACKEND,
        "versions": {pkg: version(pkg) for pkg in ("coincurve", "eth-account")},
        "machine": machine_info(),
    }
    return BenchReport(
        name="verify",
        title=f"Receipt signature verification ({count:,} receipts, {len(baseline_set):,} for eth-account)",
        headers=["path", "receipts", "verifications/s", "us/verification"],
        rows=[
            ["gpusettle ReceiptVerifier", f"{count:,}", f"{fast_rate:,.0f}", f"{1e6 / fast_rate:,.1f}"],
            [
                "eth-account recover_message",
                f"{len(baseline_set):,}",
                f"{generic_rate:,.0f}",
                f"{1e6 / generic_rate:,.1f}",
            ],
        ],
        data=data,
        notes=notes,
        ok=fast_ok and generic_ok,
    )
