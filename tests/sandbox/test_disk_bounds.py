"""The disk limit counts what a job really costs the host (issue 13): inodes and directories, not
only data blocks, and its stdout/stderr logs besides its work directory."""

from __future__ import annotations

from pathlib import Path

from gpusettle.models import Outcome, WorkloadLimits

from .helpers import run

# Each program lingers after its writes so the stop is the watchdog's, not a race with its exit.
MANY_FILES = """
import time
for i in range(3000):
    os.close(os.open(f'/job/f{i}', os.O_CREAT | os.O_WRONLY))
time.sleep(20)
report(ok=True)
"""

MANY_DIRS = """
import time
for i in range(3000):
    os.mkdir(f'/job/d{i}')
time.sleep(20)
report(ok=True)
"""


def test_empty_files_count_against_the_disk_limit(tmp_path: Path) -> None:
    result, _ = run(tmp_path, MANY_FILES, limits=WorkloadLimits(disk_mb=1), time_limit=60)
    assert result.outcome == Outcome.FAILED_CLIENT
    assert "disk limit" in (result.failure_reason or "")


def test_directories_count_against_the_disk_limit(tmp_path: Path) -> None:
    result, _ = run(tmp_path, MANY_DIRS, limits=WorkloadLimits(disk_mb=1), time_limit=60)
    assert result.outcome == Outcome.FAILED_CLIENT
    assert "disk limit" in (result.failure_reason or "")


LOUD = """
import sys, time
chunk = b'y' * (1 << 20)
for _ in range(3):
    sys.stdout.buffer.write(chunk)
    sys.stderr.buffer.write(chunk)
sys.stdout.flush()
sys.stderr.flush()
time.sleep(20)
report(ok=True)
"""


def test_the_logs_count_against_the_disk_limit(tmp_path: Path) -> None:
    result, _ = run(tmp_path, LOUD, limits=WorkloadLimits(disk_mb=4), time_limit=60)
    assert result.outcome == Outcome.FAILED_CLIENT
    assert "disk limit" in (result.failure_reason or "")
