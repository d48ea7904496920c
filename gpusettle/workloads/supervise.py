"""Run a client program as its own process group and watch it until it ends.

The watchdog enforces what rlimits cannot: wall time, the resident memory of the whole process tree
and the size of the work directory; it stops the program when the worker asks (`cancel`), and it
samples CPU and memory use for the progress display and /metrics. Whatever way the run ends, every
process of the group and every descendant found in the tree is killed before `supervise` returns, so
nothing of a job outlives it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

__all__ = [
    "Exit",
    "Usage",
    "Watch",
    "alive",
    "kill_pids",
    "kill_tree",
    "process_start_time",
    "supervise",
    "tree_usage",
]

_PAGE = os.sysconf("SC_PAGE_SIZE")
_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Usage:
    """Resource use of a workload's process tree at one moment."""

    cpu_seconds: float
    rss_bytes: int
    processes: int
    disk_bytes: int = 0


@dataclass
class Watch:
    """What to enforce while a program runs."""

    wall_seconds: float | None = None
    memory_bytes: int | None = None
    disk_bytes: int | None = None
    disk_path: Path | None = None
    also_disk: tuple[Path, ...] = ()
    """Measured with `disk_path` against `disk_bytes` (a job's logs, written outside its work dir)."""
    cancel: threading.Event | None = None
    on_start: Callable[[int], None] | None = None
    """Called with the process group id as soon as the program started (the worker persists it)."""
    on_usage: Callable[[float, Usage], None] | None = None
    """Called with the elapsed seconds and the current usage about every `poll_interval`."""
    poll_interval: float = 0.25
    disk_every: float = 1.0


@dataclass(frozen=True)
class Exit:
    """How a supervised run ended: `code` when it exited, `stopped` naming the limit that ended it."""

    code: int
    stopped: str | None
    """None, "wall_time", "memory", "disk" or "cancelled"."""
    seconds: float
    peak: Usage


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm (field 2) may contain spaces and parentheses: split after its last ')'.
    head, _, rest = raw.rpartition(")")
    return [head.split(" ", 1)[0], "comm", *rest.split()]


