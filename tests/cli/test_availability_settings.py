"""The worker's availability settings: the schedule's windows, validation and the file round trip."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from gpusettle.errors import ConfigError
from gpusettle.settings import AvailabilitySettings, AvailabilityWindow

# 2026-12-04 is a Friday.
FRI = datetime(2026, 12, 4)


def at(day_offset: int, hh: int, mm: int = 0) -> datetime:
    return FRI.replace(day=4 + day_offset, hour=hh, minute=mm)


def test_empty_schedule_is_always_available() -> None:
    assert AvailabilitySettings().in_schedule(at(0, 12))
    assert AvailabilitySettings().in_schedule(at(3, 3))


def test_window_past_midnight_covers_the_next_morning_only() -> None:
    s = AvailabilitySettings(schedule=(AvailabilityWindow(days=("fri",), start="22:00", end="07:00"),))
    assert s.in_schedule(at(0, 22))
    assert s.in_schedule(at(1, 6, 59))  # Saturday morning
    assert not s.in_schedule(at(1, 7))  # end is exclusive
    assert not s.in_schedule(at(0, 21, 59))
    assert not s.in_schedule(at(-1, 23))  # Thursday night is not listed
    assert not s.in_schedule(at(0, 6))  # Friday morning follows Thursday, not listed


def test_whole_day_window_and_day_strings() -> None:
    s = AvailabilitySettings.model_validate(
        {"schedule": [{"days": "Sat, sun", "start": "00:00", "end": "24:00"}]}
    )
    assert s.schedule[0].days == ("sat", "sun")
    assert s.in_schedule(at(2, 23, 59))
    assert not s.in_schedule(at(3, 0, 0))  # Monday


@pytest.mark.parametrize(
    "window",
    [
        {"days": ["fri"], "start": "25:00", "end": "07:00"},
        {"days": ["fri"], "start": "24:00", "end": "07:00"},
        {"days": ["fri"], "start": "7:00", "end": "08:00"},
        {"days": ["funday"], "start": "07:00", "end": "08:00"},
        {"days": [], "start": "07:00", "end": "08:00"},
        {"days": ["mon", "mon"], "start": "07:00", "end": "08:00"},
    ],
)
def test_bad_windows_are_refused(window: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        AvailabilitySettings.model_validate({"schedule": [window]})


@pytest.mark.parametrize(
    "field,value",
    [
        ("owner_use_util_percent", 0),
        ("owner_use_util_percent", 101),
        ("owner_use_minutes", 0),
        ("idle_resume_minutes", 0),
    ],
)
def test_bad_thresholds_are_refused(field: str, value: int) -> None:
    with pytest.raises(ValidationError):
        AvailabilitySettings.model_validate({field: value})


def test_file_round_trip_and_missing_file_defaults(tmp_path: Path) -> None:
    path = AvailabilitySettings.path(tmp_path)
    assert AvailabilitySettings.load(path) == AvailabilitySettings()
    s = AvailabilitySettings(
        schedule=(AvailabilityWindow(days=("mon", "tue"), start="18:00", end="08:00"),),
        owner_use_util_percent=50,
        foreign_process_reclaims=False,
    )
    s.save(path)
    assert AvailabilitySettings.load(path) == s


def test_bad_file_is_a_config_error(tmp_path: Path) -> None:
    path = AvailabilitySettings.path(tmp_path)
    path.write_text('{"schedule": [{"days": ["xyz"], "start": "00:00", "end": "01:00"}]}')
    with pytest.raises(ConfigError, match="availability"):
        AvailabilitySettings.load(path)
