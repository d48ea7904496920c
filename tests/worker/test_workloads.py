"""The matmul benchmark, Freivalds' check and the command workload."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from gpusettle.hashing import keccak256
from gpusettle.models import CommandWorkload, MatmulWorkload, Outcome
from gpusettle.worker.procgroup import kill_remembered, remember
from gpusettle.worker.state import WorkerState
from gpusettle.workloads import (
    WorkloadResult,
    command_result_hash,
    cuda_available,
    decode_result,
    default_tolerance,
    encode_result,
    freivalds,
    generate_inputs,
    matmul_reference_check,
    run_command,
    run_matmul,
)
from gpusettle.workloads.base import failure_hash
from gpusettle.workloads.command import STOPPED_REASON
from gpusettle.workloads.supervise import alive


def spec(n: int = 96, dtype: str = "float32", seed: int = 3, reps: int = 2) -> MatmulWorkload:
    return MatmulWorkload(kind="matmul", seed=seed, n=n, repetitions=reps, dtype=dtype)  # type: ignore[arg-type]


def test_inputs_are_deterministic_per_seed() -> None:
    a1, b1 = generate_inputs(5, 64)
    a2, b2 = generate_inputs(5, 64)
    a3, _ = generate_inputs(6, 64)
    assert np.array_equal(a1, a2) and np.array_equal(b1, b2)
    assert not np.array_equal(a1, a3)
    assert a1.dtype == np.float32 and float(np.abs(a1).max()) <= 1.0


def test_half_precision_inputs_are_exactly_representable() -> None:
    a, _ = generate_inputs(1, 32, "float16")
    assert np.array_equal(a, a.astype(np.float16).astype(np.float32))
    bf, _ = generate_inputs(1, 32, "bfloat16")
    assert np.all(bf.view(np.uint32) & 0xFFFF == 0)  # bfloat16 keeps only the top 16 bits


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_cpu_matmul_result_passes_the_oracle_check(dtype: str) -> None:
    s = spec(dtype=dtype)
    result = run_matmul(s, device="cpu")
    assert result.outcome == Outcome.COMPLETED and result.device == "cpu"
    assert result.payload is not None
    assert result.result_hash == "0x" + keccak256(result.payload).hex()
    check = matmul_reference_check(s, result.payload)
    assert check.passed, check.describe()


def test_same_spec_same_hash_on_cpu() -> None:
    assert run_matmul(spec(), device="cpu").result_hash == run_matmul(spec(), device="cpu").result_hash


def test_progress_reports_each_repetition() -> None:
    seen: list[float] = []
    run_matmul(spec(reps=4), device="cpu", progress=lambda frac, _msg: seen.append(frac))
    assert seen == [0.25, 0.5, 0.75, 1.0]


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_wrong_products_fail(dtype: str) -> None:
    s = spec(n=128, dtype=dtype)
    payload = run_matmul(s, device="cpu").payload
    assert payload is not None
    c = decode_result(payload, 128, dtype)
    other_a, other_b = generate_inputs(s.seed + 1, 128, dtype)
    wrong_seed = encode_result((other_a @ other_b).astype(c.dtype))
    zeros = encode_result(np.zeros_like(c))
    shifted = c.copy()
    shifted[17, 3] += 0.5 * float(np.abs(c).max()) + 1.0
    for bad in (wrong_seed, zeros, encode_result(shifted)):
        verdict = matmul_reference_check(s, bad, seed=11)
        assert not verdict.passed, verdict.describe()


def test_nan_never_passes() -> None:
    a, b = generate_inputs(2, 16)
    c = a @ b
    c[0, 0] = np.nan
    assert not freivalds(a, b, c, rounds=3, tolerance=0.5).passed


def test_single_entry_error_caught_in_one_round() -> None:
    a, b = generate_inputs(9, 64, "float64")
    c = a @ b
    c[10, 20] += 1e-3
    verdict = freivalds(a, b, c, rounds=1, tolerance=default_tolerance("float64"), seed=0)
    assert not verdict.passed and verdict.worst_row == 10


def test_rectangular_and_shape_checks() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.random((5, 7)), rng.random((7, 3))
    assert freivalds(a, b, a @ b, tolerance=1e-9).passed
    with pytest.raises(ValueError, match="shapes"):
        freivalds(a, b, np.zeros((3, 5)))
    with pytest.raises(ValueError, match="round"):
        freivalds(a, b, a @ b, rounds=0)


def test_payload_must_be_the_right_matrix() -> None:
    with pytest.raises(ValueError, match="not a .npy"):
        decode_result(b"garbage", 4, "float32")
    with pytest.raises(ValueError, match="expected"):
        decode_result(encode_result(np.zeros((3, 3), dtype=np.float32)), 4, "float32")
    with pytest.raises(ValueError, match="expected"):
        decode_result(encode_result(np.zeros((4, 4), dtype=np.float64)), 4, "float32")


def test_cuda_path(tmp_path: Path) -> None:
    if not cuda_available():
        pytest.skip(
            "no CUDA device visible to PyTorch (or torch not installed): the GPU path is "
            "exercised only on a machine with an NVIDIA GPU and `pip install -e .[gpu]`"
        )
    s = spec(n=1024, reps=3)
    result = run_matmul(s, device="cuda")
    assert result.device.startswith("cuda:0")
    assert result.payload is not None
    assert matmul_reference_check(s, result.payload).passed
    for dtype in ("float16", "bfloat16", "float64"):
        r = run_matmul(spec(n=512, dtype=dtype), device="cuda")
        assert r.payload is not None and matmul_reference_check(spec(n=512, dtype=dtype), r.payload).passed


def _py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_command_hashes_declared_outputs(tmp_path: Path) -> None:
    work = CommandWorkload(
        kind="command", argv=_py("open('out.bin','wb').write(b'abc'); print('hi')"), outputs=["out.bin"]
    )
    result = run_command(work, tmp_path)
    assert result.outcome == Outcome.COMPLETED
    expected = "0x" + keccak256(keccak256(b"out.bin") + keccak256(b"abc")).hex()
    assert (
        result.result_hash == expected == command_result_hash(tmp_path, ["out.bin"], tmp_path / "stdout.log")
    )


def test_command_without_outputs_hashes_stdout(tmp_path: Path) -> None:
    result = run_command(CommandWorkload(kind="command", argv=_py("print('hello')")), tmp_path)
    assert result.result_hash == "0x" + keccak256(b"hello\n").hex()


def test_command_failures_are_client_failures(tmp_path: Path) -> None:
    exit3 = run_command(CommandWorkload(kind="command", argv=_py("import sys; sys.exit(3)")), tmp_path / "a")
    assert exit3.outcome == Outcome.FAILED_CLIENT and "status 3" in (exit3.failure_reason or "")
    assert exit3.result_hash == failure_hash(exit3.failure_reason or "")
    missing = run_command(CommandWorkload(kind="command", argv=["/nonexistent/prog"]), tmp_path / "b")
    assert missing.outcome == Outcome.FAILED_CLIENT and "cannot start" in (missing.failure_reason or "")
    no_out = run_command(CommandWorkload(kind="command", argv=_py("pass"), outputs=["x.txt"]), tmp_path / "c")
    assert no_out.outcome == Outcome.FAILED_CLIENT and "x.txt" in (no_out.failure_reason or "")
    slow = run_command(
        CommandWorkload(kind="command", argv=_py("import time; time.sleep(30)")),
        tmp_path / "d",
        time_limit=0.5,
        poll_interval=0.1,
    )
    assert slow.outcome == Outcome.FAILED_CLIENT and "time limit" in (slow.failure_reason or "")


def _spawn_family(pid_file: Path) -> str:
    """Python code: start a sleeping child, write 'own-pid child-pid' to pid_file, then sleep."""
    return (
        "import os, subprocess, sys, time; "
        "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        f"open({str(pid_file)!r}, 'w').write(f'{{os.getpid()}} {{c.pid}}'); time.sleep(60)"
    )


def _wait_for(path: Path, timeout: float = 20.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().split()) == 2:
            return [int(p) for p in path.read_text().split()]
        time.sleep(0.02)
    raise AssertionError(f"{path} was never written")


def test_stopping_the_worker_kills_the_command_and_its_children(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    cancel = threading.Event()
    groups: list[int] = []
    results: list[WorkloadResult] = []
    work = CommandWorkload(kind="command", argv=_py(_spawn_family(pid_file)))
    thread = threading.Thread(
        target=lambda: results.append(
            run_command(work, tmp_path / "job", cancel=cancel, on_start=groups.append, poll_interval=0.05)
        )
    )
    thread.start()
    pids = _wait_for(pid_file)
    cancel.set()
    thread.join(timeout=15)
    assert not thread.is_alive()
    (result,) = results
    assert result.outcome == Outcome.FAILED_PROVIDER and result.failure_reason == STOPPED_REASON
    assert groups == [pids[0]]
    assert not [p for p in pids if alive(p)]


@pytest.mark.parametrize("leader_dies_first", [False, True])
def test_a_restarted_worker_kills_the_group_a_crash_left(tmp_path: Path, leader_dies_first: bool) -> None:
    pid_file = tmp_path / "pids"
    # What the crashed worker left: a job process (its own session) and its child.
    leftover = subprocess.Popen(_py(_spawn_family(pid_file)), start_new_session=True)
    state = WorkerState(tmp_path / "worker.sqlite")
    try:
        pids = _wait_for(pid_file)
        remember(state, 7, leftover.pid)
        if leader_dies_first:
            os.kill(leftover.pid, signal.SIGKILL)
            leftover.wait()
        assert kill_remembered(state, 7) >= 1
        leftover.wait(timeout=10)
        deadline = time.monotonic() + 5
        while any(alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not [p for p in pids if alive(p)]
        assert kill_remembered(state, 7) == 0  # forgotten once handled
    finally:
        if leftover.poll() is None:
            leftover.kill()
            leftover.wait()
        for pid in pids if pid_file.exists() else []:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_a_reused_pid_is_left_alone(tmp_path: Path) -> None:
    state = WorkerState(tmp_path / "worker.sqlite")
    bystander = subprocess.Popen(_py("import time; time.sleep(30)"), start_new_session=True)
    try:
        state.set_meta("pgroup:9", f"{bystander.pid} 1")  # recorded for a process started at tick 1
        assert kill_remembered(state, 9) == 0
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()
