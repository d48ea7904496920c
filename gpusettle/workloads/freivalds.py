"""Freivalds' randomized check of a matrix product, with a relative tolerance for floating point.

To check C = A x B without computing A x B (O(n^3)), pick a random vector r and compare A(Br) with
Cr: three matrix-vector products, O(n^2). With r's entries drawn from {-1, +1}, a C that differs from
A x B in any row escapes one round with probability at most 1/2, so `rounds` rounds miss it with
probability at most 2^-rounds; an error confined to one entry is caught in every round.

Floating point: an honest C carries rounding error, so exact equality is wrong. Row i is accepted
when |A(Br) - Cr|_i <= tolerance x rms(A(Br)), that is, relative to the typical size of the product
vector's entries. Rounding error of an honest product of any size stays near the dtype's unit
roundoff u (float32 ~ 6e-8, TF32 ~ 5e-4, float16 ~ 5e-4, bfloat16 ~ 4e-3) in this measure, while a
wrong C (another seed, zeros, noise, a shifted entry) gives ratios near 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["DEFAULT_ROUNDS", "FreivaldsResult", "default_tolerance", "freivalds"]

DEFAULT_ROUNDS = 20
"""Rounds by default: a wrong row escapes with probability at most 2^-20 (about one in a million)."""

_TOLERANCES = {"float64": 1e-9, "float32": 5e-3, "float16": 2e-2, "bfloat16": 5e-2}


def default_tolerance(dtype: str) -> float:
    """The relative tolerance for a product computed in `dtype`; float32's allows TF32 tensor cores."""
    try:
        return _TOLERANCES[dtype]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}; expected one of {sorted(_TOLERANCES)}") from None


@dataclass(frozen=True)
class FreivaldsResult:
    """The verdict: `passed`, and the worst ratio |A(Br) - Cr|_i / rms(A(Br)) seen in any round."""

    passed: bool
    rounds: int
    tolerance: float
    worst_ratio: float
    worst_row: int

    def describe(self) -> str:
        """One line for logs and rejection reasons."""
        verdict = "passed" if self.passed else "FAILED"
        return (
            f"Freivalds check {verdict}: worst row {self.worst_row} has relative error "
            f"{self.worst_ratio:.3g} (tolerance {self.tolerance:.3g}, {self.rounds} rounds)"
        )


def freivalds(
    a: npt.NDArray[np.floating[Any]],
    b: npt.NDArray[np.floating[Any]],
    c: npt.NDArray[np.floating[Any]],
    rounds: int = DEFAULT_ROUNDS,
    tolerance: float = 5e-3,
    *,
    seed: int | None = None,
    rng: np.random.Generator | None = None,
) -> FreivaldsResult:
    """Check C = A x B for square or rectangular A (m x k), B (k x n), C (m x n).

    `seed` or `rng` make the random vectors reproducible; by default they come from the OS. A C with
    NaN or infinity never passes. Stops at the first failing round.
    """
    if rounds < 1:
        raise ValueError("Freivalds' check needs at least one round")
    if not tolerance > 0:
        raise ValueError("the tolerance must be positive")
    if a.ndim != 2 or b.ndim != 2 or c.ndim != 2:
        raise ValueError("A, B and C must be matrices")
    m, k = a.shape
    k2, n = b.shape
    if k != k2 or c.shape != (m, n):
        raise ValueError(f"shapes do not chain: A {a.shape}, B {b.shape}, C {c.shape}")
    if not np.all(np.isfinite(c)):
        return FreivaldsResult(False, 0, tolerance, float("inf"), int(np.argmin(np.isfinite(c).all(axis=1))))
    generator = rng if rng is not None else np.random.default_rng(seed)
    # Work in float64 only when the inputs are float64; float32 matrix-vector products are accurate
    # to ~1e-6 relative here, far below any tolerance used for float32 and half-precision results.
    work = np.float64 if np.float64 in (a.dtype, b.dtype, c.dtype) else np.float32
    worst_ratio, worst_row = 0.0, 0
    for done in range(1, rounds + 1):
        signs = np.asarray(generator.integers(0, 2, size=n, dtype=np.int8))
        r = (signs * 2 - 1).astype(work)
        expected: npt.NDArray[Any] = np.matmul(a, np.matmul(b, r))
        diff: npt.NDArray[Any] = np.abs(expected - np.matmul(c, r))
        rms = float(np.sqrt(np.mean(np.square(expected, dtype=np.float64))))
        scale = rms if rms > 0 else float(np.finfo(work).tiny)
        row = int(np.argmax(diff))
        ratio = float(diff[row]) / scale
        if ratio > worst_ratio:
            worst_ratio, worst_row = ratio, row
        if not ratio <= tolerance:
            return FreivaldsResult(False, done, tolerance, worst_ratio, worst_row)
    return FreivaldsResult(True, rounds, tolerance, worst_ratio, worst_row)
