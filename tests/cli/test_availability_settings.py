"""The worker's availability settings (the worker's file format): windows, validation, the time zone and
the TOML round trip."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from gpusettle.errors import ConfigError
from gpusettle.settings import AvailabilitySettings, AvailabilityWindow, load_availability, save_availability

UTC = ZoneInfo("UTC")


def at(day: int, hh: int, mm: int = 0) -> float:
    """Unix time of 2026-12-`day` hh:mm UTC (2026-12-04 is a Friday)."""
    return datetime(2026, 12, day, hh, mm, tzinfo=UTC).timestamp()


def test_empty_schedule_is_always_available() -> None:
    assert AvailabilitySettings().in_schedule(at(4, 12))


def test_window_past_midnight_covers_the_next_morning_only() -> None:
    s = AvailabilitySettings(schedule=["fri 22:00-07:00"], timezone="UTC")
    assert s.in_schedule(at(4, 22))
    assert s.in_schedule(at(5, 6, 59))  # Saturday morning
    assert not s.in_schedule(at(5, 7))  # the end is exclusive
    assert not s.in_schedule(at(4, 21, 59))
    assert not s.in_schedule(at(3, 23))  # Thursday night is not listed
    assert not s.in_schedule(at(4, 6))  # Friday morning follows Thursday


def test_ranges_lists_and_time_zones() -> None:
    s = AvailabilitySettings(schedule=["sat,sun 00:00-24:00"], timezone="UTC")
    assert s.in_schedule(at(6, 23, 59)) and not s.in_schedule(at(7, 0, 0))  # Sunday yes, Monday no
    assert AvailabilityWindow.parse("fri-mon 22:00-06:00").days == frozenset({4, 5, 6, 0})
    assert AvailabilityWindow.parse("mon-fri 18:00-08:00").text() == "mon,tue,wed,thu,fri 18:00-08:00"
    # 22:00 UTC on a Friday is 23:00 in Berlin: inside a Berlin window from 22:30.
    berlin = AvailabilitySettings(schedule=["fri 22:30-23:30"], timezone="Europe/Berlin")
    assert berlin.in_schedule(at(4, 22)) and not berlin.in_schedule(at(4, 21))


@pytest.mark.parametrize(
    "field,value",
    [
        ("schedule", ["fri 25:00-07:00"]),
        ("schedule", ["funday 07:00-08:00"]),
        ("schedule", ["mon 7-8"]),
        ("timezone", "Mars/Olympus"),
        ("owner_util_percent", 101),
        ("owner_minutes", -1),
        ("idle_minutes", -1),
        ("colour", "red"),
    ],
)
def test_bad_settings_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        AvailabilitySettings.model_validate({field: value})


def test_file_round_trip_and_missing_file_defaults(tmp_path: Path) -> None:
    path = AvailabilitySettings.path(tmp_path)
    assert path.name == "availability.toml"
    assert load_availability(path) == AvailabilitySettings()
    s = AvailabilitySettings(schedule=["mon,tue 18:00-08:00"], owner_util_percent=50, reclaim=False)
    save_availability(path, s)
    assert load_availability(path) == s
    assert 'schedule = ["mon,tue 18:00-08:00"]' in path.read_text()


def test_bad_file_is_a_config_error(tmp_path: Path) -> None:
    path = AvailabilitySettings.path(tmp_path)
    path.write_text('schedule = ["xyz 00:00-01:00"]\n')
    with pytest.raises(ConfigError, match="invalid availability settings"):
        load_availability(path)
    path.write_text("schedule = [\n")
    with pytest.raises(ConfigError, match="cannot read availability settings"):
        load_availability(path)
