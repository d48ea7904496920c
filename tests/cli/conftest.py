"""Fixtures for the CLI tests: a private anvil per module and a CLI runner bound to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gpusettle.devnet import Anvil
from tests.cli.runner import Cli, cli_anvil


@pytest.fixture(autouse=True)
def isolation() -> None:
    """These tests run their own anvil; brownie's per-test snapshot (tests/fixtures) is not needed, and
    without brownie's plugin its fn_isolation fixture does not exist."""


@pytest.fixture
def tty(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if a person sat at a terminal: prompts are asked (CliRunner's stdin is never a terminal)."""
    monkeypatch.setattr("gpusettle.cli.context.stdin_is_terminal", lambda: True)


@pytest.fixture(scope="module")
def anvil() -> Iterator[Anvil]:
    with cli_anvil() as node:
        yield node


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gpusettle-home")


@pytest.fixture(scope="module")
def gs(anvil: Anvil, home: Path) -> Cli:
    """The CLI, talking to this module's anvil, with its own key store and deployment records."""
    deployments = home / "deployments"
    deployments.mkdir(exist_ok=True)
    return Cli(
        home,
        {
            "GPUSETTLE_HOME": str(home),
            "GPUSETTLE_KDF_FAST": "1",
            "GPUSETTLE_DEV_RPC_URL": anvil.url,
            "GPUSETTLE_DEPLOYMENTS": str(deployments),
        },
    )
