"""The machine's reference rate: raw secp256k1 public-key recoveries per second on one core
(coincurve, the library the oracle's verifier uses), printed beside every throughput.

These machines differ two to three times in speed, so an absolute receipts-per-second figure means
little alone; divided by this rate it says how many signature checks' worth of work each receipt
costs, which can be compared across machines.
"""

from __future__ import annotations

import functools
import os
import time

from coincurve import PrivateKey, PublicKey

__all__ = ["recover_rate", "reference_note"]


@functools.cache
def recover_rate(seconds: float = 1.0) -> float:
    """Recoveries per second of one pinned core (measured once per process)."""
    key = PrivateKey(bytes.fromhex("42" * 32))
    digests = [bytes([i]) * 32 for i in range(1, 65)]
    signatures = [key.sign_recoverable(d, hasher=None) for d in digests]
    pairs = list(zip(signatures, digests, strict=True))
    before = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if before:
        os.sched_setaffinity(0, {min(before)})
    try:
        for signature, digest in pairs:  # warm up
            PublicKey.from_signature_and_message(signature, digest, hasher=None)
        done = 0
        start = time.perf_counter()
        deadline = start + seconds
        while time.perf_counter() < deadline:
            for signature, digest in pairs:
                PublicKey.from_signature_and_message(signature, digest, hasher=None)
            done += len(pairs)
        return done / (time.perf_counter() - start)
    finally:
        if before:
            os.sched_setaffinity(0, before)


def reference_note(per_second: float | None = None) -> str:
    """A line for a report: the reference rate, and `per_second` as a share of it."""
    rate = recover_rate()
    line = f"reference: this machine recovers {rate:,.0f} secp256k1 signatures/s on one core (coincurve)"
    if per_second:
        line += f"; this throughput is {per_second / rate:.2f}x that ({rate / per_second:.1f} recoveries' worth of time per item)"
    return line
