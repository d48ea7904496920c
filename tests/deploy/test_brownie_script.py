"""`brownie run scripts/deploy.py` runs the same deployment code as `gpusettle deploy`.

Needs brownie's network (it runs under `brownie test`); skipped under plain pytest.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from gpusettle.deploy import core
from tests.cli.runner import ROOT


@pytest.fixture(autouse=True)
def isolation(request: pytest.FixtureRequest) -> None:
    """Revert brownie's chain after each test, as the rest of the suite does."""
    brownie = pytest.importorskip("brownie")
    if not brownie.network.is_connected():
        pytest.skip("needs brownie's network: run under `brownie test`")
    request.getfixturevalue("fn_isolation")


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gpusettle_deploy_script", ROOT / "scripts" / "deploy.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_deploys_through_deploy_suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from brownie import accounts, web3

    calls: list[Any] = []
    real = core.deploy_suite

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append((args, kwargs))
        return real(*args, **kwargs)

    script = _script()
    monkeypatch.setattr(script, "deploy_suite", spy)
    for var in ("GPUSETTLE_ACCOUNT", "GPUSETTLE_YES"):
        monkeypatch.delenv(var, raising=False)
    result = script.deploy(yes=True, deployments_dir=str(tmp_path))
    assert len(calls) == 1 and calls[0][0][1].name == "development"
    record = json.loads((tmp_path / f"{web3.eth.chain_id}.json").read_text())
    assert record["complete"] and record["parameters"]["deployer"] == accounts[0].address
    for address in record["addresses"].values():
        assert web3.eth.get_code(address)
    assert result.sent == ["ComputeToken", "ProviderStaking", "JobEscrow", "setEscrow", "LeaseEscrow", "setLeaseEscrow",
                           "HardwareRegistry"]
    # A second run finds the deployment and sends nothing.
    again = script.deploy(yes=True, deployments_dir=str(tmp_path))
    assert again.sent == [] and again.verified == ["ComputeToken", "ProviderStaking", "JobEscrow", "LeaseEscrow",
                                                  "HardwareRegistry"]


def test_script_with_a_keystore_account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from brownie import accounts, web3

    from gpusettle.keystore import Keystore

    monkeypatch.setenv("GPUSETTLE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GPUSETTLE_KDF_FAST", "1")
    monkeypatch.setenv("GPUSETTLE_PASSWORD", "script-pw")
    address = Keystore().new("scripted", "script-pw")
    accounts[0].transfer(address, "10 ether")
    monkeypatch.setenv("GPUSETTLE_ACCOUNT", "scripted")
    result = _script().deploy(yes=True, deployments_dir=str(tmp_path / "records"))
    assert result.record.complete and result.record.parameters["deployer"] == address
    assert web3.eth.get_transaction_count(address) == 7
