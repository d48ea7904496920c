"""disputeCheckpoint and resolveCheckpointDispute."""

import brownie

from tests.fixtures.contracts import GPU_COUNT, PRICE
from tests.fixtures.leases import (
    COLLATERAL_SECONDS,
    L_DISPUTED,
    L_ENDED,
    L_OPEN,
    L_RUNNING,
    LEASE_DISPUTE_BOND,
    LEASE_DISPUTE_WINDOW,
    SKIP_NOT_RUNNING,
)
from tests.helpers.revert import unauthorized
from tests.fixtures.leases import ruling_reserve
from tests.unit.JobEscrow.conftest import at, now, warp
from tests.unit.LeaseEscrow.conftest import err, lwrong

RATE = 2 * PRICE
REASON = b"\x0d" * 32


def test_dispute_posts_the_bond_and_freezes_checkpoints(lease_escrow, staking, token, create_lease, checkpoint,
                                                         submit, client, staked_provider):
    lease_id = create_lease()
    submit([checkpoint(lease_id)])
    before = token.balanceOf(client)
    tx = lease_escrow.disputeCheckpoint(lease_id, REASON, {"from": client})
    ev = tx.events["CheckpointDisputed"]
    assert (ev["leaseId"], ev["client"], ev["bond"]) == (lease_id, client, LEASE_DISPUTE_BOND)
    assert token.balanceOf(client) == before - LEASE_DISPUTE_BOND
    assert lease_escrow.getLease(lease_id)["status"] == L_DISPUTED
    collateral = RATE * COLLATERAL_SECONDS + ruling_reserve(lease_escrow.getLease(lease_id)["paid"])
    # The checkpoint locked the upheld ruling's slash (its ruling reserve) beside the collateral, both of which the
    # ruling unlocks first, so the dispute freezes nothing more (issue 8, third review, finding 2).
    assert tuple(lease_escrow.unstakeBlockers(staked_provider))[::3] == (collateral, 0)
    assert lease_escrow.unstakeBlockers(staked_provider)[1] == 1
    assert submit([checkpoint(lease_id)]).events["CheckpointSkipped"]["reason"] == SKIP_NOT_RUNNING
    # The open dispute blocks no other unstaking: everything but the collateral can leave while the ruling waits.
    free = staking.stakeOf(staked_provider)[0] - collateral
    with brownie.reverts(err("ProviderStakingInsufficientFreeStake(address,uint256,uint256)", staked_provider, free,
                             free + 1)):
        staking.requestUnstake(free + 1, {"from": staked_provider})
    staking.requestUnstake(free, {"from": staked_provider})


