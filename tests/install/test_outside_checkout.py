"""gpusettle installed the way an operator installs it: `pip install` of this checkout into a fresh
virtual environment (no brownie, no nvidia-ml-py), run from a directory outside the checkout.

One module-scoped install (the slow part, about 30 s with a cold pip cache) serves every test. The
packages come from pip's configured index and cache, as for any other install on this machine.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gpusettle.devnet import Anvil, ManagedProcess, free_port

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "outside-the-checkout"
E18 = 10**18

# What a build of the package reads from the checkout (pyproject's readme and package list).
BUILD_INPUTS = ("pyproject.toml", "README.md", "gpusettle")


@dataclass
class Installed:
    """A venv with gpusettle installed, and a working directory that is not the checkout."""

    venv: Path
    outside: Path
    home: Path

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    def env(self, **extra: str) -> dict[str, str]:
        """The caller's environment without anything that points into the checkout or its venv."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("GPUSETTLE_") and k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
        }
        env["PATH"] = os.pathsep.join([str(self.bin), "/usr/local/bin", "/usr/bin", "/bin"])
        env["GPUSETTLE_HOME"] = str(self.home)
        env["GPUSETTLE_PASSWORD"] = PASSWORD
        env["GPUSETTLE_KDF_FAST"] = "1"  # throwaway keys; the light scrypt setting keeps the test fast
        env["PYTHONUNBUFFERED"] = "1"
        env.update(extra)
        return env

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """`gpusettle ARGS` from the outside directory; fails the test with the output on error."""
        done = subprocess.run(
            [str(self.bin / "gpusettle"), *args],
            check=False,
            cwd=self.outside,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 0, (
            f"gpusettle {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
        assert "Traceback" not in done.stderr, done.stderr
        return done

    def python(self, code: str) -> str:
        done = subprocess.run(
            [str(self.bin / "python"), "-c", code],
            cwd=self.outside,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout.strip()


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("install")
    # The build runs on a copy of the checkout's package files: pip builds in the source tree, and the
    # checkout's build/ folder belongs to brownie.
    src = base / "src"
    src.mkdir()
    for name in BUILD_INPUTS:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, src / name)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    outside = base / "elsewhere"
    outside.mkdir()
    inst = Installed(venv, outside, base / "home")
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(src)],
        check=False,
        cwd=outside,
        env=inst.env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, f"pip install failed:\n{done.stdout}\n{done.stderr}"
    return inst


def test_installs_without_brownie_or_nvml(installed: Installed) -> None:
    found = json.loads(
        installed.python(
            "import importlib.util as u, json, gpusettle;"
            "print(json.dumps({'brownie': u.find_spec('brownie') is not None,"
            " 'pynvml': u.find_spec('pynvml') is not None, 'torch': u.find_spec('torch') is not None,"
            " 'pytest': u.find_spec('pytest') is not None, 'gpusettle': gpusettle.__file__}))"
        )
    )
    assert found["brownie"] is False, "eth-brownie is a test dependency, not a runtime one"
    assert found["pytest"] is False, "pytest is a test dependency, not a runtime one"
    assert found["pynvml"] is False and found["torch"] is False, "the gpu extra was not asked for"
    assert Path(found["gpusettle"]).is_relative_to(installed.venv), found["gpusettle"]


def test_help(installed: Installed) -> None:
    out = installed.run("--help").stdout
    assert "Commands:" in out
    for group in ("wallet", "deploy", "oracle", "worker"):
        assert f"\n  {group} " in out, f"`{group}` missing from gpusettle --help:\n{out}"


def test_wallet_new(installed: Installed) -> None:
    made = json.loads(installed.run("wallet", "new", "first", "--json").stdout)
    keyfile = Path(made["keyfile"])
    assert keyfile.is_relative_to(installed.home)
    stored = json.loads(keyfile.read_text())
    assert "crypto" in stored and made["address"][2:].lower() == stored["address"].lower()
    listed = installed.run("wallet", "list").stdout
    assert "first" in listed and made["address"] in listed


@pytest.fixture(scope="module")
def chain(installed: Installed) -> Iterator[tuple[Anvil, dict[str, str], Path]]:
    """anvil, the suite deployed by the installed `gpusettle deploy`, a staked provider whose worker
    key is a keystore account, and the deployment record."""
    with Anvil(accounts=2, balance_eth=10_000) as anvil:
        keys = {}
        for alias in ("oracle", "worker"):
            keys[alias] = json.loads(installed.run("wallet", "new", alias, "--json").stdout)["address"]
            anvil.set_balance(keys[alias], 10 * E18)
        records = installed.outside / "records"
        common = ["--rpc-url", anvil.url, "--deployments-dir", str(records), "--account", "dev:0", "--yes"]
        installed.run(*common, "deploy", "--oracle", keys["oracle"])
        record = records / "31337.json"
        assert record.is_file()
        installed.run(*common, "provider", "stake", "100")
        installed.run(*common, "provider", "set-worker", keys["worker"])
        keys["provider"] = anvil.call("eth_accounts")[0]
        yield anvil, keys, record


def test_oracle_and_worker_start(installed: Installed, chain: tuple[Anvil, dict[str, str], Path]) -> None:
    anvil, keys, record = chain
    keystore = installed.home / "keystores"
    logs = installed.outside / "logs"
    port = free_port()
    daemon = ["--rpc-url", anvil.url, "--deployment", str(record), "--keystore", str(keystore)]
    oracle = ManagedProcess(
        "oracle",
        [
            str(installed.bin / "gpusettle"),
            "oracle",
            "run",
            *daemon,
            "--account",
            "oracle",
            "--data-dir",
            str(installed.outside / "oracle"),
            "--port",
            str(port),
        ],
        logs / "oracle.log",
        installed.env(),
    )
    worker = ManagedProcess(
        "worker",
        [
            str(installed.bin / "gpusettle"),
            "worker",
            "run",
            *daemon,
            "--account",
            "worker",
            "--provider",
            keys["provider"],
            "--oracle",
            f"http://127.0.0.1:{port}",
            "--data-dir",
            str(installed.outside / "worker"),
        ],
        logs / "worker.log",
        installed.env(),
    )
    try:
        oracle.start(cwd=installed.outside)
        worker.start(cwd=installed.outside)
        health = _wait_health(f"http://127.0.0.1:{port}/health", oracle, timeout=60)
        assert health["oracle"] == keys["oracle"] and health["chain_id"] == 31337
        assert health["escrow"] == json.loads(record.read_text())["addresses"]["escrow"]
        first = _wait_first_line(worker, timeout=60)
        assert "worker" in first.lower(), first
        time.sleep(1)  # a worker that starts and then dies on its first poll must be seen dead
        assert worker.alive(), f"the worker exited:\n{worker.tail()}"
        assert oracle.alive(), f"the oracle exited:\n{oracle.tail()}"
    finally:
        oracle_status = oracle.stop()
        worker_status = worker.stop()
    # Stopped by SIGTERM, not SIGKILL: uvicorn shuts the oracle down and then re-raises the signal, so
    # its status is 0 or -SIGTERM; -SIGKILL would mean it ignored the request to stop.
    assert oracle_status in (0, -signal.SIGTERM), (
        f"the oracle did not stop on SIGTERM ({oracle_status}):\n{oracle.tail()}"
    )
    assert worker_status in (0, -signal.SIGTERM), (
        f"the worker did not stop on SIGTERM ({worker_status}):\n{worker.tail()}"
    )
    for proc in (oracle, worker):
        assert "Traceback" not in proc.log_path.read_text(), proc.tail(60)


def _wait_health(url: str, oracle: ManagedProcess, timeout: float) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert oracle.alive(), f"the oracle exited:\n{oracle.tail()}"
        try:
            response = httpx.get(url, timeout=2)
        except httpx.HTTPError:
            time.sleep(0.1)
            continue
        if response.status_code == 200:
            body: dict[str, object] = response.json()
            return body
        time.sleep(0.1)
    raise AssertionError(f"no healthy /health at {url} within {timeout:.0f} s:\n{oracle.tail()}")


def _wait_first_line(proc: ManagedProcess, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = proc.tail(5).splitlines()
        if lines:
            return lines[0]
        assert proc.alive(), f"the {proc.name} exited without a word"
        time.sleep(0.1)
    raise AssertionError(f"the {proc.name} logged nothing within {timeout:.0f} s")
