"""`make demo EXPLORE=1` (`python -m gpusettle.demo --explore`): the demo ends by printing the explorer's URL,
which answers with the demo's job, keeps following the chain into the index, and Ctrl-C stops anvil, the
index, the explorer and everything else the demo started.

The demo runs as `make demo` runs it (a real anvil, oracle and worker), with the smallest job; its
summary shows the lease it ran beside the job, balanced to the checkpoints.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]


def _wait_for(pattern: str, log: Path, proc: subprocess.Popen[bytes], timeout: float) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, log.read_text())
        if found:
            return found
        if proc.poll() is not None:
            raise AssertionError(
                f"the demo exited ({proc.returncode}) before {pattern!r}:\n{log.read_text()}"
            )
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {pattern!r}:\n{log.read_text()}")


def _refuses(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.connect(("127.0.0.1", port))
        except ConnectionRefusedError:
            return True
    return False


def _processes_mentioning(needles: list[str]) -> list[str]:
    """Command lines of live processes that contain any of `needles`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(n in cmdline for n in needles):
            found.append(f"{entry.name}: {cmdline}")
    return found


def _stats(url: str) -> dict[str, Any]:
    response = httpx.get(url + "api/stats", timeout=5)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_explore_serves_the_demo_chain_until_ctrl_c(tmp_path: Path) -> None:
    log = tmp_path / "demo.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TMPDIR": str(tmp_path)}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gpusettle.demo", "--explore", "--n", "64", "--repetitions", "1"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        anvil_port = int(_wait_for(r"started anvil on http://127\.0\.0\.1:(\d+)", log, proc, 60)[1])
        workdir = _wait_for(r"work dir (\S+)\)", log, proc, 5)[1]
        oracle_pid, worker_pid = map(
            int, _wait_for(r"oracle \(pid (\d+),.*worker \(pid (\d+)\)", log, proc, 90).groups()
        )
        url, job = _wait_for(r"explorer: (http://127\.0\.0\.1:\d+/) \(job (\d+): ", log, proc, 240).groups()
        _wait_for(r"run until Ctrl-C", log, proc, 30)

        stats = _stats(url)
        assert stats["jobs"] == 1 and stats["jobs_by_status"] == {"Settled": 1}, stats
        assert stats["gpu_hours_settled"] > 0 and stats["providers"] == 1
        page = httpx.get(f"{url}jobs/{job}", timeout=5)
        assert page.status_code == 200 and "Settled" in page.text
        # Its work was done: the oracle and the worker were stopped; the chain, index and explorer run.
        assert not Path(f"/proc/{oracle_pid}").exists() and not Path(f"/proc/{worker_pid}").exists()

        # The index keeps following the chain: new blocks reach the explorer.
        rpc = f"http://127.0.0.1:{anvil_port}"
        for _ in range(3):
            httpx.post(rpc, json={"jsonrpc": "2.0", "id": 1, "method": "evm_mine", "params": []}, timeout=5)
        head = int(
            httpx.post(
                rpc, json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}
            ).json()["result"],
            16,
        )
        deadline = time.monotonic() + 20
        while _stats(url)["last_block"] < head:
            assert time.monotonic() < deadline, f"the index did not reach block {head}: {_stats(url)}"
            time.sleep(0.2)

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert "balances             match the fee and the price exactly" in text, text
    # The lease beside the job: a few checkpoints, the killed workload's down time refunded.
    lease = re.search(r"lease (\d+): 2 GPU slots at ", text)
    assert lease, text
    checkpoints = re.search(r"checkpoints settled  (\d+) ", text)
    assert checkpoints and int(checkpoints[1]) >= 3, text
    updown = re.search(r"up / down seconds    (\d+) / (\d+) ", text)
    assert updown and int(updown[1]) > 0 and int(updown[2]) > 0, text
    assert re.search(r"provider earned      [\d.]+ GPUC", text) and re.search(
        r"client got back      [\d.]+ GPUC", text
    )
    assert "lease balances       match the checkpoints exactly" in text, text
    assert "signal 2: stopping the explorer, the index and anvil" in text, text
    assert "Traceback" not in text, text
    # Nothing is left: no listener on anvil's or the explorer's port, no process of the demo's.
    explorer_port = int(url.rsplit(":", 1)[1].strip("/"))
    assert _refuses(anvil_port) and _refuses(explorer_port)
    assert not _processes_mentioning([workdir, f"--port {anvil_port} "]), "processes left behind"
    assert not Path(workdir).exists(), "a successful run deletes its work directory"
