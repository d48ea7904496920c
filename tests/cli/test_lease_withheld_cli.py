"""A lease's withheld pay and collateral release in the CLI, against a real anvil: a provider without free stake
gets its checkpoint paid with the pay held back for a ruling (`lease status` shows it), and `provider lease
release-collateral` refuses before the last dispute window closes, then releases the collateral and credits the
withheld pay, and says so when there is nothing left."""

from __future__ import annotations

from gpusettle.devnet import FastSender
from tests.cli.test_lease_cli import SPEC, World, world

__all__ = ["world"]  # the module-scoped suite of tests/cli/test_lease_cli.py, deployed afresh for this module


def test_withheld_pay_is_shown_and_released_with_the_collateral(world: World) -> None:
    gs, net = world.cli, world.net
    provider = world.accounts["provider"].address
    offer = world.offers[1]
    lease_id = gs.json(
        "lease", "open", "--offer", str(offer), "--gpus", "1", "--for", "1h", "--spec-hash", SPEC,
        "--account", "client",
    )["lease_id"]  # fmt: skip
    gs("provider", "lease", "accept", str(lease_id), "--account", "worker")

    # The provider unstakes everything it can: the next checkpoint finds no free stake for its ruling reserve.
    sender = FastSender(net.gs, world.accounts["provider"])
    sender.call(net.gs.staking, "requestUnstake", net.gs.stake_info(provider).unstakeable)
    sender.wait()
    assert net.gs.stake_info(provider).unstakeable == 0
    net.anvil.increase_time(600)
    world.checkpoint(lease_id, up=600, down=0)
    pay, unreserved = world.leases.withheld_pay(lease_id)
    info = world.lease(lease_id)
    assert info.status == "Running" and info.paid_through == info.started_at + 600  # it landed, not skipped
    params = world.leases.lease_parameters(lease_id)
    paid = 600 * info.rate_per_second
    assert unreserved == paid * params["lease_dispute_slash_bps"] // 10_000
    assert pay == min(unreserved, paid - paid * params["lease_fee_bps"] // 10_000) > 0

    status = gs.json("lease", "status", str(lease_id), "--account", "client")
    assert int(status["withheld_pay"]) == pay
    text = gs("lease", "status", str(lease_id), "--account", "client").output
    assert "withheld" in text and "held for a ruling" in text

    running = gs("provider", "lease", "release-collateral", str(lease_id), "--account", "provider", ok=False)
    assert "is Running: its collateral stays locked until it has ended" in running.output
    assert "hint:" in running.output

    net.anvil.increase_time(60)
    gs("lease", "close", str(lease_id), "--account", "client")
    world.checkpoint(lease_id, up=60, down=0, to_end=True)  # withheld too: still no free stake
    assert world.lease(lease_id).status == "Ended"
    pay = world.leases.withheld_pay(lease_id)[0]
    early = gs("provider", "lease", "release-collateral", str(lease_id), "--account", "provider", ok=False)
    assert "can be disputed until" in early.output and "hint:" in early.output
    assert world.leases.withheld_pay(lease_id)[0] == pay  # nothing was sent

    earned = world.leases.escrow.functions.providerRecord(provider).call()[1]
    net.anvil.increase_time(params["lease_dispute_window"] + 1)
    waiting = gs.json("provider", "lease", "release-collateral", "--account", "provider")
    assert lease_id in waiting["released"] and int(waiting["withheld_pay"]) == pay
    assert world.leases.withheld_pay(lease_id) == (0, 0)
    assert world.lease(lease_id).collateral_released
    record = world.leases.escrow.functions.providerRecord(provider).call()
    assert record[1] == earned + pay  # the withheld pay is in the provider's lease earnings

    again = gs("provider", "lease", "release-collateral", str(lease_id), "--account", "provider", ok=False)
    assert "released already" in again.output
    nothing = gs("provider", "lease", "release-collateral", "--account", "provider").output
    assert "nothing to release now" in nothing
    after = gs("lease", "status", str(lease_id), "--account", "client").output
    assert "withheld" not in after

