"""A lease worker killed -9 and started again: the service it left is killed and started afresh on the
same GPUs, and no heartbeat bucket is ever signed twice (the oracle may get a bucket again, never a
different heartbeat for it)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from eth_account import Account

from gpusettle.worker.state import WorkerState
from gpusettle.workloads.supervise import alive

ROOT = Path(__file__).resolve().parents[2]


def _wait(pred: Callable[[], object], timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def _service_pid(data: Path) -> int | None:
    rows = WorkerState(data / "worker.sqlite").execute("SELECT value FROM meta WHERE key = 'pgroup:lease:1'")
    return int(rows[0][0].split()[0]) if rows and rows[0][0] else None


def test_a_killed_worker_restarts_its_lease_and_never_signs_a_bucket_twice(tmp_path: Path) -> None:
    got: list[dict[str, Any]] = []
    lock = threading.Lock()

    class Oracle(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            with lock:
                got.append(json.loads(body))
            self.send_response(202)
            self.send_header("content-length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Oracle)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    key = bytes(Account.create().key).hex()
    interval = 6
    argv = [
        sys.executable,
        "-m",
        "tests.worker.leaseproc",
        str(tmp_path),
        f"http://127.0.0.1:{server.server_address[1]}",
        key,
        str(interval),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    first = subprocess.Popen(argv, cwd=ROOT, env=env)
    second: subprocess.Popen[bytes] | None = None
    left: int | None = None
    try:
        # Kill it just after it beat at the very start of a bucket, so the restart (a second or two)
        # lands in the same bucket: a worker that forgot what it signed would sign that bucket again.
        _wait(lambda: any(int(b["timestamp"]) % interval == 0 for b in got), timeout=60)
        left = _service_pid(tmp_path)
        assert left is not None and alive(left)
        first.send_signal(signal.SIGKILL)
        first.wait()
        assert alive(left)  # the crash left the service running
        seen = len(got)
        second = subprocess.Popen(argv, cwd=ROOT, env=env)
        _wait(lambda: not alive(left))  # killed by the restarted worker
        _wait(lambda: (_service_pid(tmp_path) or left) != left)
        _wait(lambda: len({b["sequence"] for b in got[seen:]}) >= 2, timeout=60)
        started = (tmp_path / "leases" / "1" / "logs").exists()
        assert started
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
        for pid in (left, _service_pid(tmp_path)):
            if pid is not None and alive(pid):
                os.killpg(pid, signal.SIGKILL)
        server.shutdown()
    by_bucket: dict[int, set[str]] = {}
    for beat in got:
        assert beat["leaseId"] == 1
        by_bucket.setdefault(int(beat["sequence"]), set()).add(json.dumps(beat, sort_keys=True))
    assert all(len(bodies) == 1 for bodies in by_bucket.values()), "a bucket was signed twice"
    assert len(by_bucket) >= 3
