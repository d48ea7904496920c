"""A cgroup per job, when the worker may make one: hard memory, process-count and CPU limits enforced
by the kernel, and a complete list of the job's processes to kill at the end.

Both hierarchies are handled: cgroup v2 (one directory with memory.max, pids.max, cpu.max) and v1 (one
directory per controller with memory.limit_in_bytes, pids.max, cpu.cfs_quota_us). The job's cgroups
are made beneath the worker's own. Where none can be made (no write access, controllers not delegated),
`create_job_cgroup` returns None and the sandbox relies on rlimits and the watchdog alone.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

from .supervise import kill_pids

__all__ = ["JobCgroup", "create_job_cgroup", "remove_stale_cgroups"]

_ROOT = Path("/sys/fs/cgroup")
_MADE_HERE: set[str] = set()
"""Names of the cgroups this process made and has not removed."""
_PERIOD = 100_000


@dataclass
class JobCgroup:
    """The cgroup directories of one job (one on v2, one per controller on v1)."""

    directories: list[Path]
    version: int
    controllers: list[str]

    def describe(self) -> str:
        """For logs and the result summary."""
        return f"cgroup v{self.version} ({', '.join(self.controllers)})"

    def join_prefix(self) -> list[str]:
        """A command prefix that moves itself into the cgroups, then execs the rest: the job's first
        process is inside before it can fork."""
        writes = "; ".join(f"echo $$ > {shlex.quote(str(d / 'cgroup.procs'))}" for d in self.directories)
        return ["/bin/sh", "-c", f'{writes} && exec "$@"', "gpusettle-cgroup-join"]

    def pids(self) -> list[int]:
        """Every process in the job's cgroups."""
        found: set[int] = set()
        for directory in self.directories:
            with contextlib.suppress(OSError):
                found.update(int(p) for p in (directory / "cgroup.procs").read_text().split())
        return sorted(found)

    def remove(self, timeout: float = 5.0) -> None:
        """Kill whatever is left in the cgroups, then delete them."""
        deadline = time.monotonic() + timeout
        while True:
            left = self.pids()
            kill_pids(left)
            if not left or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        for directory in self.directories:
            _MADE_HERE.discard(directory.name)
            for _ in range(50):
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)  # the last processes are still being reaped


def _own_paths() -> dict[str, str]:
    """The worker's cgroup path per v1 controller, and under "" the v2 path."""
    paths: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return paths
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    return paths


def _write(path: Path, value: str) -> None:
    path.write_text(value)


def _v2(name: str, memory: int, pids: int, cpus: int, own: str) -> JobCgroup | None:
    parent = _ROOT / own.lstrip("/")
    try:
        available = (parent / "cgroup.controllers").read_text().split()
    except OSError:
        return None
    wanted: list[str] = [c for c in ("memory", "pids", "cpu") if c in available]
    if "memory" not in wanted or "pids" not in wanted:
        return None
    directory = parent / name
    try:
        with contextlib.suppress(OSError):
            _write(parent / "cgroup.subtree_control", " ".join(f"+{c}" for c in wanted))
        directory.mkdir()
        _write(directory / "memory.max", str(memory))
        with contextlib.suppress(OSError):
            _write(directory / "memory.swap.max", "0")
        _write(directory / "pids.max", str(pids))
        if "cpu" in wanted:
            _write(directory / "cpu.max", f"{cpus * _PERIOD} {_PERIOD}")
    except OSError:
        with contextlib.suppress(OSError):
            directory.rmdir()
        return None
    return JobCgroup([directory], 2, wanted)


def _v1(name: str, memory: int, pids: int, cpus: int, own: dict[str, str]) -> JobCgroup | None:
    made: list[Path] = []
    controllers: list[str] = []
    settings = {
        "memory": [("memory.limit_in_bytes", str(memory)), ("memory.memsw.limit_in_bytes", str(memory))],
        "pids": [("pids.max", str(pids))],
        "cpu": [("cpu.cfs_period_us", str(_PERIOD)), ("cpu.cfs_quota_us", str(cpus * _PERIOD))],
    }
    try:
        for controller, values in settings.items():
            if controller not in own or not (_ROOT / controller).is_dir():
                if controller == "cpu":
                    continue
                raise OSError(f"no {controller} controller")
            directory = _ROOT / controller / own[controller].lstrip("/") / name
            directory.mkdir()
            made.append(directory)
            for file, value in values:
                if file == "memory.memsw.limit_in_bytes" and not (directory / file).exists():
                    continue  # swap accounting is off: nothing to cap
                _write(directory / file, value)
            controllers.append(controller)
    except OSError:
        JobCgroup(made, 1, controllers).remove(timeout=0.0)
        return None
    return JobCgroup(made, 1, controllers)


def create_job_cgroup(name: str, *, memory_bytes: int, processes: int, cpus: int) -> JobCgroup | None:
    """Cgroups limiting a job, or None when this worker cannot make them."""
    own = _own_paths()
    made: JobCgroup | None = None
    if (_ROOT / "cgroup.controllers").exists():
        made = _v2(name, memory_bytes, processes, cpus, own.get("", "/"))
    elif (_ROOT / "memory").is_dir():
        made = _v1(name, memory_bytes, processes, cpus, own)
    if made is not None:
        _MADE_HERE.add(name)
    return made


def _parents() -> list[Path]:
    own = _own_paths()
    if (_ROOT / "cgroup.controllers").exists():
        return [_ROOT / own.get("", "/").lstrip("/")]
    return [_ROOT / c / own[c].lstrip("/") for c in ("memory", "pids", "cpu") if c in own]


def remove_stale_cgroups(prefix: str = "gpusettle-") -> int:
    """After a crash: remove job cgroups whose worker (the pid in their name) is gone, killing what is
    left in them. Returns how many were removed."""
    removed = 0
    for parent in _parents():
        try:
            entries = [p for p in parent.iterdir() if p.is_dir() and p.name.startswith(prefix)]
        except OSError:
            continue
        for directory in entries:
            parts = directory.name.split("-")
            owner = int(parts[-2]) if len(parts) >= 3 and parts[-2].isdigit() else None
            if directory.name in _MADE_HERE:
                continue  # a job this process is running
            if owner is not None and owner != os.getpid() and Path(f"/proc/{owner}").exists():
                continue  # another live worker's job (a restarted worker may get its old pid back)
            JobCgroup([directory], 0, []).remove(timeout=2.0)
            removed += 1
    return removed
