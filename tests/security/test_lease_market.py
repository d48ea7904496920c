"""Attacks on the lease market around the escrow's money: selling a GPU twice (jobs and leases on one offer), work on
a paused offer, a provider changing an offer's class or notice under a client (front-run) or under a running lease,
self-dealing, a provider leaving with its stake while a lease's collateral is needed, a lease left without its final
checkpoint (expiry slash), and checkpoint disputes.

Every test asserts the exact error and that nothing else moved.
"""

import brownie
import pytest

from tests.fixtures.contracts import GPU_COUNT, PRICE, PROVIDER_STAKE, UNBONDING_PERIOD
from tests.fixtures.jobs import SPEC_HASH
from tests.fixtures.leases import (
    COLLATERAL_SECONDS,
    EXPIRY_SLASH_BPS,
    L_DISPUTED,
    L_ENDED,
    L_RUNNING,
    LEASE_DISPUTE_BOND,
    LEASE_DISPUTE_WINDOW,
    LEASE_GRACE,
    LEASE_SPEC,
    SKIP_NOT_RUNNING,
)
from tests.helpers.lease_signing import Checkpoint

from .conftest import DAY, HOUR, MAX_U64, MAX_U256, at, err, events_of, now, warp
from .lease_support import one_block, owed_by, send

pytestmark = pytest.mark.usefixtures("staked_provider")
BPS = 10_000


def _job(escrow, token, client, gpus, max_gs=3600, offer_id=1):
    if token.allowance(client, escrow) < 2**255:
        token.approve(escrow, MAX_U256, {"from": client})
    return escrow.createJob(offer_id, max_gs, now() + DAY, SPEC_HASH, gpus, MAX_U64, {"from": client})


def _open(lease_escrow, token, client, gpus=1, max_class=2, min_notice=0, hours=1):
    if token.allowance(client, lease_escrow) < 2**255:
        token.approve(lease_escrow, MAX_U256, {"from": client})
    return lease_escrow.openLease(
        1, gpus, MAX_U64, max_class, min_notice, LEASE_SPEC, PRICE * gpus * hours * 3600, 0, {"from": client}
    )


def _capacity(gpus, reserved):
    return err(
        "ProviderStakingCapacityExceeded(uint256,uint256,uint256,uint256)", 1, gpus, reserved, GPU_COUNT
    )


# ---------------------------------------------------------------- capacity


def test_jobs_and_leases_never_sell_one_gpu_twice(
    lease_escrow, escrow, staking, token, create_lease, client, client2, staked_provider, lworld
):
    create_lease(gpus=3)
    before = lworld()
    with brownie.reverts(_capacity(2, 3)):
        _job(escrow, token, client2, 2)
    with brownie.reverts(_capacity(2, 3)):
        _open(lease_escrow, token, client2, gpus=2)
    assert lworld() == before
    job_id = _job(escrow, token, client2, 1).events["JobCreated"]["jobId"]
    assert staking.freeGpus(1) == 0
    with brownie.reverts(_capacity(1, 4)):
        _open(lease_escrow, token, client, gpus=1)
    with brownie.reverts(_capacity(1, 4)):
        _job(escrow, token, client, 1)
    # nor can the offer shrink under its reservations
    with brownie.reverts(err("ProviderStakingGpusReserved(uint256,uint256,uint256)", 1, 3, 4)):
        staking.updateOffer(1, 3, 80, PRICE, "ipfs://offer", {"from": staked_provider})
    # the job's end gives its GPU back, and only that one
    escrow.cancelJob(job_id, {"from": client2})
    assert staking.freeGpus(1) == 1
    _open(lease_escrow, token, client, gpus=1)
    assert staking.offer(1)["reservedGpus"] == GPU_COUNT


