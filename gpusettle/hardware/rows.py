"""The worker's side of a challenge: the seeded products, their row commitment, and the opening.

A row's leaf is keccak256(uint256 global index || the row's float32 values, little endian), so a row cannot be
moved to another place in the tree; the tree is the sorted-pair keccak256 tree of the lease heartbeats.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ..hashing import keccak256
from ..leases.merkle import merkle_proof, merkle_root
from ..models import MatmulWorkload
from ..workloads.matmul import _run_numpy, _run_torch, generate_inputs

__all__ = ["Products", "compute_products", "freivalds_vector", "gpu_seed", "row_leaf"]

F32 = np.dtype("<f4")
F64 = np.dtype("<f8")


def gpu_seed(seed: int, gpu: int) -> int:
    """The input seed of GPU `gpu`'s product."""
    return (seed + gpu) % 2**64


def row_leaf(index: int, row: npt.NDArray[Any]) -> bytes:
    """The Merkle leaf of global row `index`."""
    return keccak256(index.to_bytes(32, "big") + np.ascontiguousarray(row, dtype=F32).tobytes())


def freivalds_vector(vector_seed: int, n: int) -> npt.NDArray[np.float64]:
    """r in {-1, +1}^n from `vector_seed` (both sides derive it, so it need not travel)."""
    signs = np.random.Generator(np.random.PCG64(vector_seed)).integers(0, 2, size=n, dtype=np.int8)
    return (signs.astype(np.float64) * 2.0) - 1.0


@dataclass
class Products:
    """The products of one challenge, kept by the worker between commit and open."""

    n: int
    products: list[npt.NDArray[np.float32]]
    leaves: list[bytes]
    root: bytes
    compute_ms: int
    device: str

    def open(self, rows: list[int], vector_seed: int) -> dict[str, Any]:
        """The opening: the rows with proofs and C_g r per GPU (the OpenAnswer fields but challengeId)."""
        total = len(self.leaves)
        opened = []
        for index in rows:
            if not 0 <= index < total:
                raise IndexError(f"row {index} is not among the {total} rows of this challenge")
            g, i = divmod(index, self.n)
            opened.append(
                {
                    "index": index,
                    "values": base64.b64encode(self.products[g][i].astype(F32).tobytes()).decode(),
                    "proof": ["0x" + p.hex() for p in merkle_proof(self.leaves, index)],
                }
            )
        r = freivalds_vector(vector_seed, self.n)
        products = [
            base64.b64encode((c.astype(np.float64) @ r).astype(F64).tobytes()).decode() for c in self.products
        ]
        return {"rows": opened, "products": products}


def compute_products(seed: int, n: int, gpus: int, devices: list[str]) -> Products:
    """C_g = A_g x B_g for g < gpus, each on `devices[g]` ("cpu" or "cuda:i") through the matmul workload's path."""
    started = time.perf_counter()
    products: list[npt.NDArray[np.float32]] = []
    where: list[str] = []
    for g in range(gpus):
        spec = MatmulWorkload(kind="matmul", seed=gpu_seed(seed, g), n=n, repetitions=1)
        a, b = generate_inputs(spec.seed, n, "float32")
        device = devices[g]
        if device.startswith("cuda"):
            # The matmul workload's CUDA path (full float32, no TF32), on this GPU.
            c, name = _run_torch(a, b, spec, None, int(device.split(":", 1)[1]) if ":" in device else 0)
        else:
            c, name = _run_numpy(a, b, spec, None), "cpu"
        products.append(np.asarray(c, dtype=np.float32))
        where.append(name)
    compute_ms = int((time.perf_counter() - started) * 1000)
    leaves = [row_leaf(g * n + i, products[g][i]) for g in range(gpus) for i in range(n)]
    return Products(n, products, leaves, merkle_root(leaves), compute_ms, ", ".join(sorted(set(where))))
