"""`gpusettle job create` refuses what the escrow would refuse anyway before it sends anything (a newcomer's
approve went out, and its gas was spent, before JobEscrowSelfDealing or JobEscrowRunTimeTooShort): a provider as
its own client, from its staking wallet or its worker key, and a deadline too close. Against a real anvil."""

from __future__ import annotations

import pytest

from tests.cli.test_lapse_dispute import World, world

__all__ = ["world"]  # the module-scoped world of tests/cli/test_lapse_dispute.py


def _sent(world: World, name: str) -> tuple[int, int]:
    """(nonce, allowance to the escrow) of account `name`: what any approve or createJob would change."""
    gs = world.net.gs
    address = world.accounts[name].address
    return gs.chain.w3.eth.get_transaction_count(address), gs.allowance(address, gs.escrow.address)


@pytest.mark.parametrize(("who", "role"), [("provider", "staking wallet"), ("worker", "worker key")])
def test_a_provider_cannot_be_its_own_client_and_nothing_is_sent(world: World, who: str, role: str) -> None:
    world.net.fund_tokens({world.accounts[who].address: 100 * 10**18})
    before = _sent(world, who)
    out = world.cli(
        "job", "create", "--offer", str(world.offer), "--gpu-seconds", "600", "--gpus", "1",
        "--spec-hash", "0x" + "ab" * 32, "--account", who, "--yes", ok=False,
    )  # fmt: skip
    assert f"is the {role} of provider" in out.output and "cannot open work on its own offers" in out.output
    assert "hint:" in out.output and "Traceback" not in out.output
    assert _sent(world, who) == before


def test_a_deadline_inside_the_minimum_run_time_is_refused_before_the_approve(world: World) -> None:
    gs = world.net.gs
    before = _sent(world, "client")
    out = world.cli(
        "job", "create", "--offer", str(world.offer), "--gpu-seconds", "600", "--gpus", "1", "--deadline", "1m",
        "--spec-hash", "0x" + "ab" * 32, "--account", "client", "--yes", ok=False,
    )  # fmt: skip
    assert "leaves less than the minimum run time" in out.output and f"({gs.min_run_time():,} s)" in out.output
    assert "--deadline" in out.output and "hint:" in out.output
    assert _sent(world, "client") == before
