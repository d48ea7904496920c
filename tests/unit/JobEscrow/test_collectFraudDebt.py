"""reportFraud's shortfall and collectFraudDebt: what a fraud report's slash cannot take (the provider's stake locked
for other work) becomes the job's fraud debt, frozen like an open dispute's slash, and anyone collects it for the
job's client as soon as stake is free (outside review of 2026-12-03)."""

import brownie

from tests.fixtures.contracts import COLLATERAL_BPS, PRICE, PROVIDER_STAKE

from .conftest import BPS, DAY, err, expect_event, no_event

EVIDENCE = b"\xee" * 32


def _lock_all_free_stake(escrow, staking, job, staked_provider, rando, token, client):
    """A second client's unaccepted job whose collateral locks every free token (as a shield would)."""
    free = staking.stakeOf(staked_provider)[0] - escrow.providerRecord(staked_provider)["lockedCollateral"]
    token.transfer(rando, token.balanceOf(client) // 2, {"from": client})
    gpu_seconds = int(free) * BPS // COLLATERAL_BPS // PRICE
    return job(max_gpu_seconds=gpu_seconds, sender=rando, accept=False)


def test_a_shortfall_is_recorded_frozen_and_collected_for_the_client(
    escrow, token, staking, job, client, arbiter, staked_provider, rando
):
    job_id = job(max_gpu_seconds=3600)
    deposit = 3600 * PRICE
    collateral = deposit * COLLATERAL_BPS // BPS
    shield = _lock_all_free_stake(escrow, staking, job, staked_provider, rando, token, client)
    tx = escrow.reportFraud(job_id, EVIDENCE, {"from": arbiter})
    expect_event(tx, "FraudReported", jobId=job_id, evidenceHash=EVIDENCE, slashed=collateral,
                 compensation=collateral)  # fmt: skip
    owed = deposit - collateral
    expect_event(tx, "FraudDebtRecorded", jobId=job_id, provider=staked_provider, owed=owed)
    assert escrow.fraudDebt(job_id) == owed
    blockers = escrow.unstakeBlockers(staked_provider)
    assert blockers[1] == 1 and blockers[3] == owed  # frozen, counted like an open dispute's slash
    assert escrow.providerRecord(staked_provider)["openDisputes"] == 0  # the record counts disputes only

    # Nothing is free while the other job holds the stake: nothing to collect, nothing changes.
    with brownie.reverts(err("JobEscrowFraudDebtNotCollectable(uint256,address,uint256)", job_id, staked_provider,
                             owed)):  # fmt: skip
        escrow.collectFraudDebt(job_id, {"from": rando})

    escrow.cancelJob(shield, {"from": rando})
    bonded = staking.stakeOf(staked_provider)[0]
    # The freed stake is frozen: it cannot be unstaked beyond what the debt leaves.
    free_now = bonded - escrow.providerRecord(staked_provider)["lockedCollateral"]
    with brownie.reverts(err("ProviderStakingInsufficientFreeStake(address,uint256,uint256)", staked_provider,
                             free_now - owed, free_now)):  # fmt: skip
        staking.requestUnstake(free_now, {"from": staked_provider})

    before = token.balanceOf(client)
    tx = escrow.collectFraudDebt(job_id, {"from": rando})
    expect_event(tx, "FraudDebtCollected", jobId=job_id, client=client, slashed=owed, owed=0)
    expect_event(tx, "Slashed", provider=staked_provider, requested=owed, amount=owed, recipient=client)
    assert token.balanceOf(client) == before + owed
    assert staking.stakeOf(staked_provider)[0] == bonded - owed
    assert escrow.fraudDebt(job_id) == 0
    assert tuple(escrow.unstakeBlockers(staked_provider))[1::2] == (0, 0)
    with brownie.reverts(err("JobEscrowNoFraudDebt(uint256)", job_id)):
        escrow.collectFraudDebt(job_id, {"from": rando})


def test_no_shortfall_records_no_debt(escrow, job, arbiter, staked_provider, rando):
    job_id = job(max_gpu_seconds=3600)
    tx = escrow.reportFraud(job_id, EVIDENCE, {"from": arbiter})
    no_event(tx, "FraudDebtRecorded")
    assert escrow.fraudDebt(job_id) == 0 and escrow.unstakeBlockers(staked_provider)[1] == 0
    with brownie.reverts(err("JobEscrowNoFraudDebt(uint256)", job_id)):
        escrow.collectFraudDebt(job_id, {"from": rando})
    with brownie.reverts(err("JobEscrowNoFraudDebt(uint256)", 999)):
        escrow.collectFraudDebt(999, {"from": rando})


def test_collection_is_partial_while_stake_is_short(
    escrow, token, staking, job, client, arbiter, staked_provider, rando
):
    # A job whose collateral is the provider's whole stake: the report's slash finds nothing beyond it.
    gpu_seconds = PROVIDER_STAKE * BPS // COLLATERAL_BPS // PRICE
    job_id = job(max_gpu_seconds=gpu_seconds)
    deposit = gpu_seconds * PRICE
    tx = escrow.reportFraud(job_id, EVIDENCE, {"from": arbiter})
    owed = deposit - PROVIDER_STAKE
    assert tx.events["FraudReported"]["slashed"] == PROVIDER_STAKE and escrow.fraudDebt(job_id) == owed
    with brownie.reverts(err("JobEscrowFraudDebtNotCollectable(uint256,address,uint256)", job_id, staked_provider,
                             owed)):  # fmt: skip
        escrow.collectFraudDebt(job_id, {"from": rando})
    # New stake is frozen by the debt at once (it cannot be unstaked) and collected.
    top_up = owed // 4
    token.approve(staking, top_up, {"from": staked_provider})
    staking.stake(top_up, {"from": staked_provider})
    with brownie.reverts(err("ProviderStakingInsufficientFreeStake(address,uint256,uint256)", staked_provider, 0,
                             top_up)):  # fmt: skip
        staking.requestUnstake(top_up, {"from": staked_provider})
    before = token.balanceOf(client)
    tx = escrow.collectFraudDebt(job_id, {"from": rando})
    expect_event(tx, "FraudDebtCollected", jobId=job_id, client=client, slashed=top_up, owed=owed - top_up)
    assert token.balanceOf(client) == before + top_up
    assert tuple(int(x) for x in staking.stakeOf(staked_provider)[:2]) == (0, 0)
    assert escrow.fraudDebt(job_id) == owed - top_up == escrow.unstakeBlockers(staked_provider)[3]


def test_a_debt_keeps_new_collateral_off_the_frozen_stake(
    escrow, token, staking, job, client, arbiter, staked_provider, rando
):
    job_id = job(max_gpu_seconds=3600)
    shield = _lock_all_free_stake(escrow, staking, job, staked_provider, rando, token, client)
    escrow.reportFraud(job_id, EVIDENCE, {"from": arbiter})
    owed = escrow.fraudDebt(job_id)
    escrow.cancelJob(shield, {"from": rando})
    free = staking.stakeOf(staked_provider)[0] - escrow.providerRecord(staked_provider)["lockedCollateral"]
    # Jailed by the report, the provider takes no new work anyway; the frozen sum is what createJob would refuse.
    assert escrow.unstakeBlockers(staked_provider)[3] == owed <= free


def test_a_debt_does_not_keep_a_held_timeout_slash_waiting(
    escrow, token, staking, job, client, arbiter, staked_provider, rando, chain
):
    """A fraud debt counts as an open dispute for the freeze, not for the hold: no ruling draws on it."""
    timed_out = job(max_gpu_seconds=3600, deadline_in=DAY)
    fraud = job(max_gpu_seconds=3600)
    shield = _lock_all_free_stake(escrow, staking, job, staked_provider, rando, token, client)
    escrow.reportFraud(fraud, EVIDENCE, {"from": arbiter})
    assert escrow.fraudDebt(fraud) > 0
    escrow.cancelJob(shield, {"from": rando})
    chain.sleep(2 * DAY)
    tx = escrow.claimTimeout(timed_out, {"from": client})
    # No dispute is open and nothing was settled: the timeout slash is paid at once, not held.
    no_event(tx, "TimeoutSlashHeld")
    assert escrow.heldSlashes(staked_provider)[0] == 0
