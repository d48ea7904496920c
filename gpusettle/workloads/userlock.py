"""One host-wide lock per sandbox user, so jobs without cgroups never share RLIMIT_NPROC.

Without a cgroup a job's process count is bounded by RLIMIT_NPROC, which the kernel counts over
every process of the user, not of the job: a second job running as the same user at the same time
would share (and could be starved of) the first's budget. A job without a cgroup therefore holds its
user's lock exclusively; a job with one holds it shared (its own processes still count toward the
other's RLIMIT_NPROC). The lock is an flock, so it dies with the process that held it.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["LOCK_DIR", "user_lock"]

LOCK_DIR = Path("/run/lock") if os.access("/run/lock", os.W_OK) else Path("/tmp")
"""Where the locks live (one file per user id, shared by every worker of the host)."""


@contextmanager
def user_lock(uid: int, *, exclusive: bool) -> Iterator[bool]:
    """Try to hold `uid`'s lock (never waits); yields whether it is held."""
    path = LOCK_DIR / f"gpusettle-sandbox-uid{uid}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)
