"""The built-in verifiable benchmark: `repetitions` products C = A x B of seeded random n x n matrices.

Inputs are generated on the CPU with NumPy's PCG64 from the spec's seed, so the worker and the oracle
get bit-identical A and B whatever hardware either has. The product runs on CUDA through PyTorch when
a GPU is present (torch is an optional extra and is imported only here, lazily) and on the CPU with
NumPy otherwise. The result payload is C in .npy form (float32, or float64 for float64 jobs); its
keccak256 is the receipt's result hash, and the oracle checks C with Freivalds' algorithm.
"""

from __future__ import annotations

import io
import time
from typing import Any

import numpy as np
import numpy.typing as npt

from ..hashing import keccak256
from ..models import MatmulWorkload, Outcome
from .base import ProgressCallback, WorkloadResult
from .freivalds import FreivaldsResult, default_tolerance, freivalds

__all__ = [
    "cuda_available",
    "decode_result",
    "encode_result",
    "generate_inputs",
    "matmul_reference_check",
    "payload_dtype",
    "run_matmul",
]

FloatArray = npt.NDArray[np.floating[Any]]

# Largest payload the decoder accepts (n = 16384 in float32 is 1 GiB); anything larger is refused
# before NumPy allocates it.
MAX_PAYLOAD_BYTES = 1 << 30


def payload_dtype(dtype: str) -> np.dtype[Any]:
    """The dtype inputs and results are exchanged in: float64 for float64 jobs, float32 otherwise
    (NumPy has no bfloat16, and half-precision values are exact in float32)."""
    return np.dtype(np.float64) if dtype == "float64" else np.dtype(np.float32)


