"""Attack (outside audit after issue 8, high): a provider keeps slashable stake out of a pending ruling by locking
it as collateral of a job it opens on its own offer from a second wallet, then cancels that job after the ruling.

What must hold (docs/PROTOCOL.md, "No way out of a pending ruling"): a ruling takes the provider's free stake,
then its unbonding stake, then held timeout slashes, and only then collateral locked for jobs; nothing the
provider locks after the settlement can shield its stake from the ruling. The upheld client gets back what it
paid; the shield job's cancellation returns its deposit and nothing of the slashed stake.
"""

from tests.fixtures.contracts import COLLATERAL_BPS, DISPUTE_BOND, PRICE, PROVIDER_STAKE
from tests.fixtures.jobs import SPEC_HASH
from tests.helpers.limits import limits

from .conftest import BPS, DAY, MAX_U256, UPHELD, now, receipt_for, warp

BIG = 4_000_000  # GPU-seconds: a 4,000-token job, 800 tokens of collateral
PAID = 4_000 * 10**18


def open_job(escrow, token, sender, max_gpu_seconds, deadline):
    if token.allowance(sender, escrow) < 2**255:
        token.approve(escrow, MAX_U256, {"from": sender})
    return escrow.createJob(1, max_gpu_seconds, deadline, SPEC_HASH, *limits(escrow, 1), {"from": sender})


def settled_false_job(escrow, token, client, worker, rando, sign, attest):
    job = open_job(escrow, token, client, BIG, now() + 20 * DAY).events["JobCreated"]["jobId"]
    escrow.acceptJob(job, {"from": worker})
    r = receipt_for(escrow, job, gpu_seconds=BIG)  # 4 GPUs x 1,000,000 s; the client says the work was false
    escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})
    return job


def test_second_wallet_job_does_not_shield_stake_from_the_ruling(escrow, staking, token, staked_provider, client,
                                                                  rando, worker, arbiter, sign, attest, accounts):
    provider = staked_provider
    wallet = accounts[9]  # the provider's second wallet: not its staking wallet, not its worker key
    token.transfer(wallet, 100_000 * 10**18, {"from": rando})
    a_job = settled_false_job(escrow, token, client, worker, rando, sign, attest)
    assert escrow.getJob(a_job)["billedGpuSeconds"] * PRICE == PAID
    escrow.dispute(a_job, b"\x01" * 32, {"from": client})

    # The dispute is open. The second wallet opens a job (never accepted) whose collateral is all the free stake.
    bonded = staking.stakeOf(provider)[0]
    free = bonded - escrow.unstakeBlockers(provider)[0]
    max_s = free * BPS // COLLATERAL_BPS // PRICE
    shield = open_job(escrow, token, wallet, max_s, now() + 7 * DAY).events["JobCreated"]["jobId"]

    # The arbiter upholds: the ruling takes the whole slash (100% of the deposit), not just the job's reserve.
    client_before = token.balanceOf(client)
    tx = escrow.resolveDispute(a_job, True, {"from": arbiter})
    assert escrow.getJob(a_job)["status"] == UPHELD
    assert tx.events["DisputeResolved"]["slashed"] == PAID
    assert token.balanceOf(client) - client_before == PAID + DISPUTE_BOND

    # The wallet cancels and gets back its deposit only; the slashed stake stays slashed.
    w_before = token.balanceOf(wallet)
    deposit = escrow.getJob(shield)["deposit"]
    escrow.cancelJob(shield, {"from": wallet})
    assert token.balanceOf(wallet) - w_before == deposit
    kept = staking.stakeOf(provider)[0]
    assert kept == PROVIDER_STAKE - PAID
    assert escrow.unstakeBlockers(provider)[0] == 0
    staking.requestUnstake(kept, {"from": provider})
    warp(now() + 8 * DAY)
    p_before = token.balanceOf(provider)
    staking.withdraw({"from": provider})
    assert token.balanceOf(provider) - p_before == PROVIDER_STAKE - PAID


def test_front_running_the_ruling_does_not_shield_either(escrow, staking, token, staked_provider, client, rando,
                                                         worker, arbiter, sign, attest, accounts):
    """The shield opened only when the arbiter's ruling is seen in the mempool (same block order)."""
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
    assert tx.events["DisputeResolved"]["slashed"] == PAID
    assert staking.stakeOf(provider)[0] == PROVIDER_STAKE - PAID


def test_accepted_shield_job_does_not_shield_either(escrow, staking, token, staked_provider, client, rando, worker,
                                                    arbiter, sign, attest, accounts):
    """The provider accepts its second wallet's job at once, so the collateral backs 'running' work."""
    provider = staked_provider
    wallet = accounts[9]
    token.transfer(wallet, 100_000 * 10**18, {"from": rando})
    a_job = settled_false_job(escrow, token, client, worker, rando, sign, attest)
    escrow.dispute(a_job, b"\x01" * 32, {"from": client})
    free = staking.stakeOf(provider)[0] - escrow.unstakeBlockers(provider)[0]
    shield = open_job(escrow, token, wallet, free * BPS // COLLATERAL_BPS // PRICE, now() + 7 * DAY)
    escrow.acceptJob(shield.events["JobCreated"]["jobId"], {"from": provider})
    tx = escrow.resolveDispute(a_job, True, {"from": arbiter})
    assert tx.events["DisputeResolved"]["slashed"] == PAID
    assert staking.stakeOf(provider)[0] == PROVIDER_STAKE - PAID
