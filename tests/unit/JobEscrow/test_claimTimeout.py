"""claimTimeout: after deadline + grace a running job's whole deposit goes back to its client, with part of the
provider's collateral slashed to the client; anyone may call."""

import brownie
import pytest

from tests.fixtures.contracts import COLLATERAL_BPS, DISPUTE_WINDOW, PRICE, PROVIDER_STAKE, TIMEOUT_GRACE, TIMEOUT_SLASH_BPS

from .conftest import (BPS, CANCELLED, DAY, OPEN, PRICE2, RUNNING, SETTLED, TIMED_OUT, at, err, expect_event,
                       now, unknown_job, warp, wrong_status)


def collateral(deposit, bps=COLLATERAL_BPS):
    return -(-deposit * bps // BPS)


def claimable_at(escrow, job_id):
    return escrow.getJob(job_id)["deadline"] + TIMEOUT_GRACE


def test_refunds_deposit_and_slashes_collateral_to_client(escrow, token, staking, job, client, rando,
                                                          staked_provider):
    job_id = job(max_gpu_seconds=3600, deadline_in=DAY)
    deposit = 3600 * PRICE
    coll = collateral(deposit)
    slash = coll * TIMEOUT_SLASH_BPS // BPS
    bal, rando_bal = token.balanceOf(client), token.balanceOf(rando)
    staking_bal, escrow_bal = token.balanceOf(staking), token.balanceOf(escrow)
    t = claimable_at(escrow, job_id)
    with at(t):
        tx = escrow.claimTimeout(job_id, {"from": rando})
    expect_event(tx, "JobTimedOut", jobId=job_id, refund=deposit, slashed=slash)
    expect_event(tx, "Slashed", provider=staked_provider, requested=slash, amount=slash, recipient=client)
    assert [(e["from"], e["to"], e["value"]) for e in tx.events["Transfer"]] == [
        (staking.address, client.address, slash), (escrow.address, client.address, deposit)]
    assert token.balanceOf(client) == bal + deposit + slash
    assert token.balanceOf(rando) == rando_bal
    assert token.balanceOf(staking) == staking_bal - slash
    assert token.balanceOf(escrow) == escrow_bal - deposit
    assert staking.stakeOf(staked_provider)[0] == PROVIDER_STAKE - slash
    rec = escrow.providerRecord(staked_provider).dict()
    assert (rec["lockedCollateral"], rec["jobsTimedOut"], rec["totalSlashed"]) == (0, 1, slash)
    assert (rec["earnings"], rec["jobsCompleted"], rec["jobsFailed"]) == (0, 0, 0)
    j = escrow.getJob(job_id).dict()
    assert j["status"] == TIMED_OUT
    assert (j["deadline"], j["acceptedAt"], j["refundable"]) == (0, 0, 0)
    assert staking.stakeOf(staked_provider)[3] is False  # a timeout does not jail


def test_rejects_one_second_early(escrow, job, rando, snap):
    job_id = job(deadline_in=DAY)
    t = claimable_at(escrow, job_id)
    before = snap(job_id)
    with at(t - 1), brownie.reverts(err("JobEscrowTimeoutNotReached(uint256,uint256,uint256)", job_id, t, t - 1)):
        escrow.claimTimeout(job_id, {"from": rando})
    assert snap(job_id) == before


def test_rejects_at_the_deadline_itself(escrow, job, rando, snap):
    job_id = job(deadline_in=DAY)
    deadline = escrow.getJob(job_id)["deadline"]
    before = snap(job_id)
    with at(deadline), brownie.reverts(err("JobEscrowTimeoutNotReached(uint256,uint256,uint256)", job_id,
                                           deadline + TIMEOUT_GRACE, deadline)):
        escrow.claimTimeout(job_id, {"from": rando})
    assert snap(job_id) == before


def test_grace_parameter_moves_the_claim_time_of_jobs_accepted_after_it(escrow, job, rando, deployer):
    before = job(deadline_in=DAY)
    escrow.setParameter(6, 300, {"from": deployer})  # the floor
    warp(now() + 1)  # a change applies to jobs accepted from the next second on
    job_id = job(deadline_in=DAY)
    deadline = escrow.getJob(job_id)["deadline"]
    with at(deadline + 300):
        assert escrow.claimTimeout(job_id, {"from": rando}).events["JobTimedOut"]["jobId"] == job_id
    # the job accepted before the change keeps its 600 s (test_terms_change_under_running_jobs.py has the attack)
    old = escrow.getJob(before)["deadline"]
    with at(old + 599), brownie.reverts(err("JobEscrowTimeoutNotReached(uint256,uint256,uint256)", before, old + 600,
                                            old + 599)):
        escrow.claimTimeout(before, {"from": rando})


def test_slash_fraction_is_fixed_when_the_job_opens(escrow, token, job, client, rando, deployer, staked_provider):
    escrow.setParameter(2, BPS, {"from": deployer})
    a = job(max_gpu_seconds=1001, deadline_in=DAY)
    escrow.setParameter(2, 0, {"from": deployer})
    b = job(max_gpu_seconds=1001, deadline_in=DAY)
    escrow.setParameter(2, BPS // 2, {"from": deployer})  # changes neither running job
    warp(claimable_at(escrow, b))
    tx = escrow.claimTimeout(a, {"from": rando})
    full = collateral(1001 * PRICE)
    expect_event(tx, "JobTimedOut", jobId=a, refund=1001 * PRICE, slashed=full)
    bal = token.balanceOf(client)
    tx = escrow.claimTimeout(b, {"from": rando})
    expect_event(tx, "JobTimedOut", jobId=b, refund=1001 * PRICE, slashed=0)
    assert "Slashed" not in tx.events
    assert token.balanceOf(client) == bal + 1001 * PRICE
    assert escrow.providerRecord(staked_provider)["totalSlashed"] == full


def test_rounding_of_collateral_and_slash(escrow, token, job, client, rando, odd_offer, staked_provider):
    # deposit 21 wei -> collateral ceil(4.2) = 5 -> half of it slashed, rounded down: 2
    job_id = job(max_gpu_seconds=3, offer_id=odd_offer, deadline_in=DAY)
    warp(claimable_at(escrow, job_id))
    bal = token.balanceOf(client)
    tx = escrow.claimTimeout(job_id, {"from": rando})
    expect_event(tx, "JobTimedOut", jobId=job_id, refund=21, slashed=2)
    assert token.balanceOf(client) == bal + 23
    assert escrow.providerRecord(staked_provider)["lockedCollateral"] == 0


def test_client_itself_and_provider_may_claim(escrow, token, job, client, staked_provider):
    a, b = job(deadline_in=DAY), job(deadline_in=DAY)
    warp(claimable_at(escrow, b))
    bal = token.balanceOf(client)
    escrow.claimTimeout(a, {"from": client})
    escrow.claimTimeout(b, {"from": staked_provider})
    deposit = 3600 * PRICE
    assert token.balanceOf(client) == bal + 2 * (deposit + collateral(deposit) * TIMEOUT_SLASH_BPS // BPS)


def test_only_the_timed_out_providers_stake_is_touched(escrow, staking, job, rando, staked_provider, provider2,
                                                       offer2):
    mine, theirs = job(deadline_in=DAY), job(offer_id=offer2, deadline_in=DAY)
    warp(claimable_at(escrow, theirs))
    tx = escrow.claimTimeout(theirs, {"from": rando})
    slash = collateral(3600 * PRICE2) * TIMEOUT_SLASH_BPS // BPS
    expect_event(tx, "JobTimedOut", jobId=theirs, refund=3600 * PRICE2, slashed=slash)
    assert staking.stakeOf(provider2)[0] == PROVIDER_STAKE - slash
    assert staking.stakeOf(staked_provider)[0] == PROVIDER_STAKE
    assert escrow.providerRecord(staked_provider)["lockedCollateral"] == escrow.getJob(mine)["collateral"]
    assert escrow.providerRecord(staked_provider)["jobsTimedOut"] == 0


def test_slash_never_takes_more_than_the_provider_has(escrow, staking, token, job, receipt, settle, client, rando,
                                                      arbiter, deployer, staked_provider):
    escrow.setParameter(2, BPS, {"from": deployer})  # a timeout slashes all of the collateral
    escrow.setParameter(7, 0, {"from": deployer})
    late = job(max_gpu_seconds=20_000_000, deadline_in=DAY)  # 20k tokens of work, 4k collateral
    escrow.setParameter(1, 0, {"from": deployer})
    big = job(max_gpu_seconds=40_000_000, deadline_in=200 * DAY)
    big_start = escrow.getJob(big)["acceptedAt"]
    # the other job settles for 12k tokens and the client wins a dispute on it: the slash takes all the stake but
    # the collateral locked for the late job
    settle(receipt(big, gpu_seconds=12_000_000, end=big_start + 3_000_000))
    escrow.dispute(big, b"\x01" * 32, {"from": client})
    escrow.resolveDispute(big, True, {"from": arbiter})
    kept = collateral(20_000_000 * PRICE)
    assert tuple(staking.stakeOf(staked_provider))[:2] == (kept, 0)
    # past the settled job's dispute window too: a timeout slash inside it is held for rulings, not paid out
    warp(max(claimable_at(escrow, late), escrow.getJob(big)["settledAt"] + DISPUTE_WINDOW + 1))
    bal = token.balanceOf(client)
    tx = escrow.claimTimeout(late, {"from": rando})
    expect_event(tx, "JobTimedOut", jobId=late, refund=20_000_000 * PRICE, slashed=kept)
    assert token.balanceOf(client) == bal + 20_000_000 * PRICE + kept
    assert escrow.providerRecord(staked_provider)["lockedCollateral"] == 0
    assert tuple(staking.stakeOf(staked_provider))[:2] == (0, 0)


def test_slash_reaches_unbonding_stake(escrow, staking, token, job, client, rando, deployer, staked_provider):
    escrow.setParameter(2, BPS, {"from": deployer})
    job_id = job(max_gpu_seconds=3600, deadline_in=DAY)
    coll = collateral(3600 * PRICE)
    staking.requestUnstake(PROVIDER_STAKE - coll, {"from": staked_provider})  # everything that is free
    assert tuple(staking.stakeOf(staked_provider))[:2] == (coll, PROVIDER_STAKE - coll)
    warp(claimable_at(escrow, job_id))
    tx = escrow.claimTimeout(job_id, {"from": rando})
    expect_event(tx, "JobTimedOut", jobId=job_id, refund=3600 * PRICE, slashed=coll)
    assert tuple(staking.stakeOf(staked_provider))[:2] == (0, PROVIDER_STAKE - coll)


def test_works_while_paused(escrow, token, job, client, rando, guardian):
    job_id = job(deadline_in=DAY)
    escrow.pause({"from": guardian})
    warp(claimable_at(escrow, job_id))
    bal = token.balanceOf(client)
    escrow.claimTimeout(job_id, {"from": rando})
    assert token.balanceOf(client) == bal + 3600 * PRICE + collateral(3600 * PRICE) * TIMEOUT_SLASH_BPS // BPS


# -------------------------------------------------------------------- statuses


def test_rejects_unknown_job(escrow, rando, snap):
    before = snap()
    for job_id in (0, 3):
        with brownie.reverts(unknown_job(job_id)):
            escrow.claimTimeout(job_id, {"from": rando})
    assert snap() == before


def test_rejects_open_job_even_past_its_deadline(escrow, job, rando, snap):
    job_id = job(accept=False, deadline_in=DAY)
    warp(escrow.getJob(job_id)["deadline"] + TIMEOUT_GRACE + 1)
    before = snap(job_id)
    with brownie.reverts(wrong_status(job_id, OPEN, RUNNING)):
        escrow.claimTimeout(job_id, {"from": rando})
    assert snap(job_id) == before


def test_rejects_settled_job(escrow, job, receipt, settle, rando, snap):
    job_id = job(deadline_in=DAY)
    settle(receipt(job_id))
    warp(now() + 2 * DAY)
    before = snap(job_id)
    with brownie.reverts(wrong_status(job_id, SETTLED, RUNNING)):
        escrow.claimTimeout(job_id, {"from": rando})
    assert snap(job_id) == before


def test_rejects_cancelled_job(escrow, job, client, rando, snap):
    job_id = job(accept=False, deadline_in=DAY)
    escrow.cancelJob(job_id, {"from": client})
    warp(now() + 2 * DAY)
    before = snap(job_id)
    with brownie.reverts(wrong_status(job_id, CANCELLED, RUNNING)):
        escrow.claimTimeout(job_id, {"from": rando})
    assert snap(job_id) == before


def test_cannot_claim_twice(escrow, job, rando, snap):
    job_id = job(deadline_in=DAY)
    warp(claimable_at(escrow, job_id))
    escrow.claimTimeout(job_id, {"from": rando})
    before = snap(job_id)
    with brownie.reverts(wrong_status(job_id, TIMED_OUT, RUNNING)):
        escrow.claimTimeout(job_id, {"from": rando})
    assert snap(job_id) == before