def test_dispute_freezes_the_slash_beyond_the_collateral_until_the_ruling(lease_escrow, create_lease, checkpoint,
                                                                          submit, client, staked_provider, arbiter):
    first = create_lease()
    submit([checkpoint(first, seconds=5000)])  # paid 5000 s: 1400 s more than the 3600 s of collateral
    second = create_lease(gpus=1)
    submit([checkpoint(second, seconds=3000)])  # paid 3000 s: less than its 3600 s of collateral
    # Each checkpoint locked its lease's ruling reserve (the whole slash): the disputes freeze nothing more.
    assert lease_escrow.lockedCollateral(staked_provider) == (RATE + RATE // 2) * COLLATERAL_SECONDS + ruling_reserve(
        5000 * RATE + 3000 * RATE // 2)
    lease_escrow.disputeCheckpoint(first, REASON, {"from": client})
    lease_escrow.disputeCheckpoint(second, REASON, {"from": client})
    assert tuple(lease_escrow.unstakeBlockers(staked_provider))[1::2] == (2, 0)
    lease_escrow.resolveCheckpointDispute(first, False, {"from": arbiter})
    assert tuple(lease_escrow.unstakeBlockers(staked_provider))[1::2] == (1, 0)
    lease_escrow.resolveCheckpointDispute(second, True, {"from": arbiter})
    assert tuple(lease_escrow.unstakeBlockers(staked_provider))[1::2] == (0, 0)


def test_dispute_needs_a_checkpoint_the_client_and_the_window(lease_escrow, create_lease, checkpoint, submit, client,
                                                              rando):
    lease_id = create_lease()
    with brownie.reverts(err("LeaseEscrowNoCheckpoint(uint256)", lease_id)):
        lease_escrow.disputeCheckpoint(lease_id, REASON, {"from": client})
    tx = submit([checkpoint(lease_id)])
    with brownie.reverts(err("LeaseEscrowNotClient(uint256,address,address)", lease_id, rando, client)):
        lease_escrow.disputeCheckpoint(lease_id, REASON, {"from": rando})
    closes = tx.timestamp + LEASE_DISPUTE_WINDOW
    with brownie.reverts(err("LeaseEscrowDisputeWindowClosed(uint256,uint256,uint256)", lease_id, closes,
                             closes + 1)), at(closes + 1):
        lease_escrow.disputeCheckpoint(lease_id, REASON, {"from": client})


def test_dispute_needs_a_running_or_ended_lease(lease_escrow, create_lease, client):
    lease_id = create_lease(accept=False)
    with brownie.reverts(lwrong(lease_id, L_OPEN, L_RUNNING)):
        lease_escrow.disputeCheckpoint(lease_id, REASON, {"from": client})


def test_rejected_pays_the_bond_to_the_provider_and_the_lease_goes_on(lease_escrow, token, create_lease, checkpoint,
                                                                      submit, client, staked_provider, arbiter):
    lease_id = create_lease()
    submit([checkpoint(lease_id)])
    lease_escrow.disputeCheckpoint(lease_id, REASON, {"from": client})
    before = token.balanceOf(staked_provider)
    tx = lease_escrow.resolveCheckpointDispute(lease_id, False, {"from": arbiter})
    ev = tx.events["CheckpointDisputeResolved"]
    assert (ev["leaseId"], ev["upheld"], ev["slashed"], ev["compensation"]) == (lease_id, False, 0, 0)
    assert token.balanceOf(staked_provider) == before + LEASE_DISPUTE_BOND
    assert lease_escrow.getLease(lease_id)["status"] == L_RUNNING
    assert submit([checkpoint(lease_id)]).return_value == 1


def test_upheld_ends_the_lease_compensates_and_jails(lease_escrow, staking, token, create_lease, checkpoint, submit,
                                                     client, staked_provider, arbiter):
    lease_id = create_lease()
    submit([checkpoint(lease_id, seconds=1000)])
    lease_escrow.disputeCheckpoint(lease_id, REASON, {"from": client})
    before = token.balanceOf(client)
    tx = lease_escrow.resolveCheckpointDispute(lease_id, True, {"from": arbiter})
    paid = 1000 * RATE
    ev = tx.events["CheckpointDisputeResolved"]
    assert (ev["upheld"], ev["slashed"], ev["compensation"]) == (True, paid, paid)
    assert token.balanceOf(client) == before + paid + LEASE_DISPUTE_BOND
    v = lease_escrow.getLease(lease_id).dict()
    assert v["status"] == L_ENDED and v["collateralReleased"] and v["billingEnd"] == v["paidThrough"]
    assert v["refundable"] == 10 * 3600 * RATE - paid
    assert staking.stakeOf(staked_provider)[3] is True
    assert staking.freeGpus(1) == GPU_COUNT
    assert lease_escrow.lockedCollateral(staked_provider) == 0
    assert RATE * COLLATERAL_SECONDS > 0


def test_upheld_on_an_ended_lease(lease_escrow, create_lease, checkpoint, submit, client, arbiter):
    lease_id = create_lease(hours=1)
    warp(now() + 500)
    tx = lease_escrow.closeLease(lease_id, {"from": client})
    submit([checkpoint(lease_id, to=tx.timestamp)])
    refundable = lease_escrow.getLease(lease_id)["refundable"]
    lease_escrow.disputeCheckpoint(lease_id, REASON, {"from": client})
    lease_escrow.resolveCheckpointDispute(lease_id, True, {"from": arbiter})
    v = lease_escrow.getLease(lease_id).dict()
    assert v["status"] == L_ENDED and v["refundable"] == refundable


def test_only_the_arbiter_rules_and_only_on_disputes(lease_escrow, create_lease, client, rando, arbiter):
    lease_id = create_lease()
    with brownie.reverts(unauthorized(rando, "arbiter")):
        lease_escrow.resolveCheckpointDispute(lease_id, True, {"from": rando})
    with brownie.reverts(lwrong(lease_id, L_RUNNING, L_DISPUTED)):
        lease_escrow.resolveCheckpointDispute(lease_id, True, {"from": arbiter})


def test_an_upheld_slash_never_takes_a_jobs_collateral(lease_escrow, escrow, staking, token, create_lease, checkpoint,
                                                       submit, client, staked_provider, arbiter):
    from tests.fixtures.contracts import PROVIDER_STAKE
    from tests.unit.JobEscrow.conftest import DAY

    token.approve(escrow, 2**256 - 1, {"from": client})
    escrow.createJob(1, 3600, now() + 7 * DAY, b"\x01" * 32, 1, PRICE, {"from": client})
    job_locked = escrow.providerRecord(staked_provider)["lockedCollateral"]
    lease_id = create_lease(gpus=2)
    lease_locked = lease_escrow.lockedCollateral(staked_provider)
    staking.requestUnstake(PROVIDER_STAKE - job_locked - lease_locked, {"from": staked_provider})
    warp(now() + 8 * DAY)
    staking.withdraw({"from": staked_provider})  # only the two collaterals are left at stake
    cp = checkpoint(lease_id, seconds=4000)  # paid 4000 s: more than the lease's 3600 s of collateral
    # No free stake for the ruling reserve the period adds: the checkpoint lands, and the provider's part of its pay
    # is withheld for the ruling instead (the reserve the period adds, at most that part).
    reserve = ruling_reserve(4000 * lease_escrow.getLease(lease_id)["ratePerSecond"])
    tx = submit([cp])
    assert "CheckpointSkipped" not in tx.events
    net = tx.events["CheckpointSettled"]["payout"]
    withheld = tx.events["LeasePayWithheld"]
    assert (withheld["amount"], withheld["unreserved"]) == (min(net, reserve), reserve)
    assert tuple(map(int, lease_escrow.leaseWithheldPay(lease_id))) == (min(net, reserve), reserve)
    assert lease_escrow.lockedCollateral(staked_provider) == lease_locked  # nothing more could be locked
    lease_escrow.disputeCheckpoint(lease_id, REASON, {"from": client})
    tx = lease_escrow.resolveCheckpointDispute(lease_id, True, {"from": arbiter})
    # The ruling takes the lease's own collateral, then the withheld pay; stake never (nothing else is free).
    taken_from_stake = min(reserve, lease_locked)
    assert tx.events["CheckpointDisputeResolved"]["slashed"] == taken_from_stake + min(reserve - taken_from_stake, net)
    assert staking.stakeOf(staked_provider)[0] == job_locked + lease_locked - taken_from_stake
    assert tuple(map(int, lease_escrow.leaseWithheldPay(lease_id))) == (0, 0)


def test_close_unruled_needs_an_open_dispute_past_its_deadline(lease_escrow, escrow, create_lease, checkpoint, submit,
                                                               client, rando):
    with brownie.reverts(err("LeaseEscrowUnknownLease(uint256)", 99)):
        lease_escrow.closeUnruledCheckpointDispute(99, {"from": rando})
    lease_id = create_lease()
    with brownie.reverts(lwrong(lease_id, L_RUNNING, L_DISPUTED)):
        lease_escrow.closeUnruledCheckpointDispute(lease_id, {"from": rando})
    submit([checkpoint(lease_id)])
    tx = lease_escrow.disputeCheckpoint(lease_id, REASON, {"from": client})
    deadline = tx.timestamp + escrow.rulingPeriod()
    assert lease_escrow.getLease(lease_id)["rulingDeadline"] == deadline
    with at(deadline), brownie.reverts(err("LeaseEscrowRulingDeadlineNotReached(uint256,uint256,uint256)",
                                           lease_id, deadline, deadline)):
        lease_escrow.closeUnruledCheckpointDispute(lease_id, {"from": rando})


def test_a_dispute_lapses_while_the_escrow_and_its_settlement_are_paused(lease_escrow, escrow, token, create_lease,
                                                                          checkpoint, submit, client, guardian, rando):
    """Pausing never traps funds: the bond comes back through both pauses."""
    lease_id = create_lease()
    submit([checkpoint(lease_id)])
    tx = lease_escrow.disputeCheckpoint(lease_id, REASON, {"from": client})
    lease_escrow.pause({"from": guardian})
    lease_escrow.pauseSettlement({"from": guardian})
    before = token.balanceOf(client)
    with at(tx.timestamp + escrow.rulingPeriod() + 1):
        lapsed = lease_escrow.closeUnruledCheckpointDispute(lease_id, {"from": rando})
    assert lapsed.events["CheckpointDisputeLapsed"]["bond"] == LEASE_DISPUTE_BOND
    assert token.balanceOf(client) == before + LEASE_DISPUTE_BOND
    assert lease_escrow.getLease(lease_id)["status"] == L_RUNNING
