"""The workloads a gpusettle worker runs: the verifiable `matmul` benchmark and a user `command`.

Both return a `WorkloadResult`: the outcome, the 32-byte result hash the receipt signs and, for
matmul, the result payload the oracle checks with Freivalds' algorithm.
"""

from __future__ import annotations

from .base import ProgressCallback, WorkloadResult
from .command import command_result_hash, run_command
from .freivalds import DEFAULT_ROUNDS, FreivaldsResult, default_tolerance, freivalds
from .matmul import (
    cuda_available,
    decode_result,
    encode_result,
    generate_inputs,
    matmul_reference_check,
    run_matmul,
)

__all__ = [
    "DEFAULT_ROUNDS",
    "FreivaldsResult",
    "ProgressCallback",
    "WorkloadResult",
    "command_result_hash",
    "cuda_available",
    "decode_result",
    "default_tolerance",
    "encode_result",
    "freivalds",
    "generate_inputs",
    "matmul_reference_check",
    "run_command",
    "run_matmul",
]
