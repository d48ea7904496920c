"""Runs the CLI through click's CliRunner against a private anvil (gpusettle.devnet.Anvil) per module."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from gpusettle.cli.main import cli
from gpusettle.devnet import Anvil, DevNet

ROOT = Path(__file__).resolve().parents[2]
PORTS = (8600, 8650)


def cli_anvil(**options: Any) -> Anvil:
    """An anvil as these tests expect it: anvil's default 10 dev accounts of 10,000 ETH, on a free
    port in 8600-8650 (`options` go to Anvil, e.g. chain_id, block_time)."""
    return Anvil(port_range=PORTS, accounts=10, balance_eth=10_000, **options)


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

    @classmethod
    def on_devnet(cls, net: DevNet, work: Path, **extra: str) -> Cli:
        """The CLI on `net`'s anvil with its key store and password; home and deployments under `work`;
        `extra` adds environment variables (e.g. GPUSETTLE_YES="1")."""
        home = work / "home"
        home.mkdir()
        env = {
            "GPUSETTLE_HOME": str(home),
            "GPUSETTLE_KDF_FAST": "1",
            "GPUSETTLE_DEV_RPC_URL": net.anvil.url,
            "GPUSETTLE_DEPLOYMENTS": str(work / "deployments"),
            "GPUSETTLE_KEYSTORE": str(net.keystore_dir),
            "GPUSETTLE_PASSWORD": net.password,
        }
        return cls(home, {**env, **extra})

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
