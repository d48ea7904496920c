"""Attack: a provider requests unstake, or withdraws, just ahead of a timeout claim, an upheld dispute or a fraud
report, and escapes the slash.

What stops it (SECURITY.md, "Unstaking out of a penalty"): collateral locked for open jobs cannot be unstaked;
withdrawals and unstake requests are refused while a dispute is open; unbonded stake stays until the dispute window
of the provider's latest settlement has closed; slashing reaches unbonding stake. Each test runs the escape and
then the penalty, and checks that the client got every token the penalty promises.
"""

import brownie
import pytest

from tests.fixtures.contracts import (
    COLLATERAL_BPS,
    DISPUTE_BOND,
    DISPUTE_WINDOW,
    PRICE,
    PROVIDER_STAKE,
    TIMEOUT_GRACE,
    TIMEOUT_SLASH_BPS,
    UNBONDING_PERIOD,
)

from .conftest import BPS, DAY, HOUR, UPHELD, at, err, now, receipt_for, warp


def collateral(max_gpu_seconds, price=PRICE, bps=COLLATERAL_BPS):
    return -(-(max_gpu_seconds * price * bps) // BPS)


def stake_of(staking, who):
    bonded, unbonding, release_at, jailed = staking.stakeOf(who)
    return int(bonded), int(unbonding), int(release_at), bool(jailed)


def insufficient(provider, free, requested):
    return err("ProviderStakingInsufficientFreeStake(address,uint256,uint256)", provider, free, requested)


def frozen_err(provider, frozen, free):
    return err("ProviderStakingDisputeFrozen(address,uint256,uint256)", provider, frozen, free)


def window_open(provider, until, ts):
    return err("ProviderStakingDisputeWindowOpen(address,uint256,uint256)", provider, until, ts)


def test_collateral_of_open_and_running_jobs_cannot_be_unstaked(escrow, staking, staked_provider, job_at):
    running = job_at(max_gpu_seconds=3600)
    waiting = job_at(max_gpu_seconds=36_000, accept=False)  # not yet accepted: its collateral is locked too
    locked = collateral(3600) + collateral(36_000)
    assert escrow.unstakeBlockers(staked_provider)[0] == locked
    free = PROVIDER_STAKE - locked

    for amount in (free + 1, PROVIDER_STAKE, 2**96 - 1):
        with brownie.reverts(insufficient(staked_provider, free, amount)):
            staking.requestUnstake(amount, {"from": staked_provider})

    staking.requestUnstake(free, {"from": staked_provider})
    assert stake_of(staking, staked_provider)[:2] == (locked, free)
    with brownie.reverts(insufficient(staked_provider, 0, 1)):
        staking.requestUnstake(1, {"from": staked_provider})
    # Both jobs still hold their collateral.
    assert escrow.getJob(running)["collateral"] + escrow.getJob(waiting)["collateral"] == locked


@pytest.mark.parametrize("slash_bps", [TIMEOUT_SLASH_BPS, BPS])
def test_unstake_just_ahead_of_a_timeout_claim_does_not_escape_the_slash(escrow, staking, token, deployer,
                                                                         staked_provider, client, rando, job_at,
                                                                         slash_bps):
    escrow.setParameter(2, slash_bps, {"from": deployer})
    job_id = job_at(max_gpu_seconds=3600)
    j = escrow.getJob(job_id).dict()
    claimable = j["deadline"] + TIMEOUT_GRACE
    free = PROVIDER_STAKE - j["collateral"]

    # One second before the timeout can be claimed, the provider moves everything it can to unbonding.
    with at(claimable - 1):
        staking.requestUnstake(free, {"from": staked_provider})
    client_before, staking_before = token.balanceOf(client), token.balanceOf(staking)

    with at(claimable):
        tx = escrow.claimTimeout(job_id, {"from": rando})
    slash = j["collateral"] * slash_bps // BPS
    assert tx.events["JobTimedOut"]["slashed"] == slash
    assert token.balanceOf(client) == client_before + j["deposit"] + slash
    assert token.balanceOf(staking) == staking_before - slash
    assert stake_of(staking, staked_provider)[:2] == (j["collateral"] - slash, free)


def test_withdraw_ahead_of_a_timeout_claim_leaves_the_collateral(escrow, staking, token, staked_provider, client,
                                                                 rando, job_at):
    job_id = job_at(max_gpu_seconds=3600, deadline_in=8 * DAY)
    j = escrow.getJob(job_id).dict()
    free = PROVIDER_STAKE - j["collateral"]
    tx = staking.requestUnstake(free, {"from": staked_provider})
    warp(tx.timestamp + UNBONDING_PERIOD)
    provider_before = token.balanceOf(staked_provider)
    staking.withdraw({"from": staked_provider})
    assert token.balanceOf(staked_provider) == provider_before + free  # the free stake, not a token more

    client_before = token.balanceOf(client)
    with at(j["deadline"] + TIMEOUT_GRACE):
        escrow.claimTimeout(job_id, {"from": rando})
    slash = j["collateral"] * TIMEOUT_SLASH_BPS // BPS
    assert token.balanceOf(client) == client_before + j["deposit"] + slash
    assert stake_of(staking, staked_provider)[:2] == (j["collateral"] - slash, 0)


def test_unstake_right_after_settlement_does_not_escape_an_upheld_dispute(escrow, staking, token, staked_provider,
                                                                          client, arbiter, rando, job_at, sign,
                                                                          attest):
    job_id = job_at(max_gpu_seconds=3600)
    r = receipt_for(escrow, job_id, gpu_seconds=3000)
    escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})
    paid = 3000 * PRICE

    # The job's dispute reserve (raised at settlement to what it paid) stays locked for its dispute window; the
    # provider unstakes all the rest at once.
    coll = paid
    assert escrow.unstakeBlockers(staked_provider)[0] == coll
    with brownie.reverts(insufficient(staked_provider, PROVIDER_STAKE - coll, PROVIDER_STAKE)):
        staking.requestUnstake(PROVIDER_STAKE, {"from": staked_provider})
    staking.requestUnstake(PROVIDER_STAKE - coll, {"from": staked_provider})
    assert stake_of(staking, staked_provider)[:2] == (coll, PROVIDER_STAKE - coll)

    escrow.dispute(job_id, b"\x01" * 32, {"from": client})
    # The reserve is locked and the rest of the slash is frozen: nothing more can start unbonding.
    assert escrow.unstakeBlockers(staked_provider)[3] == 3600 * PRICE - paid
    with brownie.reverts(insufficient(staked_provider, 0, 1)):
        staking.requestUnstake(1, {"from": staked_provider})
    client_before = token.balanceOf(client)
    tx = escrow.resolveDispute(job_id, True, {"from": arbiter})
    slash = escrow.getJob(job_id)["deposit"]  # 100% of the job's deposit
    assert tx.events["DisputeResolved"]["slashed"] == slash
    assert token.balanceOf(client) == client_before + paid + DISPUTE_BOND
    bonded, unbonding, release_at, jailed = stake_of(staking, staked_provider)
    assert (bonded, unbonding, jailed) == (0, PROVIDER_STAKE - slash, True)

    warp(release_at)
    before = token.balanceOf(staked_provider)
    staking.withdraw({"from": staked_provider})
    assert token.balanceOf(staked_provider) == before + PROVIDER_STAKE - slash


