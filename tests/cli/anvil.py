"""A private anvil per test module, on a free port in 8600-8650, and a CliRunner bound to it."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from gpusettle.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
PORTS = range(8600, 8651)

# anvil's well-known development account 0 (public test mnemonic; funded only on local chains).
ANVIL_KEY0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


def anvil_binary() -> str:
    local = ROOT / "node_modules" / ".bin" / "anvil"
    if local.exists():
        return str(local)
    found = shutil.which("anvil")
    if not found:
        raise RuntimeError("anvil not found: run `npm ci` (it ships in @foundry-rs/anvil)")
    return found


def _free_port() -> int:
    for port in PORTS:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 8600-8650 for anvil")


def rpc(url: str, method: str, params: list[Any] | None = None) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        data = json.loads(resp.read())
    if "error" in data:
        raise RuntimeError(f"{method}: {data['error']}")
    return data["result"]


@dataclass
class Anvil:
    url: str
    port: int
    proc: subprocess.Popen[bytes]

    def call(self, method: str, *params: Any) -> Any:
        return rpc(self.url, method, list(params))

    def increase_time(self, seconds: int) -> None:
        self.call("evm_increaseTime", seconds)
        self.call("evm_mine")

    def nonce(self, address: str) -> int:
        return int(self.call("eth_getTransactionCount", address, "latest"), 16)

    def set_balance(self, address: str, wei: int) -> None:
        self.call("anvil_setBalance", address, hex(wei))


@contextlib.contextmanager
def start_anvil(*extra: str) -> Iterator[Anvil]:
    """Start anvil with `extra` arguments on a free port; stop it on exit."""
    last: Exception | None = None
    for _ in range(5):
        port = _free_port()
        proc = subprocess.Popen(
            [anvil_binary(), "--port", str(port), "--silent", *extra],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            try:
                rpc(url, "eth_chainId")
            except OSError as exc:
                last = exc
                time.sleep(0.1)
                continue
            try:
                yield Anvil(url, port, proc)
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
            return
        proc.kill()
    raise RuntimeError(f"anvil did not start: {last}")


CLEAN_ENV = (
    "GPUSETTLE_PASSWORD",
    "GPUSETTLE_ACCOUNT",
    "GPUSETTLE_NETWORK",
    "GPUSETTLE_RPC_URL",
    "GPUSETTLE_DEPLOYMENTS",
    "GPUSETTLE_DEV_RPC_URL",
    "SEPOLIA_RPC_URL",
)


class Cli:
    """Runs `gpusettle ...` through click's CliRunner with a private home and deployments directory."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home = home
        self.env = env
        self.runner = CliRunner()

    def __call__(
        self, *args: str, input: str | None = None, ok: bool = True, env: dict[str, str] | None = None
    ) -> Result:
        merged = {k: None for k in CLEAN_ENV}
        merged.update(self.env)
        merged.update(env or {})
        result = self.runner.invoke(cli, list(args), input=input, env=merged, catch_exceptions=False)
        if ok and result.exit_code != 0:
            raise AssertionError(f"gpusettle {' '.join(args)} failed ({result.exit_code}):\n{result.output}")
        if not ok and result.exit_code == 0:
            raise AssertionError(f"gpusettle {' '.join(args)} should have failed:\n{result.output}")
        # Never a traceback, whatever happened.
        assert "Traceback" not in result.output, result.output
        return result

    def json(self, *args: str, **kw: Any) -> Any:
        result = self(*args, "--json", **kw)
        return json.loads(result.stdout)

    def password_file(self, name: str, password: str) -> str:
        path = self.home / f"{name}.pw"
        path.write_text(password + "\n", encoding="utf-8")
        os.chmod(path, 0o600)
        return str(path)