def test_an_ended_lease_frees_exactly_its_gpus(
    lease_escrow, staking, create_lease, checkpoint, submit, client, client2
):
    a = create_lease(gpus=3)
    create_lease(gpus=1, sender=client2)
    warp(now() + 600)
    tx = lease_escrow.closeLease(a, {"from": client})
    final = checkpoint(a, to=tx.timestamp)
    submit([final])
    assert lease_escrow.getLease(a)["status"] == L_ENDED
    assert staking.offer(1)["reservedGpus"] == 1
    # the final checkpoint replayed on the ended lease releases nothing more
    submit([final])
    assert staking.offer(1)["reservedGpus"] == 1


def test_a_paused_offer_takes_no_new_lease_or_job(
    lease_escrow, escrow, staking, token, create_lease, checkpoint, submit, worker, client, client2, lworld
):
    running = create_lease(gpus=1)
    waiting = create_lease(gpus=1, accept=False, sender=client2)
    staking.pauseOffer(1, {"from": worker})  # the worker key pauses it when the owner needs the GPUs
    before = lworld()
    with brownie.reverts(err("ProviderStakingOfferPaused(uint256)", 1)):
        _open(lease_escrow, token, client)
    with brownie.reverts(err("ProviderStakingOfferPaused(uint256)", 1)):
        _job(escrow, token, client, 1)
    assert lworld() == before
    # running work goes on and is paid; waiting work can be withdrawn
    assert submit([checkpoint(running, seconds=600)]).return_value == 1
    lease_escrow.cancelLease(waiting, {"from": client2})
    with brownie.reverts(
        err(
            "ProviderStakingNotOfferOwnerOrWorker(uint256,address,address)",
            1,
            client,
            lease_escrow.getLease(running)["provider"],
        )
    ):
        staking.resumeOffer(1, {"from": client})
    staking.resumeOffer(1, {"from": worker})
    _open(lease_escrow, token, client)


# ---------------------------------------------------------------- class and notice


def test_a_class_downgrade_front_run_is_refused(
    lease_escrow, staking, token, client, staked_provider, lworld
):
    """The client read a dedicated offer and accepts nothing worse; the provider makes it interruptible first."""
    staking.setOfferAvailability(1, 2, 0, 0, {"from": staked_provider})
    before = lworld()
    with brownie.reverts(
        err("LeaseEscrowClassNotAccepted(uint256,uint8,uint32,uint8,uint32)", 1, 2, 0, 0, 0)
    ):
        _open(lease_escrow, token, client, max_class=0)
    with brownie.reverts(
        err("LeaseEscrowClassNotAccepted(uint256,uint8,uint32,uint8,uint32)", 1, 2, 0, 1, 0)
    ):
        _open(lease_escrow, token, client, max_class=1)
    assert lworld() == before


def test_a_notice_cut_front_run_is_refused(lease_escrow, staking, token, client, staked_provider, lworld):
    staking.setOfferAvailability(1, 1, 3600, 0, {"from": staked_provider})
    staking.setOfferAvailability(1, 1, 60, 0, {"from": staked_provider})  # lands before the client's open
    before = lworld()
    with brownie.reverts(
        err("LeaseEscrowClassNotAccepted(uint256,uint8,uint32,uint8,uint32)", 1, 1, 60, 1, 3600)
    ):
        _open(lease_escrow, token, client, max_class=1, min_notice=3600)
    assert lworld() == before


def test_a_lease_keeps_the_terms_it_opened_with(
    lease_escrow, staking, token, create_lease, worker, client, staked_provider
):
    dedicated = create_lease(gpus=1)
    staking.setOfferAvailability(1, 1, 3600, 0, {"from": staked_provider})
    reclaimable = create_lease(gpus=1)
    # the provider makes the offer interruptible with no notice: neither lease is affected
    staking.setOfferAvailability(1, 2, 0, 0, {"from": staked_provider})
    with brownie.reverts(err("LeaseEscrowNotReclaimable(uint256,uint8)", dedicated, 0)):
        lease_escrow.reclaimLease(dedicated, {"from": worker})
    ts = now() + 5
    with at(ts):
        tx = lease_escrow.reclaimLease(reclaimable, {"from": worker})
    assert tx.events["LeaseReclaimed"]["billingEnd"] == ts + 3600
    v = lease_escrow.getLease(reclaimable).dict()
    assert (v["availabilityClass"], v["noticeSeconds"]) == (1, 3600)


