"""Withheld pay in the CLI, against a real anvil: `job status` shows the pay the escrow keeps until the dispute window
closes (the provider's free stake could not back a ruling), and `provider release-collateral` says what it credited
to earnings once the window closed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gpusettle.devnet import FastSender
from tests.cli.settled_world import E18, RESULT, SPEC, World, oracle_settles, settled_world
from tests.helpers.signing import Receipt

DEAR = E18  # one token per GPU-second
GS = 1_000  # a 1,000-token job: collateral 200, fee 25 (2.5%)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with settled_world(tmp_path_factory.mktemp("withheld")) as w:
        yield w


def _short_settlement(world: World) -> int:
    """A job the provider's free stake cannot back: it unstakes all but 900 tokens first (700 free after the job's
    200 of collateral, short of the 800 a raised reserve needs: the reserve is raised by 700 and the other 100 of
    the pay is withheld), then the job settles in full."""
    gs, acc = world.net.gs, world.accounts
    provider = FastSender(gs, acc["provider"])
    provider.call(gs.staking, "addOffer", "NVIDIA H100 80GB HBM3", 1, 80, DEAR, "")
    provider.call(gs.staking, "requestUnstake", gs.stake_info(acc["provider"].address).bonded - 900 * E18)
    receipts = provider.wait()
    offer = next(int(e.args["offerId"]) for e in gs.chain.decode_logs(receipts[0]["logs"]) if e.name == "OfferAdded")
    (job_id,) = world.net.open_jobs(acc["client"], offer, 1, max_gpu_seconds=GS, spec_hash=SPEC)
    start = world.net.accept_jobs(acc["worker"], [job_id])[job_id]
    world.net.anvil.increase_time(GS + 10)
    oracle_settles(world.net, acc, [Receipt(job_id, acc["provider"].address, GS, start, start + GS, RESULT)])
    return job_id


def test_job_status_shows_withheld_pay_and_release_credits_it(world: World, tty: None) -> None:
    gs = world.net.gs
    provider = world.accounts["provider"].address
    job_id = _short_settlement(world)
    withheld = 100 * E18
    assert gs.withheld_pay(job_id) == withheld

    data = world.cli.json("job", "status", str(job_id), "-a", "client")
    assert int(data["withheld_pay"]) == withheld
    text = world.cli("job", "status", str(job_id), "-a", "client").stdout
    assert "withheld    100" in text and "until the dispute window closes" in text
    assert f"gpusettle provider release-collateral {job_id}" in text

    earned = gs.provider_record(provider).earnings
    world.net.anvil.increase_time(gs.parameters().dispute_window + 1)
    done = world.cli.json("provider", "release-collateral", str(job_id), "-a", "provider", "--yes")
    assert done["released"] == [job_id] and int(done["withheld_pay"]) == withheld
    assert gs.provider_record(provider).earnings == earned + withheld
    assert gs.withheld_pay(job_id) == 0
    after = world.cli("job", "status", str(job_id), "-a", "client").stdout
    assert "withheld" not in after
