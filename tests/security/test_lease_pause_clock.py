"""Attack: the guardian's checkpoint pause turns a lease's last period into an expiry slash.

Call sequence (found while fixing the dispute clock): a lease runs with its final checkpoint still to post; the
guardian pauses checkpoints (`pauseSettlement`, meant for compromised oracle keys); the billing end and its grace
pass while the pause lasts, so the provider cannot post its final checkpoint; anyone claims the expiry and the
provider is slashed for a pause it could do nothing about. The pause had no end, so the guardian could also hold
every lease's checkpoints for ever.

What must hold (the job escrow's rule for its own pause, docs/PROTOCOL.md): while checkpoints are paused no expiry
can be claimed; after the pause each running lease has a whole grace to post its final checkpoint; a pause ends by
itself after MAX_SETTLEMENT_PAUSE and cannot start again within SETTLEMENT_PAUSE_COOLDOWN of its end.
"""

import brownie
import pytest

from tests.fixtures.leases import EXPIRY_SLASH_BPS, L_ENDED, LEASE_GRACE

from .conftest import HOUR, at, err, warp

pytestmark = pytest.mark.usefixtures("staked_provider")
BPS = 10_000
MAX_PAUSE = 3 * 24 * HOUR
COOLDOWN = 24 * HOUR


def _running(lease_escrow, create_lease, checkpoint, submit):
    lease_id = create_lease(hours=1)
    submit([checkpoint(lease_id, seconds=1200, down=0)])
    return lease_id, lease_escrow.getLease(lease_id)["runwayEnd"]


def test_no_expiry_is_claimed_while_checkpoints_are_paused(
    lease_escrow, create_lease, checkpoint, submit, guardian, rando
):
    lease_id, runway = _running(lease_escrow, create_lease, checkpoint, submit)
    lease_escrow.pauseSettlement({"from": guardian})
    warp(runway + LEASE_GRACE + HOUR)  # the billing end and its grace pass during the pause
    with brownie.reverts(err("LeaseEscrowSettlementPaused()")):
        lease_escrow.claimLeaseExpiry(lease_id, {"from": rando})
    assert lease_escrow.getLease(lease_id)["status"] != L_ENDED


def test_after_the_pause_the_provider_has_a_whole_grace_for_its_final_checkpoint(
    lease_escrow, staking, create_lease, checkpoint, submit, guardian, deployer, rando, staked_provider
):
    lease_id, runway = _running(lease_escrow, create_lease, checkpoint, submit)
    lease_escrow.pauseSettlement({"from": guardian})
    warp(runway + LEASE_GRACE + HOUR)
    resumed = lease_escrow.unpauseSettlement({"from": deployer}).timestamp
    claimable = resumed + LEASE_GRACE
    with (
        at(resumed + 1),
        brownie.reverts(err("LeaseEscrowExpiryNotReached(uint256,uint256,uint256)", lease_id, claimable, resumed + 1)),
    ):
        lease_escrow.claimLeaseExpiry(lease_id, {"from": rando})
    bonded = staking.stakeOf(staked_provider)[0]
    tx = submit([checkpoint(lease_id, to=runway, advance=False)])
    assert tx.timestamp < claimable
    assert "LeaseEnded" in tx.events and "LeaseExpired" not in tx.events
    assert staking.stakeOf(staked_provider)[0] == bonded


def test_without_a_final_checkpoint_the_expiry_comes_a_grace_after_the_pause(
    lease_escrow, create_lease, checkpoint, submit, guardian, deployer, rando
):
    lease_id, runway = _running(lease_escrow, create_lease, checkpoint, submit)
    lease_escrow.pauseSettlement({"from": guardian})
    warp(runway + LEASE_GRACE + HOUR)
    resumed = lease_escrow.unpauseSettlement({"from": deployer}).timestamp
    collateral = lease_escrow.getLease(lease_id)["collateral"]
    with at(resumed + LEASE_GRACE):
        tx = lease_escrow.claimLeaseExpiry(lease_id, {"from": rando})
    assert tx.events["LeaseExpired"]["slashed"] == collateral * EXPIRY_SLASH_BPS // BPS


def test_a_pause_ends_by_itself_and_waits_out_a_cooldown(
    lease_escrow, create_lease, checkpoint, submit, guardian, rando
):
    lease_id, runway = _running(lease_escrow, create_lease, checkpoint, submit)
    paused_at = lease_escrow.pauseSettlement({"from": guardian}).timestamp
    ends = paused_at + MAX_PAUSE
    assert tuple(lease_escrow.pauseState())[1] is True
    warp(ends)
    assert tuple(lease_escrow.pauseState())[1] is False  # over by itself
    with (
        at(ends + 1),
        brownie.reverts(
            err("LeaseEscrowSettlementPauseCoolingDown(uint256,uint256,uint256)", ends, ends + COOLDOWN, ends + 1)
        ),
    ):
        lease_escrow.pauseSettlement({"from": guardian})
    # checkpoints land again, and the expiry counts from the pause's end
    claimable = max(runway, ends) + LEASE_GRACE
    with (
        at(claimable - 1),
        brownie.reverts(
            err("LeaseEscrowExpiryNotReached(uint256,uint256,uint256)", lease_id, claimable, claimable - 1)
        ),
    ):
        lease_escrow.claimLeaseExpiry(lease_id, {"from": rando})
    with at(claimable):
        assert "LeaseExpired" in lease_escrow.claimLeaseExpiry(lease_id, {"from": rando}).events
    with at(ends + COOLDOWN):
        assert lease_escrow.pauseSettlement({"from": guardian}).events["SettlementPauseSet"]["paused"] is True