# ---------------------------------------------------------------- self-dealing


def test_a_provider_cannot_lease_its_own_offer(lease_escrow, staking, token, staked_provider, worker, lworld):
    from brownie import accounts

    token.transfer(worker, 100 * 10**18, {"from": accounts[0]})
    before = lworld()
    for who in (staked_provider, worker):
        with brownie.reverts(
            err("LeaseEscrowSelfDealing(address,address,address)", who, staked_provider, worker)
        ):
            _open(lease_escrow, token, who)
    assert lworld() == before


def test_a_worker_key_rotated_to_the_client_cannot_accept(
    lease_escrow, staking, create_lease, client, staked_provider, lworld
):
    lease_id = create_lease(accept=False)
    staking.setWorker(client, {"from": staked_provider})
    before = lworld()
    for who in (staked_provider, client):
        with brownie.reverts(
            err("LeaseEscrowSelfDealing(address,address,address)", client, staked_provider, client)
        ):
            lease_escrow.acceptLease(lease_id, {"from": who})
    assert lworld() == before


# ---------------------------------------------------------------- collateral


def test_a_provider_cannot_unstake_a_running_leases_collateral(
    lease_escrow, staking, create_lease, staked_provider
):
    lease_id = create_lease(gpus=4)
    collateral = lease_escrow.getLease(lease_id)["collateral"]
    assert collateral == 4 * PRICE * COLLATERAL_SECONDS
    bonded = staking.stakeOf(staked_provider)[0]
    with brownie.reverts(
        err(
            "ProviderStakingInsufficientFreeStake(address,uint256,uint256)",
            staked_provider,
            bonded - collateral,
            bonded,
        )
    ):
        staking.requestUnstake(bonded, {"from": staked_provider})
    staking.requestUnstake(bonded - collateral, {"from": staked_provider})
    assert staking.stakeOf(staked_provider)[0] == collateral


def test_collateral_is_not_counted_twice_for_jobs_and_leases(
    lease_escrow, escrow, staking, token, create_lease, client, client2, staked_provider, lworld
):
    """Jobs lock 20% of their value from the same stake: a lease may only take what the jobs left free."""
    create_lease(gpus=1, accept=False, sender=client2)
    lease_id = lease_escrow.leaseCount()
    job_locked_target = (
        PROVIDER_STAKE - PRICE * COLLATERAL_SECONDS // 2
    )  # leaves half of what the lease needs
    max_gs = job_locked_target * BPS // 2_000 // PRICE
    _job(escrow, token, client, 1, max_gs=max_gs)
    job_locked = escrow.providerRecord(staked_provider)["lockedCollateral"]
    free = PROVIDER_STAKE - job_locked
    need = PRICE * COLLATERAL_SECONDS
    assert need > free or pytest.fail("setup: the job should leave less than the lease's collateral free")
    before = lworld()
    with brownie.reverts(
        err("LeaseEscrowInsufficientFreeStake(address,uint256,uint256)", staked_provider, free, need)
    ):
        lease_escrow.acceptLease(lease_id, {"from": staked_provider})
    assert lworld() == before


def test_a_checkpoint_late_in_unbonding_holds_the_withdrawal(
    lease_escrow, staking, create_lease, checkpoint, submit, staked_provider
):
    lease_id = create_lease(gpus=1, hours=24 * 8)
    staking.requestUnstake(10**18, {"from": staked_provider})
    release = staking.stakeOf(staked_provider)[2]
    warp(release - HOUR)
    cp = checkpoint(lease_id, to=release - HOUR)
    tx = submit([cp])
    until = tx.timestamp + LEASE_DISPUTE_WINDOW
    ts = release + 1
    with (
        at(ts),
        brownie.reverts(
            err("ProviderStakingDisputeWindowOpen(address,uint256,uint256)", staked_provider, until, ts)
        ),
    ):
        staking.withdraw({"from": staked_provider})
    assert UNBONDING_PERIOD > LEASE_DISPUTE_WINDOW


