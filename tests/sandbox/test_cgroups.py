"""The job's own cgroup, where the worker can make one: the kernel enforces memory and process limits,
and removing the cgroup kills whatever is left in it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from gpusettle.models import Outcome, WorkloadLimits
from gpusettle.workloads.cgroups import JobCgroup, create_job_cgroup, remove_stale_cgroups

from .helpers import MEMORY_HOG, run


def _cgroup(memory_mb: int = 64, processes: int = 8) -> JobCgroup:
    made = create_job_cgroup(
        f"gpusettle-test-{os.getpid()}-{uuid.uuid4().hex[:8]}",
        memory_bytes=memory_mb << 20,
        processes=processes,
        cpus=1,
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
                (
                    "import os, time\nn = 0\nfor _ in range(50):\n    try:\n        if os.fork() == 0:\n"
                    "            os.close(1); os.close(2); time.sleep(30); os._exit(0)\n        n += 1\n"
                    "    except OSError:\n        break\nprint(n)"
                ),
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
    result, _ = run(tmp_path / "job", "pass")
    assert result.outcome == Outcome.COMPLETED
    assert "cgroup" in str(result.details["limits_enforced_by"])
    hog, _ = run(
        tmp_path / "hog",
        MEMORY_HOG,
        limits=WorkloadLimits(memory_mb=64),
    )
    assert hog.outcome == Outcome.FAILED_CLIENT


def test_a_restarted_worker_removes_the_cgroups_a_crash_left(tmp_path: Path) -> None:
    _cgroup().remove()  # skips where cgroups cannot be made
    # A crashed worker: it made a job cgroup, started the job in it, and died without cleaning up.
    crashed = (
        "import os, subprocess, sys\n"
        "from gpusettle.workloads.cgroups import create_job_cgroup\n"
        "made = create_job_cgroup(f'gpusettle-9-{os.getpid()}-abcd', memory_bytes=64 << 20, processes=8, cpus=1)\n"
        "subprocess.Popen([*made.join_prefix(), 'sleep', '60'], start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "print(' '.join(str(d) for d in made.directories))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", crashed], capture_output=True, text=True, check=True, timeout=30
    )
    stale = JobCgroup([Path(p) for p in done.stdout.split()], 1, [])
    deadline = time.monotonic() + 5
    while not stale.pids() and time.monotonic() < deadline:
        time.sleep(0.01)
    left = stale.pids()
    assert left
    mine = _cgroup()  # this (live) worker's own job: left alone
    try:
        assert remove_stale_cgroups() >= 1
        assert not any(d.exists() for d in stale.directories)
        assert all(d.exists() for d in mine.directories)
        deadline = time.monotonic() + 5
        while any(Path(f"/proc/{p}").exists() for p in left) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not [
            p
            for p in left
            if Path(f"/proc/{p}/stat").exists()
            and "Z" not in Path(f"/proc/{p}/stat").read_text().rpartition(")")[2].split()[0]
        ]
    finally:
        mine.remove()
