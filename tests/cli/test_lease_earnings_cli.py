"""What lease checkpoints pay a provider is shown by `provider status` and withdrawn by `provider
withdraw-earnings`, beside what its jobs paid, against a real anvil (a newcomer found lease pay reachable only from
the demo's own code)."""

from __future__ import annotations

from tests.cli.test_lease_cli import SPEC, World, world

__all__ = ["world"]  # the module-scoped suite of tests/cli/test_lease_cli.py, deployed afresh for this module


def test_lease_pay_is_shown_and_withdrawn(world: World) -> None:
    gs, net = world.cli, world.net
    provider = world.accounts["provider"].address
    lease_id = gs.json(
        "lease", "open", "--offer", str(world.offers[1]), "--gpus", "1", "--for", "1h", "--spec-hash", SPEC,
        "--account", "client",
    )["lease_id"]  # fmt: skip
    gs("provider", "lease", "accept", str(lease_id), "--account", "worker")
    net.anvil.increase_time(600)
    world.checkpoint(lease_id, up=600, down=0)
    earned = int(world.leases.escrow.functions.providerRecord(provider).call()[1])
    assert earned > 0

    status = gs.json("provider", "status", "--account", "provider")
    assert int(status["lease_earnings"]) == earned
    text = gs("provider", "status", "--account", "provider").output
    assert "from leases" in text and "withdraw-earnings" in text

    before = net.gs.token_balance(provider)
    out = gs.json("provider", "withdraw-earnings", "--account", "provider", "--yes")
    jobs = int(out["from_jobs"])
    assert int(out["from_leases"]) == earned and int(out["withdrawn"]) == jobs + earned
    assert net.gs.token_balance(provider) - before == jobs + earned
    assert int(world.leases.escrow.functions.providerRecord(provider).call()[1]) == 0

    again = gs("provider", "withdraw-earnings", "--account", "provider", "--yes", ok=False)
    assert "has no earnings to withdraw" in again.output and "lease checkpoints" in again.output
