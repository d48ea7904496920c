"""Run a Python snippet as a client program in the real sandbox."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

from gpusettle.models import CommandWorkload, WorkloadLimits
from gpusettle.workloads import WorkloadResult
from gpusettle.workloads.clientjob import JobPaths, prepare, run_sandboxed
from gpusettle.workloads.sandbox import SandboxPolicy

REPORT = """
import json, os
def report(**values):
    with open('/job/out/report.json', 'w') as f:
        json.dump(values, f)
def attempt(fn):
    try:
        return 'ok: ' + str(fn())[:80]
    except BaseException as exc:
        return 'refused: ' + type(exc).__name__
"""

MEMORY_HOG = "x = bytearray(400 << 20); x[::4096] = b'y' * len(x[::4096])"
"""Touches 400 MiB, page by page: past any memory limit the tests set."""


def workload(code: str, *, limits: WorkloadLimits | None = None, **extra: Any) -> CommandWorkload:
    return CommandWorkload(kind="command", argv=[sys.executable, "-c", REPORT + code], limits=limits, **extra)


def run(
    root: Path,
    code: str,
    *,
    policy: SandboxPolicy | None = None,
    limits: WorkloadLimits | None = None,
    time_limit: float = 30.0,
    cancel: threading.Event | None = None,
    **extra: Any,
) -> tuple[WorkloadResult, JobPaths]:
    policy = policy or SandboxPolicy(max_cpus=1, max_memory_mb=512, max_disk_mb=64, max_processes=64)
    paths = JobPaths(root)
    work = workload(code, limits=limits, **extra)
    resolved = prepare(work, paths, policy, oracle_url="http://127.0.0.1:9", time_limit=time_limit)
    assert not isinstance(resolved, str), resolved
    result = run_sandboxed(work, paths, resolved, policy, cancel=cancel, poll_interval=0.1)
    return result, paths


def report(paths: JobPaths) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((paths.out / "report.json").read_text())
    return data