def process_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (with the pid, a stable identity)."""
    fields = _stat(pid)
    return int(fields[21]) if fields else None


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    fields = _stat(pid)
    return fields is not None and fields[2] != "Z"


def _table() -> dict[int, list[str]]:
    table: dict[int, list[str]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = _stat(int(name))
            if fields is not None:
                table[int(name)] = fields
    return table


def _members(root: int, table: dict[int, list[str]]) -> list[int]:
    """`root`, its descendants, and anything else in its process group or session."""
    children: dict[int, list[int]] = {}
    found = {root}
    for pid, fields in table.items():
        children.setdefault(int(fields[3]), []).append(pid)
        if int(fields[4]) == root or int(fields[5]) == root:
            found.add(pid)
    stack = list(found)
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return [p for p in found if p in table]


def _descendants(root: int) -> dict[int, list[str]]:
    """`root` and its descendants by /proc/<pid>/task/<tid>/children: cost grows with the tree, not
    with the host's process count (a sandboxed job's processes all stay under bwrap's init)."""
    found: dict[int, list[str]] = {}
    stack = [root]
    while stack:
        pid = stack.pop()
        fields = _stat(pid)
        if fields is None or pid in found:
            continue
        found[pid] = fields
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                stack += [int(c) for c in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
            except OSError:
                continue
    return found


def _pss(pid: int) -> int | None:
    """The process's proportional set size in bytes (each shared page divided among its sharers), or
    None where /proc/<pid>/smaps_rollup is missing (kernels before 4.14) or unreadable. A rollup without a
    Pss line, or one the kernel refuses with ESRCH, belongs to a process whose memory is gone (exiting, or a
    zombie): it uses none, though its stat line may still show the RSS it had (counting that once made a forking job that let its children exit
    together look several times its size)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as handle:
            for line in handle:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError as exc:
        # ESRCH: the process exists (its stat line was read) but its memory is gone.
        return 0 if exc.errno == errno.ESRCH else None
    except (ValueError, IndexError):
        return None
    return 0


def tree_usage(root: int) -> Usage:
    """CPU seconds and memory of `root`'s tree: the sum of PSS, so a page forked children share counts
    once (a sum of RSS counts it per child and stops a forking program for memory it does not use);
    RSS for a process whose PSS cannot be read."""
    table = _descendants(root)
    cpu = sum(int(f[13]) + int(f[14]) for f in table.values()) / _TICK
    memory = 0
    for pid, fields in table.items():
        pss = _pss(pid)
        memory += pss if pss is not None else int(fields[23]) * _PAGE
    return Usage(cpu_seconds=cpu, rss_bytes=memory, processes=len(table))


_INODE_COST = 4096
"""What each file or directory costs at least: an empty one takes no data block but an inode and a
directory entry, and a limit blind to them lets a job fill the host's inode table for free."""


def _disk_usage(*paths: Path) -> int:
    """The bytes under `paths`, each file and directory (the roots included) at least `_INODE_COST`."""
    total = 0
    stack = list(paths)
    while stack:
        top = stack.pop()
        try:
            total += max(top.lstat().st_blocks * 512, _INODE_COST)
            entries = list(os.scandir(top))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                else:
                    total += max(entry.stat(follow_symlinks=False).st_blocks * 512, _INODE_COST)
            except OSError:
                continue
    return total


def kill_pids(pids: Iterable[int]) -> None:
    """SIGKILL each of `pids`, passing over those already gone or not ours to signal."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def kill_tree(root: int, grace: float = 2.0) -> None:
    """SIGTERM the group, then SIGKILL the group and every process still found in the tree."""
    try:
        os.killpg(root, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not any(alive(p) for p in _members(root, _table())):
            return
        time.sleep(0.05)
    for _ in range(3):
        pids = [p for p in _members(root, _table()) if alive(p)]
        try:
            os.killpg(root, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        kill_pids(pids)
        if not pids:
            return
        time.sleep(0.05)


def supervise(
    argv: Sequence[str],
    *,
    cwd: Path,
    stdout: IO[bytes],
    stderr: IO[bytes],
    env: Mapping[str, str] | None,
    watch: Watch,
    user: int | None = None,
    group: int | None = None,
    pass_fds: Sequence[int] = (),
) -> Exit:
    """Start `argv` in a new session and watch it (OSError when it cannot be started)."""
    started = time.monotonic()
    process = subprocess.Popen(
        list(argv),
        cwd=cwd,
        stdout=stdout,
        stderr=stderr,
        stdin=subprocess.DEVNULL,
        env=dict(env) if env is not None else None,
        start_new_session=True,  # its own process group and session, so a stop reaches its children
        user=user,
        group=group,
        extra_groups=[] if user is not None else None,
        pass_fds=tuple(pass_fds),
    )
    if watch.on_start is not None:
        watch.on_start(process.pid)
    stopped: str | None = None
    peak = Usage(0.0, 0, 1)
    last_disk = 0.0
    disk = 0
    try:
        while True:
            try:
                code = process.wait(timeout=watch.poll_interval)
                break
            except subprocess.TimeoutExpired:
                pass
            elapsed = time.monotonic() - started
            usage = tree_usage(process.pid)
            if watch.disk_path is not None and elapsed - last_disk >= watch.disk_every:
                last_disk = elapsed
                disk = _disk_usage(watch.disk_path, *watch.also_disk)
            usage = Usage(usage.cpu_seconds, usage.rss_bytes, usage.processes, disk)
            peak = Usage(
                max(peak.cpu_seconds, usage.cpu_seconds),
                max(peak.rss_bytes, usage.rss_bytes),
                max(peak.processes, usage.processes),
                max(peak.disk_bytes, disk),
            )
            if watch.on_usage is not None:
                watch.on_usage(elapsed, usage)
            if watch.cancel is not None and watch.cancel.is_set():
                stopped = "cancelled"
            elif watch.wall_seconds is not None and elapsed > watch.wall_seconds:
                stopped = "wall_time"
            elif watch.memory_bytes is not None and usage.rss_bytes > watch.memory_bytes:
                stopped = "memory"
            elif watch.disk_bytes is not None and disk > watch.disk_bytes:
                stopped = "disk"
            if stopped is not None:
                kill_tree(process.pid)
                code = process.wait()
                break
    finally:
        if process.returncode is None:
            kill_tree(process.pid, grace=0.0)
            process.wait()
    # Stragglers (a child that ignored the end of its parent) die with the run.
    kill_tree(process.pid, grace=0.0)
    return Exit(code=code, stopped=stopped, seconds=time.monotonic() - started, peak=peak)
