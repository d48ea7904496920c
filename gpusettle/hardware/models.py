"""The messages of a hardware challenge between an oracle and a worker (POST /v1/hardware, two steps).

1. commit: the oracle sends a seed and a size; the worker computes C_g = A_g x B_g for each of the offer's GPUs g
   (A_g, B_g seeded by `seed + g`, as the matmul workload seeds its inputs), and answers with the Merkle root over
   all rows of all products and the time the work took.
2. open: only after the root is committed the oracle names the rows it samples and a Freivalds vector seed; the
   worker answers with those rows, their Merkle proofs and C_g r for each GPU.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..models import Bytes32Hex, Uint8, Uint32, Uint64, Uint256

__all__ = [
    "MAX_CHALLENGE_N",
    "MAX_SAMPLED_ROWS",
    "CommitAnswer",
    "CommitRequest",
    "HardwareCheck",
    "OpenAnswer",
    "OpenRequest",
    "OpenedRow",
]

MAX_CHALLENGE_N = 16_384
"""The largest challenge matrix a worker accepts (1 GiB of float32 product per GPU, the matmul payload cap)."""
MAX_SAMPLED_ROWS = 64
"""Rows one open step may ask for."""

GpuCount = Annotated[int, Field(strict=True, ge=1, le=255)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class CommitRequest(_Model):
    """Step 1: compute the seeded products and commit to them."""

    step: Literal["commit"] = "commit"
    """Which step this request is."""
    offerId: Uint256
    """The offer whose hardware is challenged."""
    challengeId: Bytes32Hex
    """The oracle's id for this challenge (keccak256 of the oracle's secret seed material)."""
    seed: Uint64
    """Seed of GPU 0's inputs; GPU g uses seed + g (mod 2^64)."""
    n: int = Field(strict=True, ge=2, le=MAX_CHALLENGE_N)
    """Matrix size: each product is n x n."""
    gpus: GpuCount
    """How many GPUs compute a product each (the offer's GPU count)."""


class CommitAnswer(_Model):
    """The worker's commitment."""

    challengeId: Bytes32Hex
    """The challenge answered."""
    root: Bytes32Hex
    """Sorted-pair keccak256 Merkle root over the rows of all products (gpusettle.hardware.rows.row_leaf)."""
    computeMs: Uint32
    """Milliseconds the worker says the products took (the oracle times the request itself too)."""
    device: str = Field(max_length=200)
    """Where the products ran, for the operator's log (not trusted)."""


class OpenRequest(_Model):
    """Step 2: open sampled rows and give C r."""

    step: Literal["open"] = "open"
    """Which step this request is."""
    challengeId: Bytes32Hex
    """The committed challenge."""
    rows: list[Annotated[int, Field(strict=True, ge=0)]] = Field(min_length=1, max_length=MAX_SAMPLED_ROWS)
    """Global row indices (GPU g's row i is g x n + i) to open."""
    vectorSeed: Uint64
    """Seed of the Freivalds vector r in {-1, +1}^n (gpusettle.hardware.rows.freivalds_vector)."""


class OpenedRow(_Model):
    """One opened row."""

    index: Annotated[int, Field(strict=True, ge=0)]
    """Global row index."""
    values: str = Field(max_length=4 * MAX_CHALLENGE_N * 2)
    """The row's n float32 values, little endian, base64."""
    proof: list[Bytes32Hex] = Field(max_length=64)
    """Sibling hashes from the row's leaf to the root."""


class OpenAnswer(_Model):
    """The worker's opening."""

    challengeId: Bytes32Hex
    """The challenge opened."""
    rows: list[OpenedRow] = Field(max_length=MAX_SAMPLED_ROWS)
    """The rows asked for, in the order asked."""
    products: list[str] = Field(max_length=255)
    """Per GPU, C_g r as n float64 values, little endian, base64."""


class HardwareCheck(_Model):
    """The record the oracle set signs and the HardwareRegistry stores (IHardwareRegistry.HardwareCheck)."""

    offerId: Uint256
    """The offer checked."""
    challengeId: Bytes32Hex
    """The challenge's id."""
    checkedAt: Uint64
    """When the oracle finished checking (unix seconds)."""
    passed: bool
    """The answer was right and in the time band."""
    gpuCount: Uint8
    """GPUs the check covered."""
    vramGb: Uint32
    """VRAM per GPU the challenge was sized for (the offer's claim)."""
    elapsedMs: Uint32
    """The worker's time for the commit step as the oracle measured it."""
    resultRoot: Bytes32Hex
    """The root the worker committed to (zero when it gave none)."""

    def as_tuple(self) -> tuple[int, bytes, int, bool, int, int, int, bytes]:
        """The ABI tuple of IHardwareRegistry.HardwareCheck."""
        return (
            self.offerId,
            bytes.fromhex(self.challengeId[2:]),
            self.checkedAt,
            self.passed,
            self.gpuCount,
            self.vramGb,
            self.elapsedMs,
            bytes.fromhex(self.resultRoot[2:]),
        )
