"""Free TCP ports and waiting for a child process to listen on one."""

from __future__ import annotations

import secrets
import socket
import subprocess
import time

from ..errors import GpusettleError

__all__ = ["free_port", "wait_port"]


def free_port(lo: int | None = None, hi: int | None = None) -> int:
    """A TCP port nobody listens on (within [lo, hi] when given)."""
    if lo is None or hi is None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])
    ports = list(range(lo, hi + 1))
    # Shuffled so that concurrent test sessions picking from one range rarely collide.
    secrets.SystemRandom().shuffle(ports)
    for port in ports:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise GpusettleError(
        f"no free port between {lo} and {hi}", "stop what listens there or pick another range"
    )


def wait_port(port: int, alive: subprocess.Popen[bytes] | None, timeout: float, what: str) -> None:
    """Return once something accepts connections on 127.0.0.1:`port`; GpusettleError if `alive` exits
    first or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None and alive.poll() is not None:
            raise GpusettleError(f"{what} exited with status {alive.returncode} before it listened on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise GpusettleError(f"{what} did not listen on port {port} within {timeout:.0f} s")
