"""Attacks (audit after issue 8) that need a governance act, and the desk called directly.

1. The minimum run time and the grace both have a floor of 0: with both at 0, a job is opened, accepted and timed
   out two seconds apart (the high finding's original shape, from a second wallet).
2. A job's dispute window is fixed at creation, but `unstakeBlockers` (which `withdraw` reads) uses the current
   window: after governance shortens the window and the unbonding period, the provider withdraws stake while an
   older job is still disputable; the ruling then finds only the job's reserve.
3. JobEscrowDesk called directly (not through the escrow) can change nothing: refused.
"""

import brownie
from eth_utils import keccak, to_checksum_address

from tests.fixtures.contracts import DISPUTE_BOND, PRICE, TIMEOUT_SLASH_BPS
from tests.fixtures.jobs import SPEC_HASH

from .conftest import BPS, DAY, GPU_COUNT, HOUR, MAX_U256, TIMED_OUT, UPHELD, at, now, receipt_for, warp


def open_job(escrow, token, sender, max_gpu_seconds, deadline):
    if token.allowance(sender, escrow) < 2**255:
        token.approve(escrow, MAX_U256, {"from": sender})
    return escrow.createJob(1, max_gpu_seconds, deadline, SPEC_HASH, GPU_COUNT, PRICE,
                            {"from": sender}).events["JobCreated"]["jobId"]


def test_zero_run_time_and_grace_bring_back_the_instant_timeout(escrow, token, staked_provider, deployer,
                                                               accounts, rando):
    escrow.setParameter(8, 0, {"from": deployer})  # minimum run time
    escrow.setParameter(6, 0, {"from": deployer})  # grace
    wallet = accounts[9]
    token.transfer(wallet, 100_000 * 10**18, {"from": rando})
    t = now() + 5
    with at(t):
        job = open_job(escrow, token, wallet, 10_000_000, t + 1)  # collateral 2,000
    with at(t + 1):
        escrow.acceptJob(job, {"from": staked_provider})
    before = token.balanceOf(wallet)
    with at(t + 2):
        escrow.claimTimeout(job, {"from": wallet})
    assert escrow.getJob(job)["status"] == TIMED_OUT
    assert token.balanceOf(wallet) - before == 10_000 * 10**18 + 2_000 * 10**18 * TIMEOUT_SLASH_BPS // BPS


def test_shorter_window_lets_stake_leave_while_an_old_job_is_disputable(escrow, staking, token, staked_provider,
                                                                       client, rando, worker, arbiter, deployer,
                                                                       sign, attest):
    provider = staked_provider
    job = open_job(escrow, token, client, 4_000_000, now() + 20 * DAY)
    escrow.acceptJob(job, {"from": worker})
    r = receipt_for(escrow, job, gpu_seconds=4_000_000)
    escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})
    settled_at = escrow.getJob(job)["settledAt"]  # the job keeps its 24 h window
    escrow.setParameter(4, HOUR, {"from": deployer})
    staking.setParameter(1, 2 * HOUR, {"from": deployer})
    free = staking.stakeOf(provider)[0] - escrow.unstakeBlockers(provider)[0]
    staking.requestUnstake(free, {"from": provider})
    warp(now() + 2 * HOUR + 1)
    staking.withdraw({"from": provider})  # 9,200 gone, 2 h after settlement
    assert now() < settled_at + DAY
    escrow.dispute(job, b"\x01" * 32, {"from": client})  # still inside the job's own window
    before = token.balanceOf(client)
    tx = escrow.resolveDispute(job, True, {"from": arbiter})
    assert escrow.getJob(job)["status"] == UPHELD
    assert tx.events["DisputeResolved"]["slashed"] == 800 * 10**18  # of 4,000 paid
    assert token.balanceOf(client) - before == 800 * 10**18 + DISPUTE_BOND


def desk_of(escrow, JobEscrowDesk):
    a = bytes.fromhex(escrow.address[2:])
    addr = to_checksum_address(keccak(b"\xd6\x94" + a + b"\x01")[12:])
    return JobEscrowDesk.at(addr)


def test_desk_called_directly_changes_nothing(escrow, JobEscrowDesk, deployer, guardian, arbiter, staked_provider):
    desk = desk_of(escrow, JobEscrowDesk)
    assert desk.governance() == escrow.address
    with brownie.reverts():
        desk.setParameter(0, 0, {"from": deployer})
    with brownie.reverts():
        desk.setRole(2, deployer, {"from": deployer})
    with brownie.reverts():
        desk.pause({"from": guardian})
    with brownie.reverts():
        desk.pauseSettlement({"from": guardian})
    with brownie.reverts():
        desk.claimTimeout(1, {"from": deployer})
    with brownie.reverts():
        desk.resolveDispute(1, True, {"from": arbiter})
    with brownie.reverts():
        desk.withdrawFees({"from": deployer})
    with brownie.reverts():
        desk.transferGovernance(deployer, {"from": deployer})
    desk.setWorkerBudget(0, {"from": staked_provider})  # lands in the desk's own storage only
    assert escrow.workerBudget(staked_provider)[1] == 2_500 * 10**18  # the escrow's budget is unchanged
