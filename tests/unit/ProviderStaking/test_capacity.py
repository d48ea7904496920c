"""Offers and capacity (issue 11): availability terms, pause and resume, GPU reservations by both escrows, the
second escrow, and free stake counted across both."""

import brownie
import pytest

from tests.fixtures.contracts import GPU_COUNT, PRICE, PROVIDER_STAKE
from tests.fixtures.leases import LEASE_PARAMS
from tests.helpers.revert import typed_error as err
from tests.helpers.revert import unauthorized

DAY = 24 * 3600


def test_new_offers_are_dedicated_and_running(staking, staked_provider):
    o = staking.offer(1).dict()
    assert (o["availabilityClass"], o["noticeSeconds"], o["uptimeGuaranteeBps"], o["paused"], o["reservedGpus"]) == (
        0, 0, 0, False, 0)
    assert staking.freeGpus(1) == GPU_COUNT


@pytest.mark.parametrize("klass,notice,guarantee,stored_notice", [
    (0, 999, 9_900, 0), (1, 600, 9_000, 600), (1, 30 * DAY, 10_000, 30 * DAY), (2, 0, 0, 0)])
def test_set_availability(staking, staked_provider, klass, notice, guarantee, stored_notice):
    tx = staking.setOfferAvailability(1, klass, notice, guarantee, {"from": staked_provider})
    ev = tx.events["OfferAvailabilitySet"]
    assert (ev["offerId"], ev["availabilityClass"], ev["noticeSeconds"], ev["uptimeGuaranteeBps"]) == (
        1, klass, stored_notice, guarantee)
    o = staking.offer(1).dict()
    assert (o["availabilityClass"], o["noticeSeconds"], o["uptimeGuaranteeBps"]) == (klass, stored_notice, guarantee)


@pytest.mark.parametrize("klass,notice,guarantee", [
    (3, 0, 0), (0, 0, 10_001), (1, 0, 0), (1, 30 * DAY + 1, 0), (2, 1, 0), (2, 0, 1)])
def test_invalid_availability(staking, staked_provider, klass, notice, guarantee):
    shown = 0 if klass == 0 else notice
    with brownie.reverts(err("ProviderStakingInvalidAvailability(uint8,uint256,uint256)", klass, shown, guarantee)):
        staking.setOfferAvailability(1, klass, notice, guarantee, {"from": staked_provider})


def test_only_the_owner_sets_availability(staking, staked_provider, worker):
    with brownie.reverts(err("ProviderStakingNotOfferOwner(uint256,address,address)", 1, worker, staked_provider)):
        staking.setOfferAvailability(1, 1, 60, 0, {"from": worker})


def test_pause_and_resume_by_provider_or_worker(staking, escrow, staked_provider, worker, client, token):
    tx = staking.pauseOffer(1, {"from": worker})
    assert tx.events["OfferPaused"]["offerId"] == 1
    assert staking.offer(1)["paused"] is True
    with brownie.reverts(err("ProviderStakingOfferPaused(uint256)", 1)):
        staking.pauseOffer(1, {"from": staked_provider})
    with brownie.reverts(err("ProviderStakingOfferPaused(uint256)", 1)):
        staking.jobTerms(1)
    token.approve(escrow, 2**256 - 1, {"from": client})
    with brownie.reverts(err("ProviderStakingOfferPaused(uint256)", 1)):
        escrow.createJob(1, 100, brownie.chain.time() + DAY, b"\x01" * 32, 1, PRICE, {"from": client})
    tx = staking.resumeOffer(1, {"from": staked_provider})
    assert tx.events["OfferResumed"]["offerId"] == 1
    with brownie.reverts(err("ProviderStakingOfferNotPaused(uint256)", 1)):
        staking.resumeOffer(1, {"from": worker})


def test_others_cannot_pause(staking, staked_provider, rando):
    with brownie.reverts(err("ProviderStakingNotOfferOwnerOrWorker(uint256,address,address)", 1, rando,
                             staked_provider)):
        staking.pauseOffer(1, {"from": rando})
    with brownie.reverts(err("ProviderStakingUnknownOffer(uint256)", 5)):
        staking.pauseOffer(5, {"from": staked_provider})


def test_reserve_and_release_are_the_escrows(staking, staked_provider, rando):
    with brownie.reverts(unauthorized(rando, "escrow")):
        staking.reserveGpus(1, 1, {"from": rando})
    with brownie.reverts(unauthorized(rando, "escrow")):
        staking.releaseGpus(1, 1, {"from": rando})