# ---------------------------------------------------------------- expiry


def test_a_lease_without_its_final_checkpoint_expires_with_a_slash(
    lease_escrow, staking, token, create_lease, checkpoint, submit, client, rando, staked_provider, lholders
):
    end = now() + 2 * HOUR
    lease_id = create_lease(gpus=2, end_time=end)
    cp = checkpoint(lease_id, seconds=1800, down=600)
    submit([cp])
    v = lease_escrow.getLease(lease_id).dict()
    claimable = end + LEASE_GRACE
    with (
        at(claimable - 1),
        brownie.reverts(
            err("LeaseEscrowExpiryNotReached(uint256,uint256,uint256)", lease_id, claimable, claimable - 1)
        ),
    ):
        lease_escrow.claimLeaseExpiry(lease_id, {"from": rando})
    client_before, bonded = token.balanceOf(client), staking.stakeOf(staked_provider)[0]
    with at(claimable):
        tx = lease_escrow.claimLeaseExpiry(lease_id, {"from": rando})
    slash = v["collateral"] * EXPIRY_SLASH_BPS // BPS
    refund = v["deposit"] - v["paid"]
    assert (tx.events["LeaseExpired"]["refund"], tx.events["LeaseExpired"]["slashed"]) == (refund, slash)
    assert token.balanceOf(client) == client_before + refund + slash
    assert staking.stakeOf(staked_provider)[0] == bonded - slash
    v = lease_escrow.getLease(lease_id).dict()
    assert (v["status"], v["collateral"], v["refundable"]) == (L_ENDED, v["collateral"], 0)
    assert staking.offer(1)["reservedGpus"] == 0
    # the late final checkpoint is skipped; a second expiry is refused
    late = Checkpoint(lease_id, cp.toTime, end, end - cp.toTime, 0)
    assert [e["reason"] for e in events_of(submit([late]), "CheckpointSkipped")] == [SKIP_NOT_RUNNING]
    with brownie.reverts(err("LeaseEscrowWrongStatus(uint256,uint8,uint8)", lease_id, L_ENDED, L_RUNNING)):
        lease_escrow.claimLeaseExpiry(lease_id, {"from": rando})
    assert token.balanceOf(lease_escrow) == owed_by(lease_escrow, [staked_provider])


# ---------------------------------------------------------------- disputes


def _checkpointed(lease_escrow, create_lease, checkpoint, submit, hours=10):
    lease_id = create_lease(hours=hours)
    submit([checkpoint(lease_id, seconds=1200, down=200)])
    return lease_id


def test_no_checkpoint_lands_while_disputed_and_an_upheld_dispute_ends_the_lease(
    lease_escrow, staking, token, create_lease, checkpoint, submit, client, arbiter, rando, staked_provider
):
    lease_id = _checkpointed(lease_escrow, create_lease, checkpoint, submit)
    with brownie.reverts(err("LeaseEscrowNotClient(uint256,address,address)", lease_id, rando, client)):
        lease_escrow.disputeCheckpoint(lease_id, b"\x01" * 32, {"from": rando})
    lease_escrow.disputeCheckpoint(lease_id, b"\x01" * 32, {"from": client})
    with brownie.reverts(err("LeaseEscrowWrongStatus(uint256,uint8,uint8)", lease_id, L_DISPUTED, L_RUNNING)):
        lease_escrow.disputeCheckpoint(lease_id, b"\x01" * 32, {"from": client})
    v = lease_escrow.getLease(lease_id).dict()
    tx = submit([checkpoint(lease_id, seconds=600)])
    assert [e["reason"] for e in events_of(tx, "CheckpointSkipped")] == [SKIP_NOT_RUNNING]
    with brownie.reverts(err("LeaseEscrowWrongStatus(uint256,uint8,uint8)", lease_id, L_DISPUTED, L_RUNNING)):
        lease_escrow.claimLeaseExpiry(lease_id, {"from": rando})
    with brownie.reverts(err("LeaseEscrowWrongStatus(uint256,uint8,uint8)", lease_id, L_DISPUTED, L_RUNNING)):
        lease_escrow.topUp(lease_id, 10**18, {"from": client})
    before = token.balanceOf(client)
    tx = lease_escrow.resolveCheckpointDispute(lease_id, True, {"from": arbiter})
    ev = tx.events["CheckpointDisputeResolved"]
    assert (ev["slashed"], ev["compensation"]) == (v["paid"], v["paid"])  # the slash fraction is 100%
    assert token.balanceOf(client) == before + v["paid"] + LEASE_DISPUTE_BOND
    assert staking.stakeOf(staked_provider)[3], "the provider is jailed"
    after = lease_escrow.getLease(lease_id).dict()
    assert (after["status"], after["billingEnd"], after["refundable"]) == (
        L_ENDED,
        v["paidThrough"],
        v["deposit"] - v["paid"],
    )
    assert staking.offer(1)["reservedGpus"] == 0
    assert token.balanceOf(lease_escrow) == owed_by(lease_escrow, [staked_provider])


