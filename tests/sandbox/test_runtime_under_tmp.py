"""A runtime the provider lists under /tmp (e.g. a worker's virtual environment there) stays visible
to client programs: the sandbox's private /tmp must not hide it (issue 13)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gpusettle.models import Outcome
from gpusettle.workloads.sandbox import SandboxPolicy, default_runtime_paths

from .helpers import report, run


@pytest.fixture()
def runtime_in_tmp() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(dir="/tmp", prefix="gs-runtime-") as made:
        root = Path(made)
        root.chmod(0o755)
        (root / "bin").mkdir(mode=0o755)
        tool = root / "bin" / "hello-runtime"
        tool.write_text("#!/bin/sh\necho runtime-ok\n")
        tool.chmod(0o755)
        yield root


def test_a_runtime_under_tmp_is_not_hidden_by_the_private_tmp(tmp_path: Path, runtime_in_tmp: Path) -> None:
    policy = SandboxPolicy(
        max_cpus=1,
        max_memory_mb=512,
        max_disk_mb=64,
        max_processes=64,
        runtime_paths=(*default_runtime_paths(), str(runtime_in_tmp)),
    )
    code = (
        "import subprocess, tempfile\n"
        "done = subprocess.run(['hello-runtime'], capture_output=True, text=True)\n"
        "open('/tmp/scratch', 'w').write('x')\n"
        "report(out=done.stdout.strip(), tmp_mode=oct(os.stat('/tmp').st_mode & 0o7777))\n"
    )
    result, paths = run(tmp_path, code, policy=policy)
    assert result.outcome == Outcome.COMPLETED, result.failure_reason
    assert report(paths) == {"out": "runtime-ok", "tmp_mode": "0o1777"}