def test_jobs_reserve_and_every_end_releases(staking, escrow, token, staked_provider, client, job_on):
    a = job_on(gpus=3, accept=False)
    assert staking.freeGpus(1) == GPU_COUNT - 3
    with brownie.reverts(err("ProviderStakingCapacityExceeded(uint256,uint256,uint256,uint256)", 1, 2, 3,
                             GPU_COUNT)):
        job_on(gpus=2, accept=False)
    tx = escrow.cancelJob(a, {"from": client})
    assert tx.events["JobGpusReleased"]["gpuCount"] == 3
    assert staking.freeGpus(1) == GPU_COUNT


def test_settlement_leaves_gpus_until_released(staking, escrow, staked_provider, rando, job_on, receipt_for, settle):
    a = job_on(gpus=4)
    settle(receipt_for(a))
    assert staking.freeGpus(1) == 0  # settlement writes no slot beyond the job's: released lazily
    tx = escrow.releaseJobGpus([a, a], {"from": rando})
    assert tx.return_value == 1
    assert staking.freeGpus(1) == GPU_COUNT
    with brownie.reverts(err("JobEscrowNothingToClaim(address)", rando)):
        escrow.releaseJobGpus([a], {"from": rando})


def test_release_job_gpus_skips_running_jobs(escrow, staking, rando, job_on):
    a = job_on(gpus=1)
    with brownie.reverts(err("JobEscrowNothingToClaim(address)", rando)):
        escrow.releaseJobGpus([a], {"from": rando})
    assert staking.freeGpus(1) == GPU_COUNT - 1


def test_update_offer_cannot_drop_below_reserved(staking, staked_provider, job_on):
    job_on(gpus=3, accept=False)
    with brownie.reverts(err("ProviderStakingGpusReserved(uint256,uint256,uint256)", 1, 2, 3)):
        staking.updateOffer(1, 2, 80, PRICE, "ipfs://offer", {"from": staked_provider})
    staking.updateOffer(1, 3, 80, PRICE, "ipfs://offer", {"from": staked_provider})
    assert staking.freeGpus(1) == 0


def test_set_lease_escrow_once(LeaseEscrow, staking, token, escrow, deployer, rando):
    le = LeaseEscrow.deploy(token, staking, escrow, deployer, LEASE_PARAMS, {"from": deployer})
    with brownie.reverts(unauthorized(rando, "governance")):
        staking.setLeaseEscrow(le, {"from": rando})
    with brownie.reverts(err("ZeroAddress()")):
        staking.setLeaseEscrow("0x" + "00" * 20, {"from": deployer})
    tx = staking.setLeaseEscrow(le, {"from": deployer})
    assert tx.events["LeaseEscrowSet"]["leaseEscrow"] == le
    assert staking.leaseEscrow() == le
    with brownie.reverts(err("ProviderStakingEscrowAlreadySet(address)", le)):
        staking.setLeaseEscrow(le, {"from": deployer})


def test_lease_escrow_dispute_window_must_be_shorter_than_unbonding(LeaseEscrow, ProviderStaking, token, deployer):
    from brownie import StakingEscrowStub

    staking = ProviderStaking.deploy(token, deployer, 0, DAY, {"from": deployer})
    stub = StakingEscrowStub.deploy(DAY, {"from": deployer})
    with brownie.reverts(err("ProviderStakingParameterOutOfRange(uint8,uint256,uint256,uint256)", 1, DAY, DAY + 1,
                             90 * DAY)):
        staking.setLeaseEscrow(stub, {"from": deployer})


def test_free_stake_and_blockers_combine_both_escrows(staking, lease_escrow, escrow, staked_provider, job_on,
                                                      create_lease):
    job_on(gpus=1)
    create_lease(gpus=2)
    jobs, leases = staking.lockedCollateral(staked_provider)
    assert jobs > 0 and leases == 2 * PRICE * 3600
    free = PROVIDER_STAKE - jobs - leases
    with brownie.reverts(err("ProviderStakingInsufficientFreeStake(address,uint256,uint256)", staked_provider, free,
                             free + 1)):
        staking.requestUnstake(free + 1, {"from": staked_provider})
    staking.requestUnstake(free, {"from": staked_provider})


