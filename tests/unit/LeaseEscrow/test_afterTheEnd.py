"""claimRefund, claimLeaseExpiry, releaseLeaseCollateral, withdrawEarnings, withdrawFees."""

import brownie

from tests.fixtures.contracts import GPU_COUNT, PRICE
from tests.fixtures.leases import (
    COLLATERAL_SECONDS,
    EXPIRY_SLASH_BPS,
    L_ENDED,
    L_RUNNING,
    LEASE_DISPUTE_WINDOW,
    LEASE_FEE_BPS,
    LEASE_GRACE,
)
from tests.fixtures.leases import ruling_reserve
from tests.unit.JobEscrow.conftest import at, now, warp
from tests.unit.LeaseEscrow.conftest import err, lwrong

RATE = 2 * PRICE


def _ended(lease_escrow, create_lease, checkpoint, submit, client, down=0):
    lease_id = create_lease(hours=1)
    warp(now() + 1000)
    tx = lease_escrow.closeLease(lease_id, {"from": client})
    submit([checkpoint(lease_id, to=tx.timestamp, down=down)])
    return lease_id


def test_claim_refund_pays_the_client_once(lease_escrow, token, create_lease, checkpoint, submit, client, rando):
    lease_id = _ended(lease_escrow, create_lease, checkpoint, submit, client, down=5)
    refundable = lease_escrow.getLease(lease_id)["refundable"]
    before = token.balanceOf(client)
    tx = lease_escrow.claimRefund(lease_id, {"from": rando})
    ev = tx.events["LeaseRefundClaimed"]
    assert (ev["leaseId"], ev["client"], ev["amount"]) == (lease_id, client, refundable)
    assert token.balanceOf(client) == before + refundable
    with brownie.reverts(err("LeaseEscrowNothingToClaim(address)", client)):
        lease_escrow.claimRefund(lease_id, {"from": client})


def test_claim_refund_needs_an_ended_lease(lease_escrow, create_lease, client):
    lease_id = create_lease()
    with brownie.reverts(lwrong(lease_id, L_RUNNING, L_ENDED)):
        lease_escrow.claimRefund(lease_id, {"from": client})


def test_client_paid_exactly_the_up_time(lease_escrow, token, create_lease, checkpoint, submit, client):
    before = token.balanceOf(client)
    lease_id = _ended(lease_escrow, create_lease, checkpoint, submit, client, down=100)
    lease_escrow.claimRefund(lease_id, {"from": client})
    assert before - token.balanceOf(client) == lease_escrow.getLease(lease_id)["paid"]
    assert lease_escrow.getLease(lease_id)["paid"] == lease_escrow.getLease(lease_id)["upSeconds"] * RATE


def test_expiry_refunds_what_no_checkpoint_paid_and_slashes(lease_escrow, staking, token, create_lease, checkpoint,
                                                            submit, client, staked_provider, rando):
    before = token.balanceOf(client)
    lease_id = create_lease(hours=1)
    submit([checkpoint(lease_id, seconds=600, down=60)])
    tx = lease_escrow.closeLease(lease_id, {"from": client})
    end = tx.timestamp
    claimable = end + LEASE_GRACE
    with brownie.reverts(err("LeaseEscrowExpiryNotReached(uint256,uint256,uint256)", lease_id, claimable,
                             claimable - 1)), at(claimable - 1):
        lease_escrow.claimLeaseExpiry(lease_id, {"from": rando})
    collateral = RATE * COLLATERAL_SECONDS
    warp(claimable)
    tx = lease_escrow.claimLeaseExpiry(lease_id, {"from": rando})
    slashed = collateral * EXPIRY_SLASH_BPS // 10_000
    refund = 2 * PRICE * 3600 - 540 * RATE
    ev = tx.events["LeaseExpired"]
    assert (ev["leaseId"], ev["refund"], ev["slashed"]) == (lease_id, refund, slashed)
    assert token.balanceOf(client) == before - 540 * RATE + slashed
    v = lease_escrow.getLease(lease_id).dict()
    assert v["status"] == L_ENDED and v["refundable"] == 0 and v["collateral"] == collateral - slashed
    assert staking.freeGpus(1) == GPU_COUNT
    # The ruling reserve of what the lease paid (540 s) stays locked until its dispute window closes.
    assert lease_escrow.lockedCollateral(staked_provider) == collateral - slashed + ruling_reserve(540 * RATE)


