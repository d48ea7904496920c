"""When the provider rents its GPUs: the availability settings file (flat TOML keys, as
`$GPUSETTLE_HOME/config.toml`; by default `$GPUSETTLE_HOME/availability.toml`) and its schedule.

    schedule = ["mon-fri 19:00-07:00", "sat-sun 00:00-24:00"]   # absent or empty: always
    timezone = "Europe/Berlin"                                    # default: this machine's local time
    owner_util_percent = 20    # a free GPU busier than this ...
    owner_minutes = 2          # ... for this long is the owner's use (a foreign GPU process: at once)
    idle_minutes = 10          # idle this long before renting again
    reclaim = true             # reclaim reclaimable and interruptible leases when the owner needs the GPUs

A bad file is a ConfigError that says what to fix. `gpusettle provider availability` writes it with
`save_availability`; the worker reads it with `load_availability` (availability.py acts on it).
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..atomicfile import write_atomic
from ..errors import ConfigError
from ..settings import AvailabilitySettings as ProviderAvailability

__all__ = [
    "AVAILABILITY_FILE",
    "AvailabilitySettings",
    "Window",
    "from_provider_settings",
    "load_availability",
    "save_availability",
]

AVAILABILITY_FILE = "availability.toml"
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(r"(?P<days>[a-z,\-]+)\s+(?P<start>\d{1,2}:\d{2})-(?P<end>\d{1,2}:\d{2})")


def _minutes(text: str) -> int:
    hours, minutes = (int(p) for p in text.split(":"))
    if not (0 <= hours <= 24 and 0 <= minutes < 60) or hours * 60 + minutes > 1440:
        raise ValueError(f"{text!r} is not a time of day (HH:MM, 00:00 to 24:00)")
    return hours * 60 + minutes


def _days(text: str) -> frozenset[int]:
    if text in ("daily", "all"):
        return frozenset(range(7))
    out: set[int] = set()
    for part in text.split(","):
        ends = part.split("-")
        if len(ends) > 2 or any(e not in _DAYS for e in ends):
            raise ValueError(f"{part!r} is not a day or a day range (mon, tue, ..., sun; mon-fri; daily)")
        first, last = _DAYS.index(ends[0]), _DAYS.index(ends[-1])
        day = first
        while True:
            out.add(day)
            if day == last:
                break
            day = (day + 1) % 7
    return frozenset(out)


@dataclass(frozen=True)
class Window:
    """One rentable window: days it starts on, and a start and end time (an end before the start runs
    past midnight into the next day)."""

    days: frozenset[int]
    start: int
    """Minutes after midnight."""
    end: int

    @classmethod
    def parse(cls, text: str) -> Window:
        """ "mon-fri 19:00-07:00", "sat,sun 00:00-24:00", "daily 22:00-06:00"."""
        m = _WINDOW.fullmatch(text.strip().lower())
        if m is None:
            raise ValueError(f"{text!r} is not a window: write DAYS HH:MM-HH:MM, e.g. 'mon-fri 19:00-07:00'")
        return cls(_days(m["days"]), _minutes(m["start"]), _minutes(m["end"]))

    def contains(self, weekday: int, minute: int) -> bool:
        """Whether the moment (weekday 0 = Monday, minute of the day) falls in this window."""
        if self.start < self.end:
            return weekday in self.days and self.start <= minute < self.end
        if self.start == self.end:
            return False
        # Past midnight: the evening part on the window's days, the morning part on the day after.
        return (weekday in self.days and minute >= self.start) or (
            (weekday - 1) % 7 in self.days and minute < self.end
        )


class AvailabilitySettings(BaseModel):
    """When this machine's GPUs may be rented, and what counts as the owner using them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schedule: list[str] = Field(default_factory=list, description="Rentable windows; empty: always.")
    """Rentable windows, each "DAYS HH:MM-HH:MM" (days: mon..sun, ranges, lists, daily); empty: always."""
    timezone: str = Field(default="local", description="Time zone of the schedule.")
    """IANA time zone of the schedule ("Europe/Berlin", "UTC"), or "local" for this machine's."""
    owner_util_percent: float = Field(
        default=20.0, ge=0, le=100, description="Owner-use utilisation threshold."
    )
    """A GPU no job or lease holds that is busier than this (percent) is being used by its owner ..."""
    owner_minutes: float = Field(
        default=2.0, ge=0, description="Minutes of that utilisation before it counts."
    )
    """... once it has been for this many minutes (a GPU process the worker did not start counts at once)."""
    idle_minutes: float = Field(default=10.0, ge=0, description="Idle minutes before renting again.")
    """How long the GPUs must be idle (no owner use) before the offers are resumed."""
    reclaim: bool = Field(default=True, description="Reclaim leases when the owner needs the GPUs.")
    """Reclaim reclaimable and interruptible leases (with their notice) when renting stops."""

    @field_validator("schedule")
    @classmethod
    def _windows(cls, value: list[str]) -> list[str]:
        for text in value:
            Window.parse(text)
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if value != "local":
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"{value!r} is not a time zone (e.g. 'UTC', 'Europe/Berlin', or 'local')"
                ) from None
        return value

    def windows(self) -> list[Window]:
        """The parsed schedule."""
        return [Window.parse(w) for w in self.schedule]

    def in_schedule(self, at: float) -> bool:
        """Whether the moment `at` (Unix time) is inside the schedule."""
        if not self.schedule:
            return True
        moment = (
            datetime.fromtimestamp(at).astimezone()
            if self.timezone == "local"
            else datetime.fromtimestamp(at, ZoneInfo(self.timezone))
        )
        minute = moment.hour * 60 + moment.minute
        return any(w.contains(moment.weekday(), minute) for w in self.windows())


def load_availability(path: Path) -> AvailabilitySettings:
    """The settings in `path` (defaults when it does not exist); ConfigError for a bad file."""
    if not path.is_file():
        return AvailabilitySettings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}", "fix the file (TOML: key = value lines)") from None
    try:
        return AvailabilitySettings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'file'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(
            f"invalid availability settings in {path}: {problems}",
            f"the keys are: {', '.join(AvailabilitySettings.model_fields)}",
        ) from None


def from_provider_settings(saved: ProviderAvailability) -> AvailabilitySettings:
    """What `gpusettle provider availability set` keeps ($GPUSETTLE_HOME/availability.json), as the
    worker's settings: the same schedule in local time, thresholds and idle time. A GPU process the
    worker did not start always counts as the owner's use here."""
    return AvailabilitySettings(
        schedule=[f"{','.join(w.days)} {w.start}-{w.end}" for w in saved.schedule],
        owner_util_percent=float(saved.owner_use_util_percent),
        owner_minutes=float(saved.owner_use_minutes),
        idle_minutes=float(saved.idle_resume_minutes),
    )


def save_availability(path: Path, settings: AvailabilitySettings) -> None:
    """Write the settings as flat TOML (what `load_availability` reads)."""
    lines = []
    for name, value in settings.model_dump().items():
        lines.append(f"{name} = {json.dumps(value)}")
    write_atomic(path, ("\n".join(lines) + "\n").encode(), mode=0o644)
