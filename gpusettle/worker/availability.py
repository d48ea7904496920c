"""Idle-only renting: the GPUs are rented only inside the provider's schedule and while the owner does
not use them.

The settings live in a TOML file of flat keys (as `$GPUSETTLE_HOME/config.toml`), by default
`$GPUSETTLE_HOME/availability.toml`; a bad file is a ConfigError saying what to fix:

    schedule = ["mon-fri 19:00-07:00", "sat-sun 00:00-24:00"]   # absent or empty: always
    timezone = "Europe/Berlin"                                    # default: this machine's local time
    owner_util_percent = 20    # a free GPU busier than this ...
    owner_minutes = 2          # ... for this long is the owner's use (a foreign GPU process: at once)
    idle_minutes = 10          # idle this long before renting again
    reclaim = true             # reclaim reclaimable and interruptible leases when the owner needs the GPUs

The controller samples owner use (NVML: GPU processes this worker did not start, utilisation of the
GPUs no job or lease holds; on development slots a marker file stands for a foreign GPU process) and
moves between three states: `renting`, `owner_use` and `off_schedule`. Leaving `renting` pauses the
provider's offers (no new job or lease) and reclaims the reclaimable and interruptible leases, which
end after their notice; dedicated leases run on. Coming back (inside the schedule, idle for
`idle_minutes`) resumes the offers this worker paused, never one the provider paused itself. Each
transition is logged (structured: `extra={"event": "availability", ...}`), kept in the worker's state
and written to its status file for `gpusettle provider status`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..atomicfile import write_atomic
from ..errors import ConfigError, GpusettleError
from .leasechain import AvailabilityClass, LeaseChainView
from .state import WorkerState

__all__ = [
    "AVAILABILITY_FILE",
    "AvailabilityController",
    "AvailabilitySettings",
    "OwnerSample",
    "Window",
    "describe_availability",
    "load_availability",
    "marker_sampler",
    "nvml_sampler",
    "owned_by",
    "save_availability",
]

log = logging.getLogger("gpusettle.worker.availability")

AVAILABILITY_FILE = "availability.toml"
RENTING, OWNER_USE, OFF_SCHEDULE = "renting", "owner_use", "off_schedule"
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


def save_availability(path: Path, settings: AvailabilitySettings) -> None:
    """Write the settings as flat TOML (what `load_availability` reads)."""
    lines = []
    for name, value in settings.model_dump().items():
        lines.append(f"{name} = {json.dumps(value)}")
    write_atomic(path, ("\n".join(lines) + "\n").encode(), mode=0o644)


@dataclass(frozen=True)
class OwnerSample:
    """What one look at the GPUs found."""

    foreign: list[str] = field(default_factory=list)
    """GPU processes this worker did not start (a description each)."""
    busy: bool = False
    """A GPU no job or lease holds is above the utilisation threshold."""


def marker_sampler(marker: Path) -> Callable[[list[int], set[int], float], OwnerSample]:
    """Development slots: the file `marker` standing there is a foreign GPU process (its text, if any,
    describes it); there is no utilisation to read."""

    def sample(assigned: list[int], ours: set[int], threshold: float) -> OwnerSample:
        del assigned, ours, threshold
        if marker.exists():
            text = marker.read_text(errors="replace").strip()[:200]
            return OwnerSample(foreign=[text or f"owner-use marker {marker}"])
        return OwnerSample()

    return sample


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw.rpartition(")")[2].split()


def owned_by(pid: int, roots: set[int]) -> bool:
    """Whether `pid` is one of `roots`, in a process group of one, or descends from one: a sandboxed
    workload runs in a session of its own below bubblewrap, so only its ancestry ties it to the worker."""
    for _ in range(64):
        if pid in roots:
            return True
        fields = _stat(pid)
        if fields is None:
            return False
        parent, group = int(fields[1]), int(fields[2])
        if group in roots:
            return True
        if parent <= 1:
            return False
        pid = parent
    return False


def nvml_sampler(assigned: list[int], ours: set[int], threshold: float) -> OwnerSample:
    """NVML: compute and graphics processes that neither this worker nor a workload it started (the
    process groups in `ours`, and their descendants) runs, and utilisation above `threshold` on a GPU
    outside `assigned` (the slots jobs and leases hold)."""
    from .nvml import _nvml

    try:
        nvml = _nvml()
    except Exception:  # noqa: BLE001 - no NVML: nothing can be seen
        return OwnerSample()
    foreign: list[str] = []
    busy = False
    try:
        for index in range(int(nvml.nvmlDeviceGetCount())):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            procs: list[Any] = []
            for getter in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
                try:
                    procs += list(getattr(nvml, getter)(handle))
                except Exception:  # noqa: BLE001, S112 - a getter the driver lacks
                    continue
            for proc in procs:
                pid = int(proc.pid)
                if owned_by(pid, {*ours, os.getpid()}):
                    continue
                foreign.append(f"pid {pid} on GPU {index}")
            if index not in assigned:
                try:
                    busy = busy or float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu) > threshold
                except Exception:  # noqa: BLE001, S110 - a reading missing
                    pass
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:  # noqa: BLE001, S110
            pass
    return OwnerSample(foreign=foreign, busy=busy)


@dataclass
class AvailabilityController:
    """The renting / owner_use / off_schedule state machine (see the module docstring)."""

    state: WorkerState
    chain: LeaseChainView
    settings: AvailabilitySettings
    sampler: Callable[[list[int], set[int], float], OwnerSample]
    assigned: Callable[[], list[int]]
    """The slots jobs and leases hold now."""
    our_sessions: Callable[[], set[int]]
    """Session ids of the workloads this worker started."""
    running_leases: Callable[[], list[int]]
    """Ids of the leases this worker serves now."""
    reclaim: Callable[[int], None]
    status_dir: Path | None = None
    """Where the status file `gpusettle provider status` reads is (the worker's data directory)."""
    _busy_since: float | None = None
    _idle_since: float | None = None

    @property
    def current(self) -> str:
        """The state now (renting after a fresh start)."""
        rows = self.state.execute("SELECT state FROM availability_log ORDER BY id DESC LIMIT 1")
        return str(rows[0][0]) if rows else RENTING

    def refuse_new(self) -> str | None:
        """Why no new work is taken now, or None while renting."""
        current = self.current
        if current == OWNER_USE:
            return "the owner is using the GPUs (idle-only renting)"
        if current == OFF_SCHEDULE:
            return "outside the provider's availability schedule"
        return None

    def tick(self, now: float | None = None) -> str | None:
        """Sample, decide, act; the new state after a transition, else None."""
        now = time.time() if now is None else now
        sample = self.sampler(self.assigned(), self.our_sessions(), self.settings.owner_util_percent)
        if sample.busy:
            self._busy_since = self._busy_since if self._busy_since is not None else now
        else:
            self._busy_since = None
        owner = bool(sample.foreign) or (
            self._busy_since is not None and now - self._busy_since >= self.settings.owner_minutes * 60
        )
        if sample.foreign or sample.busy:
            self._idle_since = None
        elif self._idle_since is None:
            self._idle_since = now
        in_schedule = self.settings.in_schedule(now)
        current = self.current
        if owner and current != OWNER_USE:
            why = (
                "a GPU process the worker did not start: " + ", ".join(sample.foreign[:3])
                if sample.foreign
                else f"a free GPU above {self.settings.owner_util_percent:g}% for "
                f"{self.settings.owner_minutes:g} min"
            )
            return self._leave(OWNER_USE, why, now)
        if not owner and not in_schedule and current == RENTING:
            return self._leave(OFF_SCHEDULE, "outside the availability schedule", now)
        if current != RENTING and not owner and in_schedule:
            idle_for = now - self._idle_since if self._idle_since is not None else 0.0
            if idle_for >= self.settings.idle_minutes * 60:
                return self._resume(f"idle for {idle_for / 60:.1f} min inside the schedule", now)
        return None

    def _record(self, new: str, reason: str, now: float, actions: dict[str, Any]) -> None:
        old = self.current
        self.state.execute(
            "INSERT INTO availability_log (at, state, reason) VALUES (?, ?, ?)", (now, new, reason)
        )
        log.warning(
            "availability: %s -> %s: %s",
            old,
            new,
            reason,
            extra={"event": "availability", "from_state": old, "to_state": new, "reason": reason, **actions},
        )
        self.write_status()

    def _leave(self, new: str, reason: str, now: float) -> str:
        paused: list[int] = json.loads(self.state.get_meta("availability:paused") or "[]")
        for offer in self.chain.offers():
            if offer.active and not offer.paused:
                try:
                    self.chain.pause_offer(offer.offer_id)
                    paused.append(offer.offer_id)
                except GpusettleError as exc:
                    log.error("availability: cannot pause offer %d: %s", offer.offer_id, exc)
        self.state.set_meta("availability:paused", json.dumps(sorted(set(paused))))
        reclaimed: list[int] = []
        if self.settings.reclaim:
            for lease_id in self.running_leases():
                info = self.chain.lease(lease_id)
                if info.availability_class == AvailabilityClass.DEDICATED:
                    log.info("availability: lease %d is dedicated; it runs on", lease_id)
                    continue
                if info.billing_end:
                    continue  # already ending (closed, reclaimed or at its end time)
                try:
                    self.reclaim(lease_id)
                    reclaimed.append(lease_id)
                except GpusettleError as exc:
                    log.error("availability: cannot reclaim lease %d: %s", lease_id, exc)
        self._record(new, reason, now, {"paused_offers": sorted(set(paused)), "reclaimed_leases": reclaimed})
        return new

    def _resume(self, reason: str, now: float) -> str:
        paused: list[int] = json.loads(self.state.get_meta("availability:paused") or "[]")
        still: list[int] = []
        for offer_id in paused:
            try:
                self.chain.resume_offer(offer_id)
            except GpusettleError as exc:
                log.error("availability: cannot resume offer %d: %s", offer_id, exc)
                still.append(offer_id)
        self.state.set_meta("availability:paused", json.dumps(still))
        self._record(RENTING, reason, now, {"resumed_offers": [o for o in paused if o not in still]})
        return RENTING

    def transitions(self, limit: int = 10) -> list[dict[str, Any]]:
        """The latest transitions, newest first."""
        rows = self.state.execute(
            "SELECT at, state, reason FROM availability_log ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [{"at": int(at), "state": str(s), "reason": str(r)} for at, s, r in rows]

    def write_status(self) -> None:
        """Put the state and the latest transitions into the worker's status file."""
        if self.status_dir is None:
            return
        from .preflight import STATUS_FILE

        path = self.status_dir / STATUS_FILE
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            data = {}
        if not isinstance(data, dict):
            data = {}
        history = self.transitions()
        data["availability"] = {
            "state": self.current,
            "since": history[0]["at"] if history else None,
            "schedule": self.settings.schedule,
            "transitions": history,
        }
        write_atomic(path, json.dumps(data, indent=2).encode())


def describe_availability(status: dict[str, Any], now: float | None = None) -> list[str]:
    """The lines `gpusettle provider status` prints for a worker's availability (none without it)."""
    section = status.get("availability")
    if not isinstance(section, dict):
        return []
    now = time.time() if now is None else now
    words = {
        RENTING: "renting",
        OWNER_USE: "PAUSED: the owner is using the GPUs",
        OFF_SCHEDULE: "PAUSED: outside the schedule",
    }
    since = section.get("since")
    ago = f" (since {int((now - since) // 60)} min ago)" if isinstance(since, int | float) else ""
    lines = [f"  availability    {words.get(str(section.get('state')), str(section.get('state')))}{ago}"]
    schedule = section.get("schedule") or []
    lines.append(f"  schedule        {'; '.join(map(str, schedule)) if schedule else 'always'}")
    for t in list(section.get("transitions") or [])[:5]:
        stamp = datetime.fromtimestamp(int(t.get("at", 0))).astimezone().strftime("%Y-%m-%d %H:%M")
        lines.append(f"    {stamp}  -> {t.get('state')}: {t.get('reason')}")
    return lines
