"""reportFraud's shortfall and collectFraudDebt (outside review of 2026-12-03): what a fraud report's slash cannot take
(the provider's stake locked for other work, or owed for earlier fraud) becomes the job's fraud debt. While owed it is
frozen like an open dispute's slash, every other slash of the provider leaves it in place, and anyone collects it
for the defrauded clients, oldest first, as stake frees up."""

import brownie

from tests.fixtures.contracts import COLLATERAL_BPS, ESCROW_PARAMS, PRICE, PROVIDER_STAKE, TIMEOUT_SLASH_BPS
from tests.helpers.revert import unauthorized

from .conftest import BPS, DAY, err, expect_event, no_event

EVIDENCE = b"\xee" * 32
NOT_COLLECTABLE = "JobEscrowFraudDebtNotCollectable(address,uint256)"
NO_DEBT = "JobEscrowNoFraudDebt(address)"


def _free(escrow, staking, provider):
    return int(staking.stakeOf(provider)[0]) - int(escrow.providerRecord(provider)["lockedCollateral"])


def _lock_all_free_stake(escrow, staking, job, staked_provider, rando, token, client):
    """A second client's unaccepted job whose collateral locks every free token (as a shield would)."""
    token.transfer(rando, token.balanceOf(client) // 2, {"from": client})
    gpu_seconds = _free(escrow, staking, staked_provider) * BPS // COLLATERAL_BPS // PRICE
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
    expect_event(tx, "FraudDebtRecorded", jobId=job_id, provider=staked_provider, amount=owed, providerOwes=owed)
    assert escrow.fraudDebt(job_id) == owed
    assert tuple(escrow.fraudDebtOf(staked_provider)) == (owed, 1)
    blockers = escrow.unstakeBlockers(staked_provider)
    assert blockers[1] == 1 and blockers[3] == owed  # frozen, counted like an open dispute's slash
    assert escrow.providerRecord(staked_provider)["openDisputes"] == 0  # the record counts disputes only

    # Nothing is free while the other job holds the stake: nothing to collect, nothing changes.
    with brownie.reverts(err(NOT_COLLECTABLE, staked_provider, owed)):
        escrow.collectFraudDebt(staked_provider, {"from": rando})

    escrow.cancelJob(shield, {"from": rando})
    bonded = staking.stakeOf(staked_provider)[0]
    # The freed stake is frozen: it cannot be unstaked beyond what the debt leaves.
    free_now = _free(escrow, staking, staked_provider)
    with brownie.reverts(err("ProviderStakingInsufficientFreeStake(address,uint256,uint256)", staked_provider,
                             free_now - owed, free_now)):  # fmt: skip
        staking.requestUnstake(free_now, {"from": staked_provider})

    before = token.balanceOf(client)
    tx = escrow.collectFraudDebt(staked_provider, {"from": rando})
    expect_event(tx, "FraudDebtCollected", jobId=job_id, provider=staked_provider, amount=owed, remaining=0)
    expect_event(tx, "Slashed", provider=staked_provider, requested=owed, amount=owed, recipient=escrow)
    assert tx.return_value == owed
    assert token.balanceOf(client) == before + owed
    assert staking.stakeOf(staked_provider)[0] == bonded - owed
    assert escrow.fraudDebt(job_id) == 0 and tuple(escrow.fraudDebtOf(staked_provider)) == (0, 0)
    assert tuple(escrow.unstakeBlockers(staked_provider))[1::2] == (0, 0)
    with brownie.reverts(err(NO_DEBT, staked_provider)):
        escrow.collectFraudDebt(staked_provider, {"from": rando})
    staking.requestUnstake(_free(escrow, staking, staked_provider), {"from": staked_provider})  # nothing frozen


def test_no_shortfall_records_no_debt(escrow, job, arbiter, staked_provider, rando):
    job_id = job(max_gpu_seconds=3600)
    tx = escrow.reportFraud(job_id, EVIDENCE, {"from": arbiter})
    no_event(tx, "FraudDebtRecorded")
    assert escrow.fraudDebt(job_id) == 0 and escrow.unstakeBlockers(staked_provider)[1] == 0
    with brownie.reverts(err(NO_DEBT, staked_provider)):
        escrow.collectFraudDebt(staked_provider, {"from": rando})
    with brownie.reverts(err(NO_DEBT, rando)):
        escrow.collectFraudDebt(rando, {"from": rando})


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
    with brownie.reverts(err(NOT_COLLECTABLE, staked_provider, owed)):
        escrow.collectFraudDebt(staked_provider, {"from": rando})
    # New stake is frozen by the debt at once (it cannot be unstaked) and collected.
    top_up = owed // 4
    token.approve(staking, top_up, {"from": staked_provider})
    staking.stake(top_up, {"from": staked_provider})
    with brownie.reverts(err("ProviderStakingInsufficientFreeStake(address,uint256,uint256)", staked_provider, 0,
                             top_up)):  # fmt: skip
        staking.requestUnstake(top_up, {"from": staked_provider})
    before = token.balanceOf(client)
    tx = escrow.collectFraudDebt(staked_provider, {"from": rando})
    expect_event(tx, "FraudDebtCollected", jobId=job_id, provider=staked_provider, amount=top_up,
                 remaining=owed - top_up)  # fmt: skip
    assert token.balanceOf(client) == before + top_up
    assert tuple(int(x) for x in staking.stakeOf(staked_provider)[:2]) == (0, 0)
    assert escrow.fraudDebt(job_id) == owed - top_up == escrow.unstakeBlockers(staked_provider)[3]


def test_debts_are_collected_oldest_first_and_a_later_report_leaves_the_earlier_debt(
    escrow, token, staking, job, client, client2, arbiter, staked_provider, rando
):
    """Two defrauded clients: the second report's slash takes its own job's collateral (it backed that job) and then
    leaves the stake the first debt is owed; one collection pays the first debt in full, then the second."""
    first = job(max_gpu_seconds=3600)
    token.approve(escrow, 2**256 - 1, {"from": client2})
    second = job(max_gpu_seconds=3600, sender=client2)
    shield = _lock_all_free_stake(escrow, staking, job, staked_provider, rando, token, client)
    deposit = 3600 * PRICE
    collateral = deposit * COLLATERAL_BPS // BPS
    escrow.reportFraud(first, EVIDENCE, {"from": arbiter})
    owed1 = deposit - collateral
    assert escrow.fraudDebt(first) == owed1
    tx = escrow.reportFraud(second, EVIDENCE, {"from": arbiter})
    # The second job's own collateral backs its report; nothing beyond it is free of the first debt.
    assert tx.events["FraudReported"]["slashed"] == collateral
    owed2 = deposit - collateral
    expect_event(tx, "FraudDebtRecorded", jobId=second, provider=staked_provider, amount=owed2,
                 providerOwes=owed1 + owed2)  # fmt: skip
    assert tuple(escrow.fraudDebtOf(staked_provider)) == (owed1 + owed2, 2)
    assert escrow.unstakeBlockers(staked_provider)[1] == 1  # the debts count once, whatever their number

    escrow.cancelJob(shield, {"from": rando})
    b1, b2 = token.balanceOf(client), token.balanceOf(client2)
    tx = escrow.collectFraudDebt(staked_provider, {"from": rando})
    got = [(e["jobId"], e["amount"], e["remaining"]) for e in tx.events["FraudDebtCollected"]]
    assert got == [(first, owed1, 0), (second, owed2, 0)]
    assert token.balanceOf(client) - b1 == owed1 and token.balanceOf(client2) - b2 == owed2


def test_a_partial_collection_pays_the_oldest_debt_first(
    escrow, token, staking, job, client, client2, arbiter, staked_provider, rando
):
    gpu_seconds = PROVIDER_STAKE * BPS // COLLATERAL_BPS // PRICE // 2  # half the stake each
    first = job(max_gpu_seconds=gpu_seconds)
    token.approve(escrow, 2**256 - 1, {"from": client2})
    second = job(max_gpu_seconds=gpu_seconds, sender=client2)
    escrow.reportFraud(first, EVIDENCE, {"from": arbiter})
    escrow.reportFraud(second, EVIDENCE, {"from": arbiter})
    owed1, owed2 = escrow.fraudDebt(first), escrow.fraudDebt(second)
    assert owed1 > 0 and owed2 > 0
    top_up = owed1 + owed2 // 3
    token.approve(staking, top_up, {"from": staked_provider})
    staking.stake(top_up, {"from": staked_provider})
    tx = escrow.collectFraudDebt(staked_provider, {"from": rando})
    got = [(e["jobId"], e["amount"], e["remaining"]) for e in tx.events["FraudDebtCollected"]]
    to_second = tx.return_value - owed1
    assert 0 < to_second < owed2
    assert got == [(first, owed1, 0), (second, to_second, owed2 - to_second)]
    assert tuple(escrow.fraudDebtOf(staked_provider)) == (owed2 - to_second, 1)


def test_collection_takes_unbonding_stake_after_free_stake(
    escrow, token, staking, job, client, arbiter, staked_provider, rando
):
    job_id = job(max_gpu_seconds=3600)
    shield = _lock_all_free_stake(escrow, staking, job, staked_provider, rando, token, client)
    escrow.reportFraud(job_id, EVIDENCE, {"from": arbiter})
    owed = escrow.fraudDebt(job_id)
    escrow.cancelJob(shield, {"from": rando})
    # Only what the debt leaves may be unstaked; it stays liable while unbonding.
    leave = _free(escrow, staking, staked_provider) - owed
    staking.requestUnstake(leave, {"from": staked_provider})
    tx = escrow.collectFraudDebt(staked_provider, {"from": rando})
    assert tx.return_value == owed
    assert int(staking.stakeOf(staked_provider)[1]) == leave  # the bonded stake covered the debt first


def test_a_timeout_slash_takes_its_own_collateral_before_the_debt(
    escrow, token, staking, job, client, arbiter, staked_provider, rando, chain
):
    """A job accepted before the report times out while the debt is owed and nothing else is free: its slash comes
    from its own collateral (locked for that client's work, no debt may take it first); the rest of that collateral
    goes to the debt once collected (attack review of the fraud debt, round 2)."""
    timed_out = job(max_gpu_seconds=3600, deadline_in=DAY)
    fraud = job(max_gpu_seconds=3600)
    shield = _lock_all_free_stake(escrow, staking, job, staked_provider, rando, token, client)
    escrow.reportFraud(fraud, EVIDENCE, {"from": arbiter})
    owed = escrow.fraudDebt(fraud)
    chain.sleep(2 * DAY)
    collateral = 3600 * PRICE * COLLATERAL_BPS // BPS
    tx = escrow.claimTimeout(timed_out, {"from": client})
    assert tx.events["JobTimedOut"]["slashed"] == collateral * TIMEOUT_SLASH_BPS // BPS
    # Only the rest of that collateral is free now, and the debt takes it.
    got = escrow.collectFraudDebt(staked_provider, {"from": rando}).return_value
    assert got == collateral - collateral * TIMEOUT_SLASH_BPS // BPS < owed
    escrow.cancelJob(shield, {"from": rando})
    assert escrow.collectFraudDebt(staked_provider, {"from": rando}).return_value == owed - got


def test_a_debt_does_not_keep_a_held_timeout_slash_waiting(
    escrow, token, staking, job, client, arbiter, staked_provider, rando, chain
):
    """The debt counts as an open dispute for the freeze, not for the hold: the timeout slash (taken beyond the
    debt) is paid at once when no dispute is open and nothing settled is disputable."""
    timed_out = job(max_gpu_seconds=3600, deadline_in=DAY)
    fraud = job(max_gpu_seconds=3600)
    shield = _lock_all_free_stake(escrow, staking, job, staked_provider, rando, token, client)
    escrow.reportFraud(fraud, EVIDENCE, {"from": arbiter})
    assert escrow.fraudDebt(fraud) > 0
    escrow.cancelJob(shield, {"from": rando})
    chain.sleep(2 * DAY)
    before = token.balanceOf(client)
    tx = escrow.claimTimeout(timed_out, {"from": client})
    no_event(tx, "TimeoutSlashHeld")
    slash = 3600 * PRICE * COLLATERAL_BPS // BPS * TIMEOUT_SLASH_BPS // BPS
    assert tx.events["JobTimedOut"]["slashed"] == slash
    assert token.balanceOf(client) - before == 3600 * PRICE + slash
    assert escrow.heldSlashes(staked_provider)[0] == 0


def test_the_desk_initializer_runs_once_and_only_on_its_own_storage(
    escrow, token, staking, deployer, guardian, arbiter, treasury, rando, oracle
):
    """The constructor sets roles, parameters and oracles through the desk's code (by delegatecall). JobEscrow
    forwards no such call afterwards, and on a desk called directly the initializer runs once, on the desk's own
    unused storage."""
    sig = "initialize(address,address,address,address[],uint8,uint256[8])"
    data = brownie.web3.keccak(text=sig)[:4].hex().removeprefix("0x")
    with brownie.reverts():
        rando.transfer(escrow, 0, data="0x" + data + "00" * 32 * 14)
    desk = brownie.JobEscrowDesk.deploy(token, staking, {"from": rando})
    args = (treasury, guardian, arbiter, [oracle], 1, ESCROW_PARAMS)
    desk.initialize(*args, {"from": rando})
    with brownie.reverts(unauthorized(rando, "constructor")):
        desk.initialize(*args, {"from": rando})
    assert escrow.roles() == (treasury, guardian, arbiter)
