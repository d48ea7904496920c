"""`gpusettle provider worker-budget` and `gpusettle provider release-collateral` against a real anvil.

The worker budget bounds the collateral the worker key alone may commit per day (SECURITY.md, "stake escape");
a settled job's collateral stays locked as its dispute reserve until its window closes, then anyone may give it
back to the provider's free stake (`releaseCollateral`)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from gpusettle.chain import DecodedContractError
from gpusettle.devnet import FastSender
from tests.cli.settled_world import E18, PRICE, SPEC, World, settled_world

STAKE = 5_000 * E18


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with settled_world(tmp_path_factory.mktemp("collateral")) as w:
        yield w


def _budget(world: World) -> dict[str, object]:
    data: dict[str, object] = world.cli.json("provider", "worker-budget", "-a", "provider")
    return data


def _open_job(world: World) -> int:
    gs = world.net.gs
    client = FastSender(gs, world.accounts["client"])
    client.call(
        gs.escrow, "createJob", world.offer, 1000, gs.chain.timestamp() + 86_400, SPEC, 1, PRICE, gas=400_000
    )
    client.wait()
    return gs.job_count()


def test_worker_budget_shows_sets_and_binds_the_worker_key(world: World, tty: None) -> None:
    gs = world.net.gs
    start = _budget(world)
    # Until set: 25% of bonded stake, nothing used, a day that ends at the next UTC midnight.
    assert start["budget"] == str(STAKE // 4) and start["used"] == "0" and start["custom"] is False
    assert start["resets_at"] == (gs.chain.timestamp() // 86_400 + 1) * 86_400
    human = world.cli("provider", "worker-budget", "-a", "provider").stdout
    assert "0 " in human and "1250" in human and "(default: 25% of bonded stake)" in human

    # The worker key's acceptance counts against it.
    (job_id,) = world.settled_jobs(1)
    used = _budget(world)["used"]
    assert used == str(gs.job(job_id).collateral) and int(str(used)) > 0

    # Asked and refused: nothing sent.
    refused = world.cli("provider", "worker-budget", "--set", "100", "-a", "provider", input="n\n", ok=False)
    assert "let the worker key of" in refused.output and "at most 100" in refused.output
    assert _budget(world)["budget"] == str(STAKE // 4)

    out = world.cli.json("provider", "worker-budget", "--set", "0.5", "-a", "provider", "--yes")
    assert out["budget"] == str(E18 // 2) and out["custom"] is True and out["tx"]["tx_hash"]
    assert out["left"] == str(max(E18 // 2 - int(str(used)), 0))

    # Bad input: error + hint, nothing sent, the budget unchanged.
    block = gs.chain.block_number()
    for args, words in (
        (["--set", "lots"], "not a decimal number"),
        (["--set", "-1"], "negative"),
        (["--set", "0.0000000000000000001"], "decimal places"),
        (["--set", "100000000000"], "more than the escrow can hold"),
        (["--set", "1", "--provider", "worker"], "drop --provider"),
    ):
        bad = world.cli("provider", "worker-budget", *args, "-a", "provider", "--yes", ok=False)
        assert words in bad.output, bad.output
    no_stake = world.cli("provider", "worker-budget", "--set", "1", "-a", "worker", "--yes", ok=False)
    assert "has no stake" in no_stake.output and "hint:" in no_stake.output
    assert gs.chain.block_number() == block
    assert _budget(world)["budget"] == str(E18 // 2)

    # Another provider's budget, read by anyone.
    other = world.cli.json("provider", "worker-budget", "--provider", "provider", "-a", "client")
    assert other["budget"] == str(E18 // 2) and other["provider"] == world.accounts["provider"].address

    # Budget 0: the worker key alone accepts nothing; the staking wallet still can.
    world.cli("provider", "worker-budget", "--set", "0", "-a", "provider", "--yes")
    job = _open_job(world)
    with pytest.raises(DecodedContractError) as refused_accept:
        gs.chain.plan_call("accept", world.accounts["worker"].address, gs.escrow, "acceptJob", job)
    assert refused_accept.value.name == "JobEscrowWorkerBudgetExceeded"
    assert "gpusettle provider worker-budget --set" in str(refused_accept.value.hint)
    gs.chain.plan_call("accept", world.accounts["provider"].address, gs.escrow, "acceptJob", job)
    world.cli("provider", "worker-budget", "--set", "1000", "-a", "provider", "--yes")
    world.net.accept_jobs(world.accounts["worker"], [job])
    assert gs.job(job).status == "Running"


def test_release_collateral_waits_for_the_window_then_releases(world: World, tty: None) -> None:
    gs = world.net.gs
    provider = world.accounts["provider"].address
    window = gs.parameters().dispute_window
    # Earlier tests' jobs: give their reserves back first, so that this test sees only its own.
    world.net.anvil.increase_time(window + 1)
    world.cli("provider", "release-collateral", "-a", "provider", "--yes")
    ids = world.settled_jobs(2)
    locked = gs.stake_info(provider).locked_collateral
    free_gpus = world.free_gpus()
    block = gs.chain.block_number()

    # A named job whose window is open: a clear error, nothing sent.
    early = world.cli("provider", "release-collateral", str(ids[0]), "-a", "provider", "--yes", ok=False)
    assert f"job {ids[0]} can still be disputed until" in early.output and "hint:" in early.output
    assert "nothing was sent" in early.output
    # No ids: nothing to release yet, and when each window closes.
    waiting = world.cli.json("provider", "release-collateral", "-a", "provider", "--yes")
    assert waiting["released"] == [] and waiting["txs"] == []
    assert [w["job_id"] for w in waiting["waiting"]] == ids
    assert [w["closes_at"] for w in waiting["waiting"]] == [gs.job(j).settled_at + window for j in ids]
    text = world.cli("provider", "release-collateral", "-a", "provider", "--yes").stdout
    assert "nothing to release now" in text and "2 job(s) still in their dispute window" in text
    assert gs.chain.block_number() == block and gs.stake_info(provider).locked_collateral == locked

    world.net.anvil.increase_time(window + 1)
    # Asked and refused: nothing sent.
    refused = world.cli("provider", "release-collateral", "-a", "provider", input="n\n", ok=False)
    assert "give the dispute reserves of settled job(s)" in refused.output
    assert f"{ids[0]}, {ids[1]}" in refused.output and "Send 1 transaction(s)?" in refused.output
    assert gs.stake_info(provider).locked_collateral == locked

    done = world.cli.json("provider", "release-collateral", "-a", "provider", "--yes")
    assert done["released"] == ids and done["waiting"] == [] and len(done["txs"]) == 1
    after = gs.stake_info(provider).locked_collateral
    assert int(done["amount"]) == locked - after > 0
    assert world.free_gpus() == free_gpus + 2  # releaseCollateral gives the jobs' GPUs back too

    again = world.cli("provider", "release-collateral", "-a", "provider", "--yes")
    assert "nothing to release now" in again.stdout
    # Named jobs with nothing to release: released already, and a job that is not settled.
    twice = world.cli("provider", "release-collateral", str(ids[1]), "-a", "provider", "--yes", ok=False)
    assert f"the dispute reserve of job {ids[1]} was released already" in twice.output
    assert "hint:" in twice.output
    open_job = _open_job(world)
    not_settled = world.cli(
        "provider", "release-collateral", str(open_job), "-a", "provider", "--yes", ok=False
    )
    assert f"job {open_job} is Open" in not_settled.output and "hint:" in not_settled.output
    assert gs.stake_info(provider).locked_collateral == after + gs.job(open_job).collateral
    data = json.loads(
        world.cli("provider", "release-collateral", "-a", "client", "--provider", "provider", "--json").stdout
    )
    assert data["released"] == [] and data["provider"] == provider
