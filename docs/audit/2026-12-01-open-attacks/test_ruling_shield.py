"""Attack (audit after issue 8): a provider keeps slashable stake out of a pending ruling by locking it as
collateral of a job it opens on its own offer from a second wallet, then cancels that job after the ruling.

`_penalize` (resolveDispute, reportFraud) slashes with keepBonded = everything locked, and createJob locks
collateral from free stake with no regard to open disputes. An Open job is never accepted, so nobody's work is
protected; the collateral only shields the provider's stake from the ruling. The client that won the dispute gets
the settled job's reserve (20% of its deposit) instead of what it paid.
"""


from tests.fixtures.contracts import COLLATERAL_BPS, DISPUTE_BOND, PRICE, UNBONDING_PERIOD
from tests.fixtures.jobs import SPEC_HASH

from .conftest import BPS, DAY, GPU_COUNT, MAX_U256, UPHELD, now, receipt_for, warp

BIG = 4_000_000  # GPU-seconds: a 4,000-token job, 800 tokens of collateral


def open_job(escrow, token, sender, max_gpu_seconds, deadline):
    if token.allowance(sender, escrow) < 2**255:
        token.approve(escrow, MAX_U256, {"from": sender})
    return escrow.createJob(1, max_gpu_seconds, deadline, SPEC_HASH, GPU_COUNT, PRICE, {"from": sender})


def settled_false_job(escrow, token, client, worker, rando, sign, attest):
    job = open_job(escrow, token, client, BIG, now() + 20 * DAY).events["JobCreated"]["jobId"]
    escrow.acceptJob(job, {"from": worker})
    r = receipt_for(escrow, job, gpu_seconds=BIG)  # 4 GPUs x 1,000,000 s; the client says the work was false
    escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})
    return job


def test_second_wallet_job_shields_stake_from_the_ruling(escrow, staking, token, staked_provider, client, rando,
                                                         worker, arbiter, sign, attest, accounts):
    provider = staked_provider
    wallet = accounts[9]  # the provider's second wallet: not its staking wallet, not its worker key
    token.transfer(wallet, 100_000 * 10**18, {"from": rando})
    a_job = settled_false_job(escrow, token, client, worker, rando, sign, attest)
    paid = escrow.getJob(a_job)["billedGpuSeconds"] * PRICE
    assert paid == 4_000 * 10**18
    escrow.dispute(a_job, b"\x01" * 32, {"from": client})

    # The dispute is open. The provider's second wallet opens a job (never accepted) whose collateral is all the
    # free stake. Nothing refuses it.
    bonded = staking.stakeOf(provider)[0]
    free = bonded - escrow.unstakeBlockers(provider)[0]
    max_s = free * BPS // COLLATERAL_BPS // PRICE
    shield = open_job(escrow, token, wallet, max_s, now() + 7 * DAY).events["JobCreated"]["jobId"]
    assert escrow.unstakeBlockers(provider)[0] == bonded  # everything is locked now

    # The arbiter upholds: the slash (100% of the deposit) finds only the disputed job's own reserve.
    client_before = token.balanceOf(client)
    tx = escrow.resolveDispute(a_job, True, {"from": arbiter})
    assert escrow.getJob(a_job)["status"] == UPHELD
    reserve = -(-paid * COLLATERAL_BPS // BPS)
    assert tx.events["DisputeResolved"]["slashed"] == reserve  # 800, not 4,000
    assert token.balanceOf(client) - client_before == reserve + DISPUTE_BOND  # the client lost 3,200 of 4,000

    # The second wallet cancels its job and gets its whole deposit back; the stake is free again.
    w_before = token.balanceOf(wallet)
    deposit = escrow.getJob(shield)["deposit"]
    escrow.cancelJob(shield, {"from": wallet})
    assert token.balanceOf(wallet) - w_before == deposit
    kept = staking.stakeOf(provider)[0]
    assert kept == bonded - reserve  # only the disputed job's own reserve was slashed: the 9,200 free stake stayed
    assert escrow.unstakeBlockers(provider)[0] == 0

    # And the provider (jailed, but jailing does not stop unstaking) leaves with all of it.
    staking.requestUnstake(kept, {"from": provider})
    warp(now() + UNBONDING_PERIOD + 1)
    p_before = token.balanceOf(provider)
    staking.withdraw({"from": provider})
    assert token.balanceOf(provider) - p_before == kept
    escrow.withdrawEarnings({"from": provider})  # and the 3,900 of earnings from the false receipt


def test_front_running_the_ruling_is_enough(escrow, staking, token, staked_provider, client, rando, worker,
                                            arbiter, sign, attest, accounts):
    """Same, with the shield opened only when the arbiter's ruling is seen in the mempool (same block order):
    the provider needs no foresight, only a deposit 5x its free stake for one block."""
    provider = staked_provider
    wallet = accounts[9]
    token.transfer(wallet, 100_000 * 10**18, {"from": rando})
    a_job = settled_false_job(escrow, token, client, worker, rando, sign, attest)
    escrow.dispute(a_job, b"\x01" * 32, {"from": client})
    warp(now() + 12 * 3600)  # the ruling comes hours later
    free = staking.stakeOf(provider)[0] - escrow.unstakeBlockers(provider)[0]
    shield = open_job(escrow, token, wallet, free * BPS // COLLATERAL_BPS // PRICE, now() + 7 * DAY)
    tx = escrow.resolveDispute(a_job, True, {"from": arbiter})
    escrow.cancelJob(shield.events["JobCreated"]["jobId"], {"from": wallet})
    assert tx.events["DisputeResolved"]["slashed"] == 800 * 10**18
    assert staking.stakeOf(provider)[0] == 10_000 * 10**18 - 800 * 10**18
