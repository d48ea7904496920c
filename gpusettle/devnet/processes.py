"""Child processes in their own session, with their output in a log file, that are always stopped."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

__all__ = ["ManagedProcess", "stop_group"]


def stop_group(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM the process's own session (it was started with start_new_session), then SIGKILL what
    is left after `timeout`: a launcher such as node_modules/.bin/anvil must not leave its child."""
    try:
        group = os.getpgid(process.pid)
    except ProcessLookupError:
        group = None
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if group is not None and group == process.pid:
            try:
                os.killpg(group, sig)
            except ProcessLookupError:
                pass
        elif process.poll() is None:
            process.send_signal(sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            continue
        if group is not None and group == process.pid:
            # The leader is gone; make sure nothing else of its group lingers.
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return


class ManagedProcess:
    """A child process with its output in a log file, stopped (TERM, then KILL) on `stop()`."""

    def __init__(
        self, name: str, argv: Sequence[str], log_path: Path, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, cwd: Path | None = None) -> ManagedProcess:
        """Start (or restart) it, in `cwd` when given."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
            cwd=cwd,
            start_new_session=True,
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        """Its process id."""
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        """Whether it is running."""
        return self.process is not None and self.process.poll() is None

    def kill9(self) -> None:
        """SIGKILL, no goodbye (crash tests)."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; returns the exit status."""
        if self.process is None:
            return None
        stop_group(self.process, timeout)
        return self.process.returncode

    def tail(self, lines: int = 30) -> str:
        """The end of its log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])
