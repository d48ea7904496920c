"""The job's own cgroup, where the worker can make one: the kernel enforces memory and process limits,
and removing the cgroup kills whatever is left in it."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from gpusettle.models import Outcome, WorkloadLimits
from gpusettle.workloads.cgroups import JobCgroup, create_job_cgroup

from .helpers import run


def _cgroup(memory_mb: int = 64, processes: int = 8) -> JobCgroup:
    made = create_job_cgroup(
        f"gpusettle-test-{uuid.uuid4().hex[:8]}", memory_bytes=memory_mb << 20, processes=processes, cpus=1
    )
    if made is None:
        pytest.skip(
            "this worker cannot make cgroups here (not root, or no delegated memory+pids controllers)"
        )
    return made


def test_the_kernel_caps_the_jobs_memory_and_processes() -> None:
    cgroup = _cgroup()
    try:
        hog = subprocess.run(
            [
                *cgroup.join_prefix(),
                sys.executable,
                "-c",
                "x = bytearray(300 << 20); x[::4096] = b'y' * len(x[::4096])",
            ],
            capture_output=True,
            check=False,
            timeout=60,
        )
        assert hog.returncode == -9  # the OOM killer, inside the job's cgroup only
        forks = subprocess.run(
            [
                *cgroup.join_prefix(),
                sys.executable,
                "-c",
                "import os, time\nn = 0\nfor _ in range(50):\n    try:\n        if os.fork() == 0:\n"
                "            os.close(1); os.close(2); time.sleep(30); os._exit(0)\n        n += 1\n    except OSError:\n        break\nprint(n)",
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert int(forks.stdout.strip()) < 8
        assert cgroup.pids()  # the sleepers are still there...
    finally:
        cgroup.remove()
    assert not cgroup.pids()  # ...and gone with the cgroup
    assert not any(d.exists() for d in cgroup.directories)


def test_a_sandboxed_job_runs_in_its_own_cgroup(tmp_path: Path) -> None:
    _cgroup().remove()  # skips where cgroups cannot be made
    code = "report(cgroup=open('/proc/self/cgroup').read())"
    result, paths = run(tmp_path / "job", code)
    assert result.outcome == Outcome.COMPLETED
    assert "cgroup" in str(result.details["limits_enforced_by"])
    hog, _ = run(
        tmp_path / "hog",
        "x = bytearray(400 << 20); x[::4096] = b'y' * len(x[::4096])",
        limits=WorkloadLimits(memory_mb=64),
    )
    assert hog.outcome == Outcome.FAILED_CLIENT