def test_stake_unbonding_when_a_job_settles_stays_until_its_dispute_window_closes(escrow, staking, token,
                                                                                  staked_provider, client, arbiter,
                                                                                  rando, job_at, sign, attest):
    job_id = job_at(max_gpu_seconds=3600, deadline_in=8 * DAY)
    coll = escrow.getJob(job_id)["collateral"]
    free = PROVIDER_STAKE - coll
    t0 = staking.requestUnstake(free, {"from": staked_provider}).timestamp
    release_at = t0 + UNBONDING_PERIOD

    # The job settles one hour before the unbonding ends: its dispute window outlasts the unbonding by 23 hours.
    r = receipt_for(escrow, job_id, gpu_seconds=3000, advance=False)
    with at(release_at - HOUR):
        tx = escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})
    settled_at = tx.timestamp
    disputable_until = settled_at + DISPUTE_WINDOW
    assert escrow.unstakeBlockers(staked_provider)[2] == disputable_until

    with at(release_at), brownie.reverts(window_open(staked_provider, disputable_until, release_at)):
        staking.withdraw({"from": staked_provider})

    # The client disputes in the window's last hour. The ruling needs more than the reserve and the free stake is
    # gone, so the unbonding stake stays and nothing more may start unbonding.
    with at(disputable_until - HOUR):
        escrow.dispute(job_id, b"\x02" * 32, {"from": client})
    warp(disputable_until + DAY)
    frozen = escrow.getJob(job_id)["deposit"] - coll
    with brownie.reverts(frozen_err(staked_provider, frozen, 0)):
        staking.withdraw({"from": staked_provider})
    with brownie.reverts(insufficient(staked_provider, 0, 1)):
        staking.requestUnstake(1, {"from": staked_provider})

    paid = 3000 * PRICE
    withheld = escrow.withheldPay(job_id)  # no free stake at settlement: the pay beyond the collateral waits here
    assert withheld == paid - coll
    client_before = token.balanceOf(client)
    escrow.resolveDispute(job_id, True, {"from": arbiter})
    assert escrow.getJob(job_id)["status"] == UPHELD
    assert token.balanceOf(client) == client_before + paid + DISPUTE_BOND
    # The slash (100% of the job's deposit) took the unlocked collateral, then the withheld pay, then reached the
    # unbonding stake.
    slash = escrow.getJob(job_id)["deposit"]
    assert slash > coll + withheld
    assert stake_of(staking, staked_provider)[:2] == (0, free - (slash - coll - withheld))
    before = token.balanceOf(staked_provider)
    staking.withdraw({"from": staked_provider})
    assert token.balanceOf(staked_provider) == before + free - (slash - coll - withheld)