def test_expiry_only_for_running_leases(lease_escrow, create_lease, checkpoint, submit, client):
    lease_id = _ended(lease_escrow, create_lease, checkpoint, submit, client)
    with brownie.reverts(lwrong(lease_id, L_ENDED, L_RUNNING)):
        lease_escrow.claimLeaseExpiry(lease_id, {"from": client})


def test_collateral_released_after_the_dispute_window(lease_escrow, create_lease, checkpoint, submit, client,
                                                      staked_provider, rando):
    lease_id = _ended(lease_escrow, create_lease, checkpoint, submit, client)
    closes = lease_escrow.getLease(lease_id)["lastCheckpointAt"] + LEASE_DISPUTE_WINDOW
    with brownie.reverts(err("LeaseEscrowCollateralStillNeeded(uint256,uint256,uint256)", lease_id, closes, closes)):
        with at(closes):
            lease_escrow.releaseLeaseCollateral([lease_id], {"from": rando})
    warp(closes + 1)
    tx = lease_escrow.releaseLeaseCollateral([lease_id], {"from": rando})
    ev = tx.events["LeaseCollateralReleased"]
    released = RATE * COLLATERAL_SECONDS + ruling_reserve(lease_escrow.getLease(lease_id)["paid"])
    assert (ev["leaseId"], ev["provider"], ev["amount"]) == (lease_id, staked_provider, released)
    assert lease_escrow.lockedCollateral(staked_provider) == 0
    assert tx.return_value == released
    with brownie.reverts(err("LeaseEscrowNothingToClaim(address)", rando)):
        lease_escrow.releaseLeaseCollateral([lease_id], {"from": rando})


def test_release_needs_ended_leases(lease_escrow, create_lease, rando):
    lease_id = create_lease()
    with brownie.reverts(lwrong(lease_id, L_RUNNING, L_ENDED)):
        lease_escrow.releaseLeaseCollateral([lease_id], {"from": rando})


def test_withdraw_earnings_and_fees(lease_escrow, token, create_lease, checkpoint, submit, staked_provider,
                                    treasury, rando):
    lease_id = create_lease()
    submit([checkpoint(lease_id, seconds=1000)])
    paid = 1000 * RATE
    fee = paid * LEASE_FEE_BPS // 10_000
    before = token.balanceOf(staked_provider)
    tx = lease_escrow.withdrawEarnings({"from": staked_provider})
    assert tx.events["EarningsWithdrawn"]["amount"] == paid - fee
    assert token.balanceOf(staked_provider) == before + paid - fee
    with brownie.reverts(err("LeaseEscrowNothingToClaim(address)", staked_provider)):
        lease_escrow.withdrawEarnings({"from": staked_provider})
    t0 = token.balanceOf(treasury)
    tx = lease_escrow.withdrawFees({"from": rando})
    assert (tx.events["FeesWithdrawn"]["treasury"], tx.events["FeesWithdrawn"]["amount"]) == (treasury, fee)
    assert token.balanceOf(treasury) == t0 + fee
    with brownie.reverts(err("LeaseEscrowNothingToClaim(address)", treasury)):
        lease_escrow.withdrawFees({"from": rando})


def test_refunds_and_withdrawals_work_while_everything_is_paused(lease_escrow, create_lease, checkpoint, submit,
                                                                 client, guardian, staked_provider):
    lease_id = _ended(lease_escrow, create_lease, checkpoint, submit, client)
    lease_escrow.pause({"from": guardian})
    lease_escrow.pauseSettlement({"from": guardian})
    lease_escrow.claimRefund(lease_id, {"from": client})
    lease_escrow.withdrawEarnings({"from": staked_provider})
    warp(now() + LEASE_DISPUTE_WINDOW + 10)
    lease_escrow.releaseLeaseCollateral([lease_id], {"from": client})
