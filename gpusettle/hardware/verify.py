"""The oracle's verdict on a worker's commit and opening, without a matrix product of its own.

* Each opened row's proof must lead to the committed root, and the row must equal A_i x B (one row: O(n^2)).
* Freivalds: for each GPU, C_g r must equal A_g (B_g r) (two matrix-vector products).
* Binding the two: each opened row dotted with r must equal the matching entry of C_g r, so C_g r cannot be
  computed from A and B alone while the committed rows are something else.
Rows and r are chosen only after the root is committed. Tolerances are relative to the rms of the exact values,
as gpusettle.workloads.freivalds measures them.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import numpy.typing as npt

from ..leases.merkle import verify_proof
from ..workloads.matmul import generate_inputs
from .models import CommitAnswer, CommitRequest, OpenAnswer, OpenRequest
from .rows import F32, F64, freivalds_vector, gpu_seed, row_leaf

__all__ = ["TOLERANCE", "check_opening"]

TOLERANCE = 5e-3
"""Largest relative error accepted (float32 with TF32 allowed, as the matmul workload's check)."""


def _ratio(got: npt.NDArray[Any], want: npt.NDArray[Any]) -> float:
    rms = float(np.sqrt(np.mean(np.square(want, dtype=np.float64))))
    if not np.all(np.isfinite(got)):
        return float("inf")
    return float(np.max(np.abs(got - want))) / (rms if rms > 0 else 1e-300)


def _decode(text: str, dtype: np.dtype[Any], n: int, what: str) -> npt.NDArray[Any]:
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raise ValueError(f"{what} is not base64") from None
    if len(raw) != n * dtype.itemsize:
        raise ValueError(f"{what} has {len(raw)} bytes, expected {n * dtype.itemsize}")
    return np.frombuffer(raw, dtype=dtype)


def check_opening(
    request: CommitRequest, commit: CommitAnswer, opening: OpenRequest, answer: OpenAnswer
) -> str | None:
    """None when the worker's answers are right, else why not."""
    n, gpus = request.n, request.gpus
    if commit.challengeId != request.challengeId or answer.challengeId != request.challengeId:
        return "the answer is for another challenge"
    if [row.index for row in answer.rows] != opening.rows:
        return f"rows {[row.index for row in answer.rows]} were opened, {opening.rows} were asked for"
    if len(answer.products) != gpus:
        return f"C r came for {len(answer.products)} GPUs, the challenge has {gpus}"
    root = bytes.fromhex(commit.root[2:])
    r = freivalds_vector(opening.vectorSeed, n)
    try:
        cr = [_decode(text, F64, n, f"C r of GPU {g}") for g, text in enumerate(answer.products)]
        opened = [
            (row.index, _decode(row.values, F32, n, f"row {row.index}"), row.proof) for row in answer.rows
        ]
    except ValueError as exc:
        return str(exc)
    # Proofs first: they cost no matrix, and a row off the root needs no further look.
    for index, values, proof in opened:
        if not verify_proof([bytes.fromhex(p[2:]) for p in proof], root, row_leaf(index, values)):
            return f"row {index} is not under the committed root"
    # Then per GPU, with its inputs generated once: the opened rows, their agreement with C r, and Freivalds.
    for g in range(gpus):
        a, b = generate_inputs(gpu_seed(request.seed, g), n, "float32")
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        scale = max(1.0, float(np.sqrt(np.mean(np.square(cr[g])))))
        for index, values, _proof in opened:
            if index // n != g:
                continue
            i = index % n
            got = values.astype(np.float64)
            ratio = _ratio(got, a64[i] @ b64)
            if not ratio <= TOLERANCE:
                return f"row {index} is wrong (relative error {ratio:.3g} > {TOLERANCE:g})"
            if not abs(float(got @ r) - float(cr[g][i])) <= TOLERANCE * scale:
                return f"row {index} does not match the C r sent for GPU {g}"
        ratio = _ratio(cr[g], a64 @ (b64 @ r))
        if not ratio <= TOLERANCE:
            return f"Freivalds check of GPU {g} failed (relative error {ratio:.3g} > {TOLERANCE:g})"
    return None
