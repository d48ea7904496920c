"""The README's Quick start, run command by command exactly as written, from a fresh GPUSETTLE_HOME.

The README's marked blocks (`<!-- quickstart: NAME -->` before a ```sh block) are this test's input, so
the two cannot drift apart: `stack` (`gpusettle dev up`, left running), then `rent-out` (a provider's
path to withdrawn earnings) and `rent` (a client's path to a settled job, its result and its refund).
What a person types at the prompts (a password, "y") comes from GPUSETTLE_PASSWORD and GPUSETTLE_YES.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gpusettle.settings import SETTINGS

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
BLOCK = re.compile(r"<!-- quickstart: (\S+) -->\s*```sh\n(.*?)```", re.DOTALL)
E18 = 10**18


def readme_blocks() -> dict[str, list[str]]:
    """Block name -> its commands (comments and blank lines dropped)."""
    out: dict[str, list[str]] = {}
    for name, body in BLOCK.findall(README.read_text(encoding="utf-8")):
        lines = [re.sub(r"\s+#\s.*$", "", line).strip() for line in body.splitlines()]
        out[name] = [line for line in lines if line]
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Shell:
    """Runs README lines with bash in a fresh environment; `&` lines stay in the background."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.home = tmp / "gpusettle-home"
        self.rpc_port, self.oracle_port = _free_port(), _free_port()
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("GPUSETTLE_") and not k.endswith("_RPC_URL")
        }
        self.env.update(
            {
                "PATH": f"{ROOT / '.venv' / 'bin'}:{ROOT / 'node_modules' / '.bin'}:{os.environ['PATH']}",
                "HOME": str(tmp),
                "GPUSETTLE_HOME": str(self.home),
                "GPUSETTLE_PASSWORD": "quick start pw",
                "GPUSETTLE_YES": "1",
                "GPUSETTLE_KDF_FAST": "1",
                "GPUSETTLE_DEV_RPC_URL": f"http://127.0.0.1:{self.rpc_port}",
                "GPUSETTLE_ORACLE_URL": f"http://127.0.0.1:{self.oracle_port}",
                "GPUSETTLE_DEPLOYMENTS": str(tmp / "deployments"),
                "PYTHONUNBUFFERED": "1",
            }
        )
        self.background: list[tuple[subprocess.Popen[bytes], Path]] = []
        self.transcript: list[str] = []

    def run(self, line: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(
            ["bash", "-c", line],
            env=self.env,
            cwd=self.tmp,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        self.transcript.append(f"$ {line}\n{res.stdout}{res.stderr}")
        assert res.returncode == 0, f"`{line}` failed ({res.returncode}):\n{res.stdout}\n{res.stderr}"
        assert "Traceback" not in res.stderr, res.stderr
        return res

    def start(self, line: str, name: str) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.tmp / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                ["bash", "-c", f"exec {line}"],
                env=self.env,
                cwd=self.tmp,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.background.append((proc, log))
        return proc, log

    def json(self, line: str) -> Any:
        return json.loads(self.run(line + " --json").stdout)

    def stop_all(self) -> None:
        for proc, _ in reversed(self.background):
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _wait(what: str, predicate: Any, timeout: float, log: Path, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            raise AssertionError(f"{what}: the process exited ({proc.returncode}):\n{log.read_text()}")
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}:\n{log.read_text()}")


@pytest.fixture(scope="module")
def blocks() -> dict[str, list[str]]:
    return readme_blocks()


@pytest.fixture(scope="module")
def shell(tmp_path_factory: pytest.TempPathFactory, blocks: dict[str, list[str]]) -> Iterator[Shell]:
    """`gpusettle dev up` from the README's stack block, running until the module ends (then Ctrl-C)."""
    sh = Shell(tmp_path_factory.mktemp("quickstart"))
    [up] = blocks["stack"]
    proc, log = sh.start(up, "dev-up")
    try:
        _wait("dev up to be ready", lambda: "Ctrl-C stops everything" in log.read_text(), 240, log, proc)
        yield sh
    finally:
        sh.stop_all()
    text = log.read_text()
    assert proc.returncode == 0, text
    assert "signal 2: stopping the worker, the oracle and anvil" in text and "stopped" in text
    # anvil is gone: nothing listens on its port (a bind could still fail on TIME_WAIT connections)
    with socket.socket() as s, pytest.raises(ConnectionRefusedError):
        s.connect(("127.0.0.1", sh.rpc_port))


def test_readme_blocks_are_there(blocks: dict[str, list[str]]) -> None:
    assert set(blocks) == {"stack", "rent-out", "rent"}
    assert blocks["stack"] == ["gpusettle dev up"]
    assert all(line.split()[0] in ("gpusettle", "echo") for b in blocks.values() for line in b)


def test_readme_settings_table_is_the_settings_module() -> None:
    text = README.read_text(encoding="utf-8")
    table = text.split("<!-- settings-table -->", 1)[1].split("\n\n", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    expected = [f"| `{s.option}` | `{s.env}` | `{s.name}` | {s.default} |" for s in SETTINGS]
    assert rows == expected


def test_dev_up_says_where_everything_is(shell: Shell) -> None:
    text = (shell.tmp / "dev-up.log").read_text()
    assert f"chain       http://127.0.0.1:{shell.rpc_port}" in text
    assert f"oracle      http://127.0.0.1:{shell.oracle_port}" in text
    for alias in ("provider", "worker", "client", "dev:0", "dev:1"):
        assert f"  {alias}" in text
    status = shell.json("gpusettle provider status provider")
    assert int(status["bonded"]) == 1000 * E18 and status["worker"]


def test_rent_out_my_gpus_to_withdrawn_earnings(shell: Shell, blocks: dict[str, list[str]]) -> None:
    earnings = 0
    for line in blocks["rent-out"]:
        if line.endswith("&"):
            proc, log = shell.start(line.rstrip("& ").strip(), "my-worker")
            _wait("my worker", lambda log=log: "serving provider" in log.read_text(), 120, log, proc)
            continue
        if "withdraw-earnings" in line:
            earnings = int(shell.json("gpusettle provider status gpu-owner")["earnings"])
        shell.run(line)
    assert earnings > 0
    owner = shell.json("gpusettle provider status gpu-owner")
    assert int(owner["earnings"]) == 0 and int(owner["bonded"]) == 1000 * E18
    # 2000 funded, 1000 staked, the earnings withdrawn: money where it should be.
    assert int(shell.json("gpusettle token balance gpu-owner")["balance"]) == 1000 * E18 + earnings
    job = shell.json("gpusettle job status --account client")
    assert job["status"] == "Settled" and job["offer_id"] == 2
    assert job["provider"] == owner["provider"]


def test_rent_gpus_to_a_settled_job_its_result_and_the_refund(
    shell: Shell, blocks: dict[str, list[str]]
) -> None:
    for line in blocks["rent"]:
        shell.run(line)
    job = shell.json("gpusettle job status --account alice")
    assert job["status"] == "Settled" and job["offer_id"] == 1 and int(job["refundable"]) == 0
    cost = int(job["billed_gpu_seconds"]) * int(job["price_per_gpu_second"])
    assert 0 < cost < int(job["deposit"])
    assert int(shell.json("gpusettle token balance alice")["balance"]) == 100 * E18 - cost
    assert (shell.tmp / "result.bin").stat().st_size > 0
    # Nothing was left in the checkout.
    assert not (ROOT / "job.json").exists()
