"""The README's Quick start, run command by command exactly as written, from a fresh GPUSETTLE_HOME.

The README's marked blocks (`<!-- quickstart: NAME -->` before a ```sh block) are this test's input, so
the two cannot drift apart: `stack` (`gpusettle dev up`, left running), then `rent-out` (a provider's
path to withdrawn earnings) and `rent` (a client's path to a settled job, its result and its refund).
What a person types at the prompts (a password, "y") comes from GPUSETTLE_PASSWORD and GPUSETTLE_YES.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gpusettle.settings import SETTINGS
from tests.helpers.readme_shell import (
    README,
    ROOT,
    Shell,
    readme_blocks,
    running_dev_up,
    wait_for,
)

E18 = 10**18


@pytest.fixture(scope="module")
def blocks() -> dict[str, list[str]]:
    return readme_blocks("quickstart")


@pytest.fixture(scope="module")
def shell(tmp_path_factory: pytest.TempPathFactory, blocks: dict[str, list[str]]) -> Iterator[Shell]:
    """`gpusettle dev up` from the README's stack block, running until the module ends (then Ctrl-C)."""
    sh = Shell(tmp_path_factory.mktemp("quickstart"))
    # An index left by an earlier `dev up` (same chain id, same addresses): the new stack must not show its offers.
    stale = sh.home / "index" / "chain-31337.db"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"an earlier dev chain's index")
    [up] = blocks["stack"]
    yield from running_dev_up(sh, up)


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
    # Its ports are not the defaults: it says what other terminals must set (a newcomer's did not know).
    assert (
        f"in other terminals, first: export GPUSETTLE_RPC_URL=http://127.0.0.1:{shell.rpc_port} "
        f"GPUSETTLE_ORACLE_URL=http://127.0.0.1:{shell.oracle_port}" in text
    )
    for alias in ("provider", "worker", "client", "dev:0", "dev:1"):
        assert f"  {alias}" in text
    # Without --allow-command the worker runs no programs, and says so plainly.
    assert "programs: off (start with --allow-command)" in text
    assert "also programs" not in text
    status = shell.json("gpusettle provider status provider")
    assert int(status["bonded"]) == 1000 * E18 and status["worker"]
    stale = shell.home / "index" / "chain-31337.db"
    assert not stale.exists() or stale.read_bytes() != b"an earlier dev chain's index"


def test_dev_chain_clock_moves_while_idle(shell: Shell) -> None:
    """Leases are checkpointed by block time: on an idle dev chain a closed lease's final checkpoint must still come
    due (a newcomer's lease waited for a transaction that never came)."""
    import time

    from web3 import Web3

    w3 = Web3(Web3.HTTPProvider(f"http://127.0.0.1:{shell.rpc_port}"))
    first = w3.eth.get_block("latest")
    time.sleep(3.5)
    later = w3.eth.get_block("latest")
    assert later["number"] >= first["number"] + 2 and later["timestamp"] >= first["timestamp"] + 2


def test_rent_out_my_gpus_to_withdrawn_earnings(shell: Shell, blocks: dict[str, list[str]]) -> None:
    earnings = 0
    for line in blocks["rent-out"]:
        if line.endswith("&"):
            proc, log = shell.start(line.rstrip("& ").strip(), "my-worker")
            wait_for("my worker", lambda log=log: "serving provider" in log.read_text(), 120, log, proc)
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
