"""Running the README's commands as written: its marked blocks, and a shell with a fresh GPUSETTLE_HOME.

A block is marked by an HTML comment right before a ```sh fence: `<!-- quickstart: NAME -->` for the
Quick start, `<!-- walkthrough: NAME -->` for the training walk-through. What a person types at the
prompts (a password, "y") comes from GPUSETTLE_PASSWORD and GPUSETTLE_YES.
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

from gpusettle.devnet import free_port

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def readme_blocks(marker: str) -> dict[str, list[str]]:
    """Block name -> its commands (comments and blank lines dropped) of the blocks marked `marker`."""
    pattern = re.compile(rf"<!-- {re.escape(marker)}: (\S+) -->\s*```sh\n(.*?)```", re.DOTALL)
    out: dict[str, list[str]] = {}
    for name, body in pattern.findall(README.read_text(encoding="utf-8")):
        lines = [re.sub(r"\s+#\s.*$", "", line).strip() for line in body.splitlines()]
        out[name] = [line for line in lines if line]
    return out


class Shell:
    """Runs README lines with bash in a fresh environment, in `tmp` (the stand-in for the checkout);
    `cd DIR` lines move it, `&` lines stay in the background."""

    def __init__(self, tmp: Path, password: str = "quick start pw") -> None:
        self.tmp = tmp
        self.cwd = tmp
        self.home = tmp / "gpusettle-home"
        self.rpc_port, self.oracle_port = free_port(), free_port()
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
                "GPUSETTLE_PASSWORD": password,
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
        if line.startswith("cd "):
            target = (self.cwd / os.path.expandvars(line[3:].strip())).resolve()
            assert target.is_dir(), f"`{line}`: no directory {target}"
            self.cwd = target
            self.transcript.append(f"$ {line}")
            return subprocess.CompletedProcess(line, 0, "", "")
        res = subprocess.run(
            ["bash", "-c", line],
            env=self.env,
            cwd=self.cwd,
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
                cwd=self.cwd,
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


def wait_for(what: str, predicate: Any, timeout: float, log: Path, proc: subprocess.Popen[bytes]) -> None:
    """Return once `predicate()` holds; AssertionError with `log` if `proc` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            raise AssertionError(f"{what}: the process exited ({proc.returncode}):\n{log.read_text()}")
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}:\n{log.read_text()}")


def dev_up(shell: Shell, line: str, timeout: float = 240) -> tuple[subprocess.Popen[bytes], Path]:
    """Start the README's `gpusettle dev up ...` line and wait until the stack is ready (else stop it)."""
    proc, log = shell.start(line, "dev-up")
    try:
        wait_for(
            "dev up to be ready", lambda: "Ctrl-C stops everything" in log.read_text(), timeout, log, proc
        )
    except BaseException:
        shell.stop_all()
        raise
    return proc, log


def check_dev_up_stopped(shell: Shell, proc: subprocess.Popen[bytes], log: Path) -> None:
    """After Ctrl-C (`stop_all`): `dev up` exited cleanly and its anvil is gone."""
    text = log.read_text()
    assert proc.returncode == 0, text
    assert "signal 2: stopping the worker, the oracle and anvil" in text and "stopped" in text
    # anvil is gone: nothing listens on its port (a bind could still fail on TIME_WAIT connections)
    with socket.socket() as s:
        try:
            s.connect(("127.0.0.1", shell.rpc_port))
        except ConnectionRefusedError:
            return
    raise AssertionError(f"something still listens on anvil's port {shell.rpc_port}")


def running_dev_up(shell: Shell, line: str) -> Iterator[Shell]:
    """`shell` with the README's `dev up` line running; then Ctrl-C, and `dev up` must have stopped
    cleanly (a module fixture's body: `yield from running_dev_up(sh, up)`)."""
    proc, log = dev_up(shell, line)
    try:
        yield shell
    finally:
        shell.stop_all()
    check_dev_up_stopped(shell, proc, log)
