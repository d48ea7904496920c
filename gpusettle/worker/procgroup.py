"""The process group of the job being run, remembered in the worker's state so that a worker that
crashed can, once restarted, kill what the crash left behind (a job by its id, a lease's service by
its slot owner name "lease:N") (the job's program runs in its own
session, so nothing else ends it)."""

from __future__ import annotations

import logging
import os

from ..workloads.supervise import alive, kill_pids, kill_tree, process_start_time
from .state import WorkerState

__all__ = ["forget", "kill_remembered", "remember"]

log = logging.getLogger("gpusettle.worker")


def _key(job_id: int | str) -> str:
    return f"pgroup:{job_id}"


def remember(state: WorkerState, job_id: int | str, pgid: int) -> None:
    """Persist the job's process group id with its leader's start time (a pid alone may be reused)."""
    state.set_meta(_key(job_id), f"{pgid} {process_start_time(pgid) or 0}")


def forget(state: WorkerState, job_id: int | str) -> None:
    """The job's processes are gone: nothing to kill after a restart."""
    state.set_meta(_key(job_id), "")


def _group_members(pgid: int, not_before: int) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            raw = open(f"/proc/{name}/stat").read()  # noqa: SIM115
        except OSError:
            continue
        fields = raw.rpartition(")")[2].split()
        if int(fields[2]) == pgid and int(fields[19]) >= not_before and fields[0] != "Z":
            found.append(int(name))
    return found


def kill_remembered(state: WorkerState, job_id: int | str) -> int:
    """Kill what is left of the job's process group; returns how many processes were found."""
    value = state.get_meta(_key(job_id))
    if not value:
        return 0
    pgid_text, started_text = value.split()
    pgid, started = int(pgid_text), int(started_text)
    leader_started = process_start_time(pgid)
    if leader_started is not None and leader_started != started:
        log.info("job %s: process group %d now belongs to another program; leaving it", job_id, pgid)
        forget(state, job_id)
        return 0
    if leader_started is not None and alive(pgid):
        count = len(_group_members(pgid, started))
        kill_tree(pgid, grace=1.0)
    else:
        # The leader is gone; its group may still hold children (only processes at least as old as
        # the leader can be; a reused pid cannot have been reused as this group's id while they live).
        members = _group_members(pgid, started)
        count = len(members)
        kill_pids(members)
    if count:
        log.warning("job %s: killed %d process(es) left running by the previous worker", job_id, count)
    forget(state, job_id)
    return count