def test_a_dispute_after_its_window_is_refused(lease_escrow, create_lease, checkpoint, submit, client):
    lease_id = _checkpointed(lease_escrow, create_lease, checkpoint, submit)
    closes = lease_escrow.getLease(lease_id)["lastCheckpointAt"] + LEASE_DISPUTE_WINDOW
    with (
        at(closes + 1),
        brownie.reverts(
            err("LeaseEscrowDisputeWindowClosed(uint256,uint256,uint256)", lease_id, closes, closes + 1)
        ),
    ):
        lease_escrow.disputeCheckpoint(lease_id, b"\x01" * 32, {"from": client})


def test_a_close_at_the_paid_time_during_a_dispute_costs_no_expiry_slash(
    lease_escrow, staking, create_lease, attest_checkpoints, client, arbiter, rando, staked_provider
):
    """In the block of a checkpoint the client disputes it and closes: the billing end is the time already paid
    through. After a rejected ruling no checkpoint can be final, so the expiry must not slash the provider."""
    lease_id = create_lease()
    start = lease_escrow.getLease(lease_id)["paidThrough"]
    ts = now() + 600
    cp = Checkpoint(lease_id, start, ts, ts - start, 0)
    with one_block(ts) as sent:
        send(sent, lease_escrow.submitCheckpoints, [cp.as_tuple()], attest_checkpoints([cp]), sender=rando)
        send(sent, lease_escrow.disputeCheckpoint, lease_id, b"\x01" * 32, sender=client)
        send(sent, lease_escrow.closeLease, lease_id, sender=client)
    assert [tx.status for tx in sent] == [1, 1, 1]
    assert lease_escrow.getLease(lease_id)["status"] == L_DISPUTED
    lease_escrow.resolveCheckpointDispute(lease_id, False, {"from": arbiter})
    v = lease_escrow.getLease(lease_id).dict()
    assert (v["status"], v["billingEnd"], v["paidThrough"]) == (L_RUNNING, ts, ts)
    bonded = staking.stakeOf(staked_provider)[0]
    warp(now() + LEASE_GRACE + 1)
    tx = lease_escrow.claimLeaseExpiry(lease_id, {"from": rando})
    assert tx.events["LeaseExpired"]["slashed"] == 0
    assert staking.stakeOf(staked_provider)[0] == bonded
    assert lease_escrow.getLease(lease_id)["refundable"] == 0  # the refund went out with the expiry
    assert staking.offer(1)["reservedGpus"] == 0


