"""The memory watchdog counts a page shared by forked children once (PSS), not once per child (RSS):
a program that forks workers over a large read-only table must not be stopped for memory it does
not use (issue 13)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpusettle.models import Outcome, WorkloadLimits
from gpusettle.workloads import clientjob

from .helpers import report, run


@pytest.fixture(autouse=True)
def watchdog_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """No job cgroup: the kernel's memory limit would otherwise act first (it counts pages once and
    OOM-kills a hog), and these tests are about the watchdog's own count."""
    monkeypatch.setattr(clientjob, "create_job_cgroup", lambda *args, **kwargs: None)


FORKED_WORKERS = """
import time
table = bytearray(b'x' * (120 << 20))  # touched: resident in the parent, shared by the children
children = []
for _ in range(6):
    pid = os.fork()
    if pid == 0:
        time.sleep(3)
        os._exit(0 if table[12345] == ord('x') else 1)
    children.append(pid)
codes = [os.waitpid(pid, 0)[1] for pid in children]
report(codes=codes)
"""


def test_pages_shared_by_forked_children_count_once(tmp_path: Path) -> None:
    # RSS summed over the 7 processes is about 840 MiB; what they use together is about 130 MiB.
    result, paths = run(tmp_path, FORKED_WORKERS, limits=WorkloadLimits(memory_mb=400), time_limit=30)
    assert result.outcome == Outcome.COMPLETED, result.failure_reason
    assert report(paths) == {"codes": [0] * 6}
    assert int(result.details["peak_memory_bytes"]) < 400 << 20  # type: ignore[call-overload]


PRIVATE_WORKERS = """
import time
for _ in range(6):
    if os.fork() == 0:
        own = bytearray(100 << 20)
        for at in range(0, len(own), 4096):
            own[at] = 1  # each child's own pages: PSS counts them in full
        time.sleep(20)
        os._exit(0)
time.sleep(20)
report(ok=True)
"""


def test_memory_the_children_own_still_counts(tmp_path: Path) -> None:
    result, _ = run(tmp_path, PRIVATE_WORKERS, limits=WorkloadLimits(memory_mb=400), time_limit=30)
    assert result.outcome == Outcome.FAILED_CLIENT
    assert "memory" in (result.failure_reason or "")


def test_a_process_whose_memory_is_gone_counts_none() -> None:
    """A zombie (exited, not yet reaped) has no memory left: the kernel refuses its rollup (ESRCH), and it counts
    0, not the RSS a stat line may still carry while a process exits."""
    import os
    import time

    from gpusettle.workloads.supervise import _pss

    child = os.fork()
    if child == 0:
        os._exit(0)
    try:
        deadline = time.monotonic() + 5
        while Path(f"/proc/{child}/stat").read_text().split(") ")[1][0] != "Z":
            assert time.monotonic() < deadline, "the child never became a zombie"
            time.sleep(0.01)
        assert _pss(child) == 0
        assert (_pss(os.getpid()) or 0) > 0  # a live process has some
    finally:
        os.waitpid(child, 0)
