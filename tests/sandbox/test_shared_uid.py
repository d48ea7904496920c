"""Without cgroups, RLIMIT_NPROC counts every process of the sandbox's user on the host, so a job
running beside another as the same user could be starved by the other's fork bomb (issue 13): the
worker refuses to start a second such job rather than let them share one budget."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from gpusettle.models import Outcome
from gpusettle.workloads import clientjob

from .helpers import run

LINGER = "import time\nopen('/job/out/started', 'w').close()\ntime.sleep(4)\nreport(ok=True)\n"


def test_two_jobs_of_one_user_without_cgroups_do_not_run_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(clientjob, "create_job_cgroup", lambda *args, **kwargs: None)
    first: dict[str, object] = {}
    thread = threading.Thread(target=lambda: first.update(done=run(tmp_path / "a", LINGER, time_limit=30)))
    thread.start()
    deadline = time.monotonic() + 20
    while not (tmp_path / "a" / "work" / "out" / "started").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    second, _ = run(tmp_path / "b", "report(ok=True)", time_limit=30)
    thread.join()
    first_result, _ = first["done"]  # type: ignore[misc]
    assert first_result.outcome == Outcome.COMPLETED
    assert second.outcome == Outcome.FAILED_PROVIDER
    assert "cgroups" in (second.failure_reason or "")
    third, _ = run(tmp_path / "c", "report(ok=True)", time_limit=30)  # once alone, a job runs
    assert third.outcome == Outcome.COMPLETED
