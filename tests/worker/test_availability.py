"""Idle-only renting: the schedule, the owner-use rule (a marker file stands for a foreign GPU process on
development slots), pausing offers, reclaiming leases with their notice, resuming when idle again."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gpusettle.errors import ConfigError
from gpusettle.models import JobSpec
from gpusettle.worker.availability import (
    OFF_SCHEDULE,
    OWNER_USE,
    RENTING,
    AvailabilityController,
    describe_availability,
)
from gpusettle.worker.leasechain import AvailabilityClass, OfferState
from gpusettle.worker.leases import LeaseSupervisor
from gpusettle.worker.owneruse import OwnerSample, marker_sampler, owned_by
from gpusettle.worker.preflight import write_status
from gpusettle.worker.schedule import AvailabilitySettings, load_availability, save_availability
from gpusettle.worker.slots import SlotScheduler
from gpusettle.worker.state import WorkerState
from gpusettle.workloads.supervise import alive

from .fakechain import FakeLeaseChain


def _utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("UTC")).timestamp()


def test_the_schedule_covers_weeknights_and_weekends() -> None:
    s = AvailabilitySettings(schedule=["mon-fri 19:00-07:00", "sat,sun 00:00-24:00"], timezone="UTC")
    # 2026-11-30 is a Monday.
    assert not s.in_schedule(_utc("2026-11-30T12:00"))  # Monday noon
    assert s.in_schedule(_utc("2026-11-30T19:00"))  # Monday evening
    assert s.in_schedule(_utc("2026-12-01T06:59"))  # Tuesday morning: Monday night's window
    assert not s.in_schedule(_utc("2026-12-01T07:00"))
    assert s.in_schedule(_utc("2026-12-05T06:30"))  # Saturday: Friday night's window and the weekend
    assert s.in_schedule(_utc("2026-12-06T23:59"))  # Sunday night
    assert not s.in_schedule(_utc("2026-12-07T06:00"))  # Monday morning: Sunday is not a weeknight
    assert AvailabilitySettings().in_schedule(_utc("2026-11-30T12:00"))  # no schedule: always


def test_the_settings_file_round_trips_and_bad_files_say_what_to_fix(tmp_path: Path) -> None:
    path = tmp_path / "availability.toml"
    assert load_availability(path) == AvailabilitySettings()  # no file: the defaults
    settings = AvailabilitySettings(schedule=["daily 22:00-06:00"], timezone="UTC", idle_minutes=3)
    save_availability(path, settings)
    assert load_availability(path) == settings
    path.write_text('schedule = ["weekdays 9-5"]\n')
    with pytest.raises(ConfigError, match="not a window") as bad:
        load_availability(path)
    assert bad.value.hint
    path.write_text("idle_mins = 3\n")
    with pytest.raises(ConfigError, match="idle_mins"):
        load_availability(path)
    path.write_text('timezone = "Mars/Olympus"\n')
    with pytest.raises(ConfigError, match="not a time zone"):
        load_availability(path)


SERVICE = JobSpec.model_validate({"workload": {"kind": "command", "argv": ["sleep", "600"]}})


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[tuple[AvailabilityController, LeaseSupervisor, FakeLeaseChain, Path]]:
    chain = FakeLeaseChain()
    chain.offers_by_id = {
        1: OfferState(1, 4, AvailabilityClass.RECLAIMABLE, 30, paused=False),
        2: OfferState(2, 2, AvailabilityClass.DEDICATED, 0, paused=False),
        3: OfferState(3, 2, AvailabilityClass.INTERRUPTIBLE, 0, paused=True),  # the provider paused it
    }
    state = WorkerState(tmp_path / "worker.sqlite")
    slots = SlotScheduler(state, tuple(range(4)))
    sup = LeaseSupervisor(
        state=state,
        slots=slots,
        chain=chain,
        fetch_spec=lambda h: SERVICE,
        data_dir=tmp_path,
        allow_command=True,
    )
    marker = tmp_path / "owner-use"
    write_status(tmp_path, "0xworker", "0xprovider", "4 simulated slots", {})
    ctl = AvailabilityController(
        state=state,
        chain=chain,
        settings=AvailabilitySettings(idle_minutes=5),
        sampler=marker_sampler(marker),
        assigned=lambda: [s for v in slots.assignment().values() for s in v],
        our_sessions=lambda: {s.pid for s in sup.services.values() if s.pid},
        running_leases=lambda: [r.lease_id for r in sup.rows("accepted", "running")],
        reclaim=sup.reclaim,
        status_dir=tmp_path,
    )
    sup.refuse_new = ctl.refuse_new
    yield ctl, sup, chain, marker
    sup.stop_all()


def _wait_pid(sup: LeaseSupervisor, lease_id: int) -> int:
    end = time.monotonic() + 10
    while time.monotonic() < end:
        pid = sup.services[lease_id].pid
        if pid:
            return pid
        time.sleep(0.05)
    raise AssertionError("the service never started")


def test_owner_use_pauses_offers_reclaims_leases_with_notice_and_idle_resumes(
    rig: tuple[AvailabilityController, LeaseSupervisor, FakeLeaseChain, Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    ctl, sup, chain, marker = rig
    chain.open(10, 1, SERVICE.spec_hash(), offer_id=1, klass=AvailabilityClass.RECLAIMABLE, notice=30)
    chain.open(11, 1, SERVICE.spec_hash(), offer_id=2, klass=AvailabilityClass.DEDICATED)
    chain.open(12, 1, SERVICE.spec_hash(), offer_id=3, klass=AvailabilityClass.INTERRUPTIBLE)
    sup.tick()
    pids = {lid: _wait_pid(sup, lid) for lid in (10, 11, 12)}
    sup.tick()
    t = chain.t
    assert ctl.tick(t) is None and ctl.current == RENTING
    chain.calls.clear()

    marker.write_text("owner's game, pid 4242")
    with caplog.at_level(logging.WARNING, logger="gpusettle.worker.availability"):
        assert ctl.tick(t + 1) == OWNER_USE
    assert ("pause", 1) in chain.calls and ("pause", 2) in chain.calls
    assert ("pause", 3) not in chain.calls  # already paused by the provider
    assert ("reclaim", 10) in chain.calls and ("reclaim", 12) in chain.calls
    assert ("reclaim", 11) not in chain.calls  # dedicated: never reclaimed
    record = next(r for r in caplog.records if getattr(r, "event", None) == "availability")
    assert record.to_state == OWNER_USE and "owner's game" in record.reason  # type: ignore[attr-defined]
    assert record.reclaimed_leases == [10, 12]  # type: ignore[attr-defined]

    # New leases are declined while the owner uses the GPUs.
    chain.open(13, 1, SERVICE.spec_hash(), offer_id=1)
    chain.t = t + 1
    sup.tick()
    assert ("decline", 13) in chain.calls
    # The interruptible lease stops at once, the reclaimable one after its 30 s notice.
    assert sup.row(12).state == "ended" and alive(pids[10])  # type: ignore[union-attr]
    chain.t = t + 31
    sup.tick()
    assert sup.row(10).state == "ended" and sup.row(11).state == "running"  # type: ignore[union-attr]
    end = time.monotonic() + 10
    while (alive(pids[10]) or alive(pids[12])) and time.monotonic() < end:
        time.sleep(0.05)
    assert not alive(pids[10]) and not alive(pids[12]) and alive(pids[11])

    # The owner stops; renting comes back only after 5 idle minutes, resuming only what it paused.
    marker.unlink()
    chain.calls.clear()
    assert ctl.tick(t + 100) is None
    assert ctl.tick(t + 100 + 299) is None and ctl.current == OWNER_USE
    assert ctl.tick(t + 100 + 300) == RENTING
    assert sorted(chain.calls) == [("resume", 1), ("resume", 2)]
    assert ctl.refuse_new() is None

    # Kept in the state and the status file for `gpusettle provider status`.
    assert [x["state"] for x in ctl.transitions()] == [RENTING, OWNER_USE]
    status = json.loads((sup.data_dir / "status.json").read_text())
    assert status["hardware"] == "4 simulated slots" and status["availability"]["state"] == RENTING
    lines = describe_availability(status, now=t + 500)
    assert lines[0].strip().startswith("availability    renting") and "owner's game" in "\n".join(lines)
    write_status(sup.data_dir, "0xworker", "0xprovider", "4 simulated slots", {1: "x"})
    assert json.loads((sup.data_dir / "status.json").read_text())["availability"]["state"] == RENTING


def test_sustained_utilisation_is_owner_use_and_a_blip_is_not(
    rig: tuple[AvailabilityController, LeaseSupervisor, FakeLeaseChain, Path],
) -> None:
    ctl, _sup, _chain, _marker = rig
    busy = [True]
    ctl.sampler = lambda assigned, ours, threshold: OwnerSample(busy=busy[0])
    assert ctl.tick(1000) is None
    assert ctl.tick(1000 + 60) is None
    busy[0] = False
    assert ctl.tick(1000 + 90) is None  # the blip ended before owner_minutes (2)
    busy[0] = True
    assert ctl.tick(1000 + 100) is None
    assert ctl.tick(1000 + 219) is None
    assert ctl.tick(1000 + 220) == OWNER_USE
    assert "above 20%" in ctl.transitions()[0]["reason"]


def test_outside_the_schedule_the_offers_pause_and_inside_they_resume(
    rig: tuple[AvailabilityController, LeaseSupervisor, FakeLeaseChain, Path],
) -> None:
    ctl, _sup, chain, _marker = rig
    ctl.settings = AvailabilitySettings(schedule=["sat-sun 00:00-24:00"], timezone="UTC", idle_minutes=1)
    assert ctl.tick(_utc("2026-12-04T12:00")) == OFF_SCHEDULE  # a Friday
    assert ("pause", 1) in chain.calls
    assert ctl.refuse_new() == "outside the provider's availability schedule"
    assert ctl.tick(_utc("2026-12-04T23:59")) is None
    assert ctl.tick(_utc("2026-12-05T00:00")) == RENTING  # Saturday, idle all along
    assert ("resume", 1) in chain.calls and ("resume", 3) not in chain.calls
    # A restarted worker knows where it was.
    again = AvailabilityController(
        ctl.state,
        chain,
        ctl.settings,
        ctl.sampler,
        ctl.assigned,
        ctl.our_sessions,
        ctl.running_leases,
        ctl.reclaim,
    )
    assert again.current == RENTING and len(again.transitions()) == 2


def test_a_process_below_the_worker_is_ours_even_in_a_session_of_its_own() -> None:
    import os
    import subprocess

    child = subprocess.Popen(["sh", "-c", "sleep 30 & wait"], start_new_session=True)
    try:
        time.sleep(0.2)
        grandchildren = [
            int(p)
            for p in os.listdir("/proc")
            if p.isdigit()
            and (Path(f"/proc/{p}/stat").read_text().rpartition(")")[2].split()[1] == str(child.pid))
        ]
        assert grandchildren, "the sleep did not start"
        assert owned_by(grandchildren[0], {os.getpid()})  # its own session, our descendant
        assert owned_by(grandchildren[0], {child.pid})
        assert not owned_by(grandchildren[0], {os.getppid() + 10**6})
        assert not owned_by(1, {os.getpid()})
    finally:
        os.killpg(child.pid, 9)
        child.wait()


def test_a_running_worker_takes_a_new_schedule_from_its_file_without_a_restart(
    rig: tuple[AvailabilityController, LeaseSupervisor, FakeLeaseChain, Path], tmp_path: Path
) -> None:
    """`gpusettle provider availability set` rewrites the file; the worker used to read it only at start, so a
    provider that widened its schedule stayed paused (and declined leases) until it restarted the worker."""
    ctl, _sup, chain, _marker = rig
    source = tmp_path / "availability.toml"
    save_availability(
        source, AvailabilitySettings(schedule=["sat-sun 00:00-24:00"], timezone="UTC", idle_minutes=0)
    )
    ctl.settings, ctl.source = load_availability(source), source
    friday = _utc("2026-12-04T12:00")
    assert ctl.tick(friday) == OFF_SCHEDULE
    assert ctl.refuse_new() == "outside the provider's availability schedule"
    save_availability(source, AvailabilitySettings(idle_minutes=0))  # always
    os.utime(source, ns=(time.time_ns(), time.time_ns() + 10**9))  # a new stamp even within the clock's grain
    assert ctl.tick(friday + 1) == RENTING
    assert ctl.refuse_new() is None and ("resume", 1) in chain.calls
    source.write_text("idle_mins = 3\n")  # a broken edit keeps the schedule in force
    os.utime(source, ns=(time.time_ns(), time.time_ns() + 2 * 10**9))
    assert ctl.tick(friday + 2) is None and ctl.settings == AvailabilitySettings(idle_minutes=0)
