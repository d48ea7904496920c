"""The provider sets availability once, with `gpusettle provider availability set`
($GPUSETTLE_HOME/availability.json); the worker acts on exactly that schedule and rule."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from gpusettle.settings import AvailabilitySettings as Saved
from gpusettle.settings import AvailabilityWindow
from gpusettle.worker.schedule import from_provider_settings


def test_the_worker_reads_the_schedule_and_rule_the_cli_saved(tmp_path: Path) -> None:
    saved = Saved(
        schedule=(
            AvailabilityWindow(days=("mon", "tue", "wed", "thu", "fri"), start="19:00", end="08:00"),
            AvailabilityWindow(days=("sat", "sun"), start="00:00", end="24:00"),
        ),
        owner_use_util_percent=30,
        owner_use_minutes=5,
        idle_resume_minutes=15,
    )
    path = tmp_path / "availability.json"
    saved.save(path)
    worker = from_provider_settings(Saved.load(path))
    assert (worker.owner_util_percent, worker.owner_minutes, worker.idle_minutes) == (30.0, 5.0, 15.0)
    assert worker.reclaim
    # The same answer for every half hour of a week (local time, as both say).
    monday = datetime(2026, 11, 30)
    assert monday.weekday() == 0
    for step in range(7 * 48):
        moment = monday + timedelta(minutes=30 * step + 15)
        assert worker.in_schedule(moment.timestamp()) == saved.in_schedule(moment), moment