def test_unbonded_stake_waits_for_the_last_settlement_to_become_undisputable(escrow, staking, token,
                                                                             staked_provider, rando, job_at, sign,
                                                                             attest):
    t0 = staking.requestUnstake(1000 * 10**18, {"from": staked_provider}).timestamp
    job_id = job_at(max_gpu_seconds=3600, deadline_in=8 * DAY)
    r = receipt_for(escrow, job_id, gpu_seconds=1000, advance=False)
    with at(t0 + UNBONDING_PERIOD - 1):
        settled_at = escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando}).timestamp
    until = settled_at + DISPUTE_WINDOW
    # the last second a dispute can still be raised
    with at(until), brownie.reverts(window_open(staked_provider, until, until)):
        staking.withdraw({"from": staked_provider})
    before = token.balanceOf(staked_provider)
    with at(until + 1):
        staking.withdraw({"from": staked_provider})
    assert token.balanceOf(staked_provider) == before + 1000 * 10**18


def test_an_open_dispute_holds_back_only_what_its_ruling_can_slash(escrow, staking, token, staked_provider, client,
                                                                    arbiter, rando, job_at, sign, attest):
    """Issue 8, lower finding 1 (was: an open dispute blocked every withdraw and unstake until a ruling)."""
    t0 = staking.requestUnstake(1000 * 10**18, {"from": staked_provider}).timestamp
    job_id = job_at(max_gpu_seconds=3600)
    r = receipt_for(escrow, job_id, gpu_seconds=1000)
    escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})
    escrow.dispute(job_id, b"\x03" * 32, {"from": client})
    warp(max(t0 + UNBONDING_PERIOD, now() + DISPUTE_WINDOW) + 1)  # released, and the window itself is over

    # The free stake covers the frozen 2,600 GPU-seconds' worth: the unbonded stake leaves.
    before = token.balanceOf(staked_provider)
    staking.withdraw({"from": staked_provider})
    assert token.balanceOf(staked_provider) == before + 1000 * 10**18
    reserve, frozen = 1000 * PRICE, 2600 * PRICE
    free = PROVIDER_STAKE - 1000 * 10**18 - reserve - frozen
    with brownie.reverts(insufficient(staked_provider, free, free + 1)):
        staking.requestUnstake(free + 1, {"from": staked_provider})
    staking.requestUnstake(free, {"from": staked_provider})
    tx = escrow.resolveDispute(job_id, True, {"from": arbiter})
    assert tx.events["DisputeResolved"]["slashed"] == 3600 * PRICE
    assert stake_of(staking, staked_provider)[0] == 0


def test_unstake_just_ahead_of_a_fraud_report_does_not_escape_the_slash(escrow, staking, token, staked_provider,
                                                                        client, arbiter, job_at):
    job_id = job_at(max_gpu_seconds=36_000)
    j = escrow.getJob(job_id).dict()
    free = PROVIDER_STAKE - j["collateral"]
    staking.requestUnstake(free, {"from": staked_provider})
    client_before = token.balanceOf(client)

    tx = escrow.reportFraud(job_id, b"\xee" * 32, {"from": arbiter})
    slash = j["deposit"]  # dispute slash: 100% of the deposit for fraud
    assert tx.events["FraudReported"]["slashed"] == slash
    assert token.balanceOf(client) == client_before + j["deposit"] + slash
    assert stake_of(staking, staked_provider)[:2] == (0, free - (slash - j["collateral"]))
    assert stake_of(staking, staked_provider)[3] is True


def test_withdraw_ahead_of_a_fraud_report_leaves_the_collateral(escrow, staking, token, staked_provider, client,
                                                                arbiter, job_at):
    job_id = job_at(max_gpu_seconds=36_000, deadline_in=30 * DAY)
    j = escrow.getJob(job_id).dict()
    free = PROVIDER_STAKE - j["collateral"]
    tx = staking.requestUnstake(free, {"from": staked_provider})
    warp(tx.timestamp + UNBONDING_PERIOD)
    staking.withdraw({"from": staked_provider})
    client_before = token.balanceOf(client)

    tx = escrow.reportFraud(job_id, b"\xee" * 32, {"from": arbiter})
    # All that is left is the collateral, and the slash takes all of it.
    assert tx.events["FraudReported"]["slashed"] == j["collateral"]
    assert token.balanceOf(client) == client_before + j["deposit"] + j["collateral"]
    assert stake_of(staking, staked_provider)[:2] == (0, 0)
