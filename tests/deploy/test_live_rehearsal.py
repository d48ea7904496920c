"""A rehearsal of a live deployment: anvil started as Sepolia (chain id 11155111, a block a second),
a keystore account, 2 confirmations; the plan, the refusal of unlocked accounts, and interrupted runs
that resume without deploying anything twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from gpusettle.chain.tx import Chain
from gpusettle.deploy import Roles, deploy_suite, get_network
from gpusettle.devnet import Anvil
from gpusettle.hashing import keccak256
from gpusettle.keystore import Keystore
from tests.cli.runner import ROOT, Cli, cli_anvil

# A throwaway key made for this test; it only ever holds ETH on this private anvil.
DEPLOYER_KEY = "0x" + "d1" * 32
PW = "rehearsal"
SEPOLIA = 11155111


@pytest.fixture(scope="module")
def anvil() -> Iterator[Anvil]:
    with cli_anvil(chain_id=SEPOLIA, block_time=1) as node:
        yield node


@pytest.fixture(scope="module")
def deployer(gs: Cli, anvil: Anvil) -> str:
    secret = gs.home / "deployer.key"
    secret.write_text(DEPLOYER_KEY)
    try:
        out = gs.json(
            "wallet",
            "import",
            "deployer",
            "--private-key",
            "--secret-file",
            str(secret),
            "--password-file",
            gs.password_file("deployer", PW),
        )
    finally:
        secret.unlink()
    anvil.set_balance(out["address"], 100 * 10**18)
    gs.env["SEPOLIA_RPC_URL"] = anvil.url
    return str(out["address"])


def _deploy_args(gs: Cli, records: Path, *extra: str) -> list[str]:
    return [
        "deploy",
        "--network",
        "sepolia",
        "--account",
        "deployer",
        "--password-file",
        gs.password_file("deployer", PW),
        "--deployments-dir",
        str(records),
        *extra,
    ]


def _record(records: Path) -> dict[str, Any]:
    return json.loads((records / f"{SEPOLIA}.json").read_text())


def _check_code_hashes(anvil: Anvil, record: dict[str, Any]) -> None:
    assert set(record["code_hashes"]) == {"token", "staking", "escrow", "leaseEscrow", "hardwareRegistry"}
    for key, address in record["addresses"].items():
        code = bytes.fromhex(anvil.call("eth_getCode", address, "latest")[2:])
        assert code and record["code_hashes"][key] == "0x" + keccak256(code).hex()


def test_live_network_refuses_an_unlocked_account(gs: Cli, deployer: str, tmp_path: Path) -> None:
    res = gs(
        "deploy",
        "--network",
        "sepolia",
        "--account",
        "dev:0",
        "--deployments-dir",
        str(tmp_path),
        "--yes",
        ok=False,
    )
    assert "is live" in res.stderr and "use a keystore account" in res.stderr
    assert not list(tmp_path.iterdir())


def test_plan_is_shown_and_a_no_sends_nothing(
    gs: Cli, deployer: str, anvil: Anvil, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As at a terminal: without one the CLI refuses before asking ("pass --yes").
    monkeypatch.setattr("gpusettle.cli.context.stdin_is_terminal", lambda: True)
    res = gs(*_deploy_args(gs, tmp_path), input="n\n", ok=False)
    err = res.stderr
    assert f"network       sepolia (chain id {SEPOLIA}" in err
    assert f"deployer      {deployer}  balance 100 ETH" in err
    assert "confirmations 2" in err
    assert "min_stake 100 GPUC" in err and "dispute_window 21600 s" in err
    assert "estimated" in err and "ETH" in err
    assert "aborted: nothing was sent" in err
    assert anvil.nonce(deployer) == 0
    assert not (tmp_path / f"{SEPOLIA}.json").exists()


def test_killed_after_step_two_resumes(gs: Cli, deployer: str, anvil: Anvil, tmp_path: Path) -> None:
    """A real crash: SIGKILL the deploying process once the record holds two contracts."""
    start_nonce = anvil.nonce(deployer)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPUSETTLE_")}
    env.update({k: v for k, v in gs.env.items()})
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gpusettle.cli", *_deploy_args(gs, tmp_path, "--yes")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    record_file = tmp_path / f"{SEPOLIA}.json"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if record_file.exists():
                try:
                    if "staking" in json.loads(record_file.read_text())["addresses"]:
                        break
                except (json.JSONDecodeError, KeyError):
                    pass
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.02)
        else:
            pytest.fail("the deployment never recorded its second contract")
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    half = _record(tmp_path)
    assert half["complete"] is False and "escrow" not in half["addresses"]
    token, staking = half["addresses"]["token"], half["addresses"]["staking"]

    res = gs(*_deploy_args(gs, tmp_path, "--yes"))
    assert "(resuming)" in res.stderr
    assert "on-chain code hashes of ComputeToken, ProviderStaking match the record" in res.stderr
    assert "ComputeToken: sent" not in res.stderr and "ProviderStaking: sent" not in res.stderr
    assert "[done] ComputeToken" in res.stderr and "[done] ProviderStaking" in res.stderr
    full = _record(tmp_path)
    assert full["complete"] is True
    assert full["addresses"]["token"] == token and full["addresses"]["staking"] == staking
    _check_code_hashes(anvil, full)
    # Five contracts, setEscrow and setLeaseEscrow: seven transactions in all, nothing sent twice.
    assert anvil.nonce(deployer) - start_nonce == 7

    again = gs(*_deploy_args(gs, tmp_path, "--yes"))
    assert "nothing to deploy" in again.stderr
    assert anvil.nonce(deployer) - start_nonce == 7


def test_stop_after_two_then_resume_and_tamper_check(
    gs: Cli, deployer: str, anvil: Anvil, tmp_path: Path
) -> None:
    start_nonce = anvil.nonce(deployer)
    res = gs(*_deploy_args(gs, tmp_path, "--yes", "--stop-after", "2"), ok=False)
    assert "stopped after 2 step(s)" in res.stderr
    assert anvil.nonce(deployer) - start_nonce == 2
    half = _record(tmp_path)
    assert set(half["addresses"]) == {"token", "staking"} and not half["complete"]
    assert half["parameters"]["deployer"] == deployer and half["network"] == "sepolia"
    assert half["compiler_version"].startswith("0.8.")

    # Resuming with other parameters is refused: the half-built suite was made with the first ones.
    refused = gs(*_deploy_args(gs, tmp_path, "--yes", "--param", "fee_bps=100"), ok=False)
    assert "started with other parameters" in refused.stderr and "fee_bps" in refused.stderr

    gs(*_deploy_args(gs, tmp_path, "--yes"))
    full = _record(tmp_path)
    assert full["complete"] and full["addresses"]["token"] == half["addresses"]["token"]
    assert anvil.nonce(deployer) - start_nonce == 7
    _check_code_hashes(anvil, full)

    # A record whose code hash no longer matches the chain stops everything.
    full["code_hashes"]["staking"] = "0x" + "00" * 32
    (tmp_path / f"{SEPOLIA}.json").write_text(json.dumps(full))
    bad = gs(*_deploy_args(gs, tmp_path, "--yes"), ok=False)
    assert f"ProviderStaking at {full['addresses']['staking']} has code hash" in bad.stderr
    assert anvil.nonce(deployer) - start_nonce == 7


class _Crash(Exception):
    pass


def test_crash_between_send_and_receipt_adopts_the_sent_transaction(
    gs: Cli, deployer: str, anvil: Anvil, tmp_path: Path
) -> None:
    """The escrow's deployment is sent, then the process dies before its receipt: the re-run waits for
    that transaction instead of deploying a second escrow."""
    start_nonce = anvil.nonce(deployer)
    account = Keystore(gs.home / "keystores").unlock("deployer", PW)
    net = get_network("sepolia")

    def dying_echo(line: str) -> None:
        if line.startswith("JobEscrow: sent"):
            raise _Crash(line)

    chain = Chain.connect(anvil.url, expected_chain_id=SEPOLIA, poll_interval=0.1)
    with pytest.raises(_Crash):
        deploy_suite(chain, net, account, deployments_dir=tmp_path, assume_yes=True, echo=dying_echo)
    half = _record(tmp_path)
    assert "escrow" not in half["addresses"] and half["tx_hashes"]["JobEscrow"].startswith("0x")
    sent = half["tx_hashes"]["JobEscrow"]

    lines: list[str] = []
    result = deploy_suite(chain, net, account, deployments_dir=tmp_path, assume_yes=True, echo=lines.append)
    assert any(
        "found the transaction sent before the interruption" in l or "waiting for the transaction" in l
        for l in lines
    ), lines
    receipt = anvil.call("eth_getTransactionReceipt", sent)
    assert result.record.addresses["escrow"].lower() == receipt["contractAddress"].lower()
    assert anvil.nonce(deployer) - start_nonce == 7
    assert result.record.complete


def test_roles_and_governance_handoff(gs: Cli, deployer: str, anvil: Anvil, tmp_path: Path) -> None:
    gov, guardian, arbiter, treasury = (Account.create().address for _ in range(4))
    oracles = sorted((Account.create().address for _ in range(3)), key=lambda a: int(a, 16))
    args = ["--governance", gov, "--guardian", guardian, "--arbiter", arbiter, "--treasury", treasury]
    for o in oracles:
        args += ["--oracle", o]
    out = gs.json(*_deploy_args(gs, tmp_path, "--yes", "--param", "oracle_threshold=2", *args))
    rec = _record(tmp_path)
    assert rec["complete"] and out["complete"]
    assert rec["parameters"]["oracles"] == ",".join(oracles) and rec["parameters"]["oracle_threshold"] == 2
    chain = Chain.connect(anvil.url)
    from gpusettle.chain import Gpusettle
    from gpusettle.models import DeploymentRecord

    client = Gpusettle(chain, DeploymentRecord.model_validate(rec))
    roles = client.roles()
    assert (roles.governance, roles.guardian, roles.arbiter, roles.treasury) == (
        gov,
        guardian,
        arbiter,
        treasury,
    )
    # Staking governance is offered to the new governance, which must accept it.
    assert roles.staking_governance == deployer
    assert client.staking.functions.pendingGovernance().call() == gov
    oset = client.oracle_set()
    assert list(oset.oracles) == oracles and oset.threshold == 2
    assert client.staking.functions.escrow().call() == client.escrow.address
    # The lease escrow is deployed, named in the staking contract, governed by the new governance, and uses the
    # job escrow's oracle set and roles.
    assert client.lease_escrow is not None
    assert client.staking.functions.leaseEscrow().call() == client.lease_escrow.address
    assert client.lease_escrow.functions.governance().call() == gov
    assert client.lease_escrow.functions.jobEscrow().call() == client.escrow.address
    # The hardware registry reads the job escrow's oracle set and the staking contract's offers.
    assert client.hardware_registry is not None
    assert client.hardware_registry.functions.jobEscrow().call() == client.escrow.address
    assert client.hardware_registry.functions.staking().call() == client.staking.address
    assert Roles.defaults(deployer).governance == deployer