def test_a_job_slash_keeps_the_lease_collateral(staking, lease_escrow, escrow, staked_provider, job_on, create_lease,
                                                arbiter):
    create_lease(gpus=2)
    lease_locked = lease_escrow.lockedCollateral(staked_provider)
    a = job_on(gpus=1, max_gpu_seconds=1000)  # deposit 1 token, collateral 0.2
    job_locked = escrow.providerRecord(staked_provider)["lockedCollateral"]
    staking.requestUnstake(PROVIDER_STAKE - lease_locked - job_locked, {"from": staked_provider})
    brownie.chain.sleep(8 * DAY)
    brownie.chain.mine()
    staking.withdraw({"from": staked_provider})  # only locked collateral is left
    # A fraud ruling slashes the whole deposit (5x the job's collateral): it may take the job's own collateral,
    # never the lease's.
    tx = escrow.reportFraud(a, b"\x0f" * 32, {"from": arbiter})
    assert tx.events["FraudReported"]["slashed"] == job_locked
    assert staking.stakeOf(staked_provider)[0] == lease_locked


# ------------------------------------------- the lease collateral flag (settlement counts lease collateral)


def test_only_the_lease_escrow_flags_lease_collateral(staking, lease_escrow, escrow, staked_provider, deployer, rando):
    for caller in (rando, staked_provider, deployer):
        with brownie.reverts(unauthorized(caller, "leaseEscrow")):
            staking.flagLeaseCollateral(staked_provider, True, {"from": caller})
    with brownie.reverts(unauthorized(escrow, "leaseEscrow")):
        staking.flagLeaseCollateral(staked_provider, True, {"from": escrow})
    assert tuple(staking.settlementContext(staked_provider)) == tuple(staking.settlementView(staked_provider))


def _ended_and_released(lease_escrow, lease_id, client, checkpoint, submit):
    brownie.chain.sleep(600)  # a period to bill
    lease_escrow.closeLease(lease_id, {"from": client})
    submit([checkpoint(lease_id, to=lease_escrow.getLease(lease_id)["billingEnd"])])  # the runway may end first
    brownie.chain.sleep(DAY + 1)  # past the last checkpoint's dispute window
    brownie.chain.mine()
    return lease_escrow.releaseLeaseCollateral([lease_id], {"from": client})


def test_settlement_context_counts_lease_collateral_while_flagged(staking, lease_escrow, staked_provider, client,
                                                                  create_lease, checkpoint, submit):
    one = PRICE * 3600  # a 1-GPU lease's collateral: an hour of its rate
    first = create_lease(gpus=1, accept=False)
    tx = lease_escrow.acceptLease(first, {"from": staked_provider})
    assert tx.events["LeaseCollateralFlagged"][0]["provider"] == staked_provider
    assert tx.events["LeaseCollateralFlagged"][0]["locked"] is True
    worker, bonded = staking.settlementContext(staked_provider)
    assert (worker, bonded) == (staking.workerOf(staked_provider), PROVIDER_STAKE - one)
    assert staking.settlementView(staked_provider)[1] == PROVIDER_STAKE  # the raw figure is unchanged
    # A second lease adds to the sum; the flag is already set, so nothing is flagged again.
    second = create_lease(gpus=1, accept=False)
    tx = lease_escrow.acceptLease(second, {"from": staked_provider})
    assert "LeaseCollateralFlagged" not in tx.events
    assert staking.settlementContext(staked_provider)[1] == PROVIDER_STAKE - 2 * one
    # The first lease's collateral returns: the sum shrinks, the flag stays (the second still locks collateral).
    tx = _ended_and_released(lease_escrow, first, client, checkpoint, submit)
    assert "LeaseCollateralFlagged" not in tx.events
    assert staking.settlementContext(staked_provider)[1] == PROVIDER_STAKE - one
    # The last collateral returns: the flag is cleared, and settlement reads the bonded stake as it is.
    tx = _ended_and_released(lease_escrow, second, client, checkpoint, submit)
    assert tx.events["LeaseCollateralFlagged"][0]["locked"] is False
    assert lease_escrow.lockedCollateral(staked_provider) == 0
    assert tuple(staking.settlementContext(staked_provider)) == tuple(staking.settlementView(staked_provider))


def test_a_penalty_that_draws_the_last_collateral_clears_the_flag(staking, lease_escrow, staked_provider,
                                                                 create_lease, checkpoint, submit):
    staking.setOfferAvailability(1, 1, 600, 10_000, {"from": staked_provider})  # a 100% uptime guarantee
    lease_id = create_lease(gpus=1)
    # An hour down: the penalty (an hour of the rate) takes the whole collateral.
    tx = submit([checkpoint(lease_id, seconds=3600, down=3600)])
    assert tx.events["LeaseCollateralFlagged"][0]["locked"] is False
    assert lease_escrow.lockedCollateral(staked_provider) == 0
    assert tuple(staking.settlementContext(staked_provider)) == tuple(staking.settlementView(staked_provider))