def _round_bfloat16(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Round float32 values to the nearest bfloat16 (ties to even), kept in float32: what
    torch's .to(torch.bfloat16) does, so worker and oracle see the same inputs."""
    bits = x.view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return rounded.astype(np.uint32).view(np.float32)


def generate_inputs(seed: int, n: int, dtype: str = "float32") -> tuple[FloatArray, FloatArray]:
    """A and B, uniform in [-1, 1), rounded to `dtype`'s precision and held in the payload dtype."""
    rng = np.random.Generator(np.random.PCG64(seed))
    if dtype == "float64":
        a64 = rng.random((n, n), dtype=np.float64) * 2.0 - 1.0
        b64 = rng.random((n, n), dtype=np.float64) * 2.0 - 1.0
        return a64, b64
    a = rng.random((n, n), dtype=np.float32) * np.float32(2.0) - np.float32(1.0)
    b = rng.random((n, n), dtype=np.float32) * np.float32(2.0) - np.float32(1.0)
    if dtype == "float16":
        a, b = a.astype(np.float16).astype(np.float32), b.astype(np.float16).astype(np.float32)
    elif dtype == "bfloat16":
        a, b = _round_bfloat16(a), _round_bfloat16(b)
    return a, b


def encode_result(c: FloatArray) -> bytes:
    """C as .npy bytes (C order, little endian): the payload whose keccak256 is the result hash."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(c), allow_pickle=False)
    return buffer.getvalue()


def decode_result(payload: bytes, n: int, dtype: str) -> FloatArray:
    """Parse a payload back into C; ValueError when it is not an n x n matrix of the payload dtype."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"result payload of {len(payload)} bytes is larger than {MAX_PAYLOAD_BYTES}")
    try:
        c = np.load(io.BytesIO(payload), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(f"result payload is not a .npy array: {exc}") from None
    want = payload_dtype(dtype)
    if not isinstance(c, np.ndarray) or c.shape != (n, n) or c.dtype != want:
        shape = getattr(c, "shape", None)
        raise ValueError(f"result payload is {getattr(c, 'dtype', '?')} {shape}, expected {want} ({n}, {n})")
    result: FloatArray = c
    return result


def cuda_available() -> bool:
    """Whether PyTorch is installed and sees a CUDA device (False, not an error, without torch)."""
    try:
        import torch
    except ImportError:
        return False
    try:
        return bool(torch.cuda.is_available())
    except RuntimeError:
        return False


def _run_numpy(
    a: FloatArray, b: FloatArray, spec: MatmulWorkload, progress: ProgressCallback | None
) -> FloatArray:
    c: FloatArray = a @ b
    if progress:
        progress(1 / spec.repetitions, f"repetition 1/{spec.repetitions}")
    for rep in range(1, spec.repetitions):
        c = a @ b
        if progress:
            progress((rep + 1) / spec.repetitions, f"repetition {rep + 1}/{spec.repetitions}")
    if spec.dtype == "float16":
        c = c.astype(np.float16).astype(np.float32)
    elif spec.dtype == "bfloat16":
        c = _round_bfloat16(c.astype(np.float32))
    return c


def _run_torch(
    a: FloatArray, b: FloatArray, spec: MatmulWorkload, progress: ProgressCallback | None, device_index: int
) -> tuple[FloatArray, str]:
    import torch

    torch_dtype = {
        "float16": torch.float16,
        "bfloat16": torch.bfloat16,
        "float32": torch.float32,
        "float64": torch.float64,
    }[spec.dtype]
    # Full float32 precision (no TF32) so an honest result is as exact as the dtype allows.
    torch.backends.cuda.matmul.allow_tf32 = False
    device = torch.device("cuda", device_index)
    name = torch.cuda.get_device_name(device)
    ta = torch.from_numpy(a).to(device=device, dtype=torch_dtype)
    tb = torch.from_numpy(b).to(device=device, dtype=torch_dtype)
    tc = ta @ tb
    torch.cuda.synchronize(device)
    if progress:
        progress(1 / spec.repetitions, f"repetition 1/{spec.repetitions}")
    for rep in range(1, spec.repetitions):
        tc = ta @ tb
        # Synchronise every few products only: a progress update need not stall the GPU each time.
        if progress and (rep % 8 == 7 or rep == spec.repetitions - 1):
            torch.cuda.synchronize(device)
            progress((rep + 1) / spec.repetitions, f"repetition {rep + 1}/{spec.repetitions}")
    torch.cuda.synchronize(device)
    out_dtype = torch.float64 if spec.dtype == "float64" else torch.float32
    c: FloatArray = tc.to(dtype=out_dtype).cpu().numpy()
    return c, f"cuda:{device_index} ({name})"


def run_matmul(
    spec: MatmulWorkload,
    *,
    progress: ProgressCallback | None = None,
    device: str = "auto",
    self_check: bool = True,
) -> WorkloadResult:
    """Run the benchmark and hash its result.

    `device` is "auto" (CUDA when available, else CPU), "cpu" or "cuda[:index]". With `self_check`
    the worker runs one Freivalds round on its own result before signing, so broken hardware produces
    a FailedProvider receipt instead of a result the oracle would report as fraud.
    """
    started = time.perf_counter()
    a, b = generate_inputs(spec.seed, spec.n, spec.dtype)
    generated = time.perf_counter()
    use_cuda = device.startswith("cuda") or (device == "auto" and cuda_available())
    if use_cuda:
        index = int(device.split(":", 1)[1]) if ":" in device else 0
        c, where = _run_torch(a, b, spec, progress, index)
    else:
        c, where = _run_numpy(a, b, spec, progress), "cpu"
    computed = time.perf_counter()
    details: dict[str, object] = {
        "generate_s": generated - started,
        "compute_s": computed - generated,
        "flops": 2 * spec.n**3 * spec.repetitions,
        "tflops_per_s": 2 * spec.n**3 * spec.repetitions / max(computed - generated, 1e-9) / 1e12,
    }
    if self_check:
        check = freivalds(a, b, c, rounds=2, tolerance=default_tolerance(spec.dtype), seed=spec.seed ^ 0x5EED)
        details["self_check_ratio"] = check.worst_ratio
        if not check.passed:
            return WorkloadResult.failed(
                Outcome.FAILED_PROVIDER,
                f"the device produced a wrong product (Freivalds ratio {check.worst_ratio:.3g} > "
                f"{check.tolerance:.3g}); the hardware or driver is faulty",
                device=where,
            )
    payload = encode_result(c)
    return WorkloadResult(
        outcome=Outcome.COMPLETED,
        result_hash="0x" + keccak256(payload).hex(),
        payload=payload,
        device=where,
        details=details,
    )


def matmul_reference_check(
    spec: MatmulWorkload,
    payload: bytes,
    *,
    rounds: int | None = None,
    tolerance: float | None = None,
    seed: int | None = None,
) -> FreivaldsResult:
    """What the oracle runs: regenerate A and B from the spec and check the payload's C with Freivalds,
    without recomputing A x B. Raises ValueError for a payload that is not an n x n matrix."""
    c = decode_result(payload, spec.n, spec.dtype)
    a, b = generate_inputs(spec.seed, spec.n, spec.dtype)
    kwargs: dict[str, Any] = {}
    if rounds is not None:
        kwargs["rounds"] = rounds
    return freivalds(
        a,
        b,
        c,
        tolerance=tolerance if tolerance is not None else default_tolerance(spec.dtype),
        seed=seed,
        **kwargs,
    )
