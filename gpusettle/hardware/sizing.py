"""How big a challenge is and how long it may take.

Size: three n x n float32 matrices (A, B, C) per GPU filling `fill` of the claimed VRAM, times `scale` (1 in
production; tests scale down), capped at MAX_CHALLENGE_N. Time band: the oracle allows the products' floating point
work at the GPU family's minimum float32 rate, times `slack`, plus a fixed allowance and a per-element allowance
for generating the seeded inputs and hashing the rows (which run on the worker's CPU today).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .models import MAX_CHALLENGE_N

__all__ = ["FAMILY_TFLOPS", "ChallengeSettings", "challenge_size", "family_tflops", "time_limit_s"]

FAMILY_TFLOPS: dict[str, float] = {
    "h200": 50.0,
    "h100": 50.0,
    "a100": 19.0,
    "l40s": 90.0,
    "l40": 90.0,
    "l4": 30.0,
    "4090": 80.0,
    "3090": 35.0,
    "a10": 31.0,
    "t4": 8.0,
    "v100": 15.0,
}
"""Dense float32 TFLOPS a healthy card of each family reaches (rounded down from the vendors' figures)."""


def family_tflops(gpu_model: str, default: float) -> float:
    """The float32 rate of `gpu_model`'s family (first matching key, longest first), else `default`."""
    name = gpu_model.lower()
    for key in sorted(FAMILY_TFLOPS, key=len, reverse=True):
        if key in name:
            return FAMILY_TFLOPS[key]
    return default


@dataclass(frozen=True)
class ChallengeSettings:
    """An oracle's hardware-challenge settings."""

    scale: float = 1.0
    """Fraction of the VRAM-derived matrix size to use (tests: small, so a challenge takes milliseconds)."""
    fill: float = 0.9
    """Fraction of the claimed VRAM the three matrices fill."""
    min_n: int = 16
    """Smallest matrix size."""
    sampled_rows: int = 16
    """Rows opened per challenge."""
    slack: float = 3.0
    """How many times slower than the family's rate the products may run."""
    fixed_s: float = 5.0
    """Fixed allowance for the round trip and start-up, seconds."""
    per_melement_s: float = 0.2
    """Allowance per million matrix elements for input generation and row hashing, seconds."""
    default_tflops: float = 5.0
    """Rate assumed for a GPU model not in FAMILY_TFLOPS."""
    timeout_s: float = 600.0
    """HTTP timeout of one step."""
    worker_urls: dict[str, str] = field(default_factory=dict)
    """Provider (checksummed) -> its worker's base URL."""


def challenge_size(vram_gb: int, settings: ChallengeSettings) -> int:
    """n for a GPU of `vram_gb`: 3 n^2 float32 values fill `fill` of it, scaled, within [min_n, MAX_CHALLENGE_N]."""
    full = math.isqrt(int(vram_gb * 2**30 * settings.fill) // 12)
    return max(settings.min_n, min(MAX_CHALLENGE_N, int(full * settings.scale)))


def time_limit_s(n: int, gpus: int, gpu_model: str, settings: ChallengeSettings) -> float:
    """The longest a commit step may take for `gpus` products of size n on `gpu_model`."""
    flops = 2.0 * n**3 * gpus
    rate = family_tflops(gpu_model, settings.default_tflops) * 1e12
    return settings.fixed_s + settings.per_melement_s * 3 * n * n * gpus / 1e6 + settings.slack * flops / rate