def test_a_rejected_dispute_leaves_the_provider_time_for_its_final_checkpoint(
    lease_escrow, staking, create_lease, checkpoint, submit, client, arbiter, rando, staked_provider
):
    """Checkpoints cannot land while a checkpoint is disputed. If the billing end and its grace pass during the
    dispute, a rejected ruling must still leave the provider the grace to post the final checkpoint: an expiry
    claimed in the ruling's block would slash it for the arbiter's delay. (Failed before the fix: the expiry was
    claimable at once after the ruling.)"""
    lease_id = _checkpointed(lease_escrow, create_lease, checkpoint, submit, hours=1)
    lease_escrow.disputeCheckpoint(lease_id, b"\x01" * 32, {"from": client})
    runway = lease_escrow.getLease(lease_id)["runwayEnd"]
    warp(runway + LEASE_GRACE + HOUR)  # the arbiter takes its time
    ruled = lease_escrow.resolveCheckpointDispute(lease_id, False, {"from": arbiter}).timestamp
    assert lease_escrow.getLease(lease_id)["status"] == L_RUNNING
    claimable = ruled + LEASE_GRACE
    with (
        at(ruled + 1),
        brownie.reverts(
            err("LeaseEscrowExpiryNotReached(uint256,uint256,uint256)", lease_id, claimable, ruled + 1)
        ),
    ):
        lease_escrow.claimLeaseExpiry(lease_id, {"from": rando})
    # Within that grace the final checkpoint lands: it covers up to the billing end and ends the lease unslashed.
    bonded = staking.stakeOf(staked_provider)[0]
    tx = submit([checkpoint(lease_id, to=runway, advance=False)])
    assert tx.timestamp < claimable
    assert "LeaseEnded" in tx.events and "LeaseExpired" not in tx.events
    assert lease_escrow.getLease(lease_id)["status"] == L_ENDED
    assert staking.stakeOf(staked_provider)[0] == bonded


def test_after_a_rejected_dispute_the_expiry_comes_a_grace_after_the_ruling(
    lease_escrow, staking, token, create_lease, checkpoint, submit, client, arbiter, rando, staked_provider
):
    """The ruling moves the expiry no further than a grace: without a final checkpoint by then, the expiry is
    claimed and slashes as it would have at billing end plus grace."""
    lease_id = _checkpointed(lease_escrow, create_lease, checkpoint, submit, hours=1)
    lease_escrow.disputeCheckpoint(lease_id, b"\x01" * 32, {"from": client})
    runway = lease_escrow.getLease(lease_id)["runwayEnd"]
    warp(runway + LEASE_GRACE + HOUR)
    ruled = lease_escrow.resolveCheckpointDispute(lease_id, False, {"from": arbiter}).timestamp
    collateral = lease_escrow.getLease(lease_id)["collateral"]
    bonded = staking.stakeOf(staked_provider)[0]
    with at(ruled + LEASE_GRACE):
        tx = lease_escrow.claimLeaseExpiry(lease_id, {"from": rando})
    assert tx.events["LeaseExpired"]["slashed"] == collateral * EXPIRY_SLASH_BPS // BPS
    assert staking.stakeOf(staked_provider)[0] == bonded - collateral * EXPIRY_SLASH_BPS // BPS
    assert lease_escrow.getLease(lease_id)["status"] == L_ENDED


def test_a_ruling_before_the_billing_end_does_not_move_the_expiry(
    lease_escrow, create_lease, checkpoint, submit, client, arbiter, rando
):
    """A dispute ruled while billing still runs changes nothing: the expiry stays at billing end plus grace."""
    lease_id = _checkpointed(lease_escrow, create_lease, checkpoint, submit, hours=1)
    lease_escrow.disputeCheckpoint(lease_id, b"\x01" * 32, {"from": client})
    lease_escrow.resolveCheckpointDispute(lease_id, False, {"from": arbiter})
    runway = lease_escrow.getLease(lease_id)["runwayEnd"]
    claimable = runway + LEASE_GRACE
    with (
        at(claimable - 1),
        brownie.reverts(
            err("LeaseEscrowExpiryNotReached(uint256,uint256,uint256)", lease_id, claimable, claimable - 1)
        ),
    ):
        lease_escrow.claimLeaseExpiry(lease_id, {"from": rando})
    with at(claimable):
        tx = lease_escrow.claimLeaseExpiry(lease_id, {"from": rando})
    assert tx.events["LeaseExpired"]["slashed"] > 0
