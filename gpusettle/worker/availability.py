"""Idle-only renting: the GPUs are rented only inside the provider's schedule (schedule.py) and while
the owner does not use them (owneruse.py).

The controller samples owner use and moves between three states: `renting`, `owner_use` and
`off_schedule`. Leaving `renting` pauses the provider's offers (no new job or lease) and reclaims the
reclaimable and interruptible leases, which end after their notice; dedicated leases run on. Coming
back (inside the schedule, idle for `idle_minutes`) resumes the offers this worker paused, never one
the provider paused itself. Each transition is logged (structured: `extra={"event": "availability",
...}`), kept in the worker's state and written to its status file for `gpusettle provider status`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..atomicfile import write_atomic
from ..errors import GpusettleError
from .leasechain import AvailabilityClass, LeaseChainView
from .owneruse import Sampler
from .schedule import AvailabilitySettings, load_availability
from .state import WorkerState

__all__ = [
    "OFF_SCHEDULE",
    "OWNER_USE",
    "RENTING",
    "AvailabilityController",
    "describe_availability",
]

log = logging.getLogger("gpusettle.worker.availability")

RENTING, OWNER_USE, OFF_SCHEDULE = "renting", "owner_use", "off_schedule"


@dataclass
class AvailabilityController:
    """The renting / owner_use / off_schedule state machine (see the module docstring)."""

    state: WorkerState
    chain: LeaseChainView
    settings: AvailabilitySettings
    sampler: Sampler
    assigned: Callable[[], list[int]]
    """The slots jobs and leases hold now."""
    our_sessions: Callable[[], set[int]]
    """Session ids of the workloads this worker started."""
    running_leases: Callable[[], list[int]]
    """Ids of the leases this worker serves now."""
    reclaim: Callable[[int], None]
    status_dir: Path | None = None
    """Where the status file `gpusettle provider status` reads is (the worker's data directory)."""
    source: Path | None = None
    """The availability file the settings came from: read again when it changes (`gpusettle provider
    availability set` on a running worker), so a new schedule applies at the next tick without a restart."""
    _source_stamp: tuple[int, int] | None = None
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

    def _reread(self) -> None:
        """Take the availability file's settings when it changed since the last look; a file that cannot be
        read keeps the settings in force (and says why)."""
        if self.source is None:
            return
        try:
            info = self.source.stat()
        except OSError:
            return  # removed: the last schedule stays in force until a new file is written
        stamp = (info.st_mtime_ns, info.st_size)
        if self._source_stamp is None:
            self._source_stamp = stamp
            return
        if stamp == self._source_stamp:
            return
        self._source_stamp = stamp
        try:
            settings = load_availability(self.source)
        except (GpusettleError, OSError, ValueError) as exc:
            log.error(
                "availability: %s changed but cannot be read (%s); the previous schedule stays",
                self.source,
                exc,
            )
            return
        if settings != self.settings:
            self.settings = settings
            log.info("availability: %s changed; the new schedule applies now", self.source)

    def tick(self, now: float | None = None) -> str | None:
        """Sample, decide, act; the new state after a transition, else None."""
        now = time.time() if now is None else now
        self._reread()
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
