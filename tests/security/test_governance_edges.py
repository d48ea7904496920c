"""Attacks (outside audit after issue 8) that need a governance act, and the desk called directly.

1. The minimum run time and the grace both had a floor of 0: with both at 0, a job is opened, accepted and timed
   out two seconds apart. Must hold: both have a non-zero floor (docs/PROTOCOL.md, bounds).
2. A job's dispute window is fixed at creation, but `unstakeBlockers` (which `withdraw` reads) used the current
   window: after governance shortened the window and the unbonding period, the provider withdrew stake while an
   older job was still disputable. Must hold: stake cannot leave while any settled job is still disputable under
   its own window.
3. JobEscrowDesk called directly (not through the escrow) can change nothing: refused.
"""

import brownie
from eth_utils import keccak, to_checksum_address

from tests.fixtures.contracts import DISPUTE_BOND, PRICE
from tests.fixtures.jobs import SPEC_HASH

from .conftest import DAY, GPU_COUNT, HOUR, MAX_U256, UPHELD, at, err, now, receipt_for


def open_job(escrow, token, sender, max_gpu_seconds, deadline):
    if token.allowance(sender, escrow) < 2**255:
        token.approve(escrow, MAX_U256, {"from": sender})
    return escrow.createJob(1, max_gpu_seconds, deadline, SPEC_HASH, GPU_COUNT, PRICE,
                            {"from": sender}).events["JobCreated"]["jobId"]


OUT_OF_RANGE = "JobEscrowParameterOutOfRange(uint8,uint256,uint256,uint256)"


def test_zero_run_time_and_grace_are_refused(escrow, deployer):
    with brownie.reverts(err(OUT_OF_RANGE, 8, 0, 5 * 60, DAY)):
        escrow.setParameter(8, 0, {"from": deployer})  # minimum run time
    with brownie.reverts(err(OUT_OF_RANGE, 6, 0, 5 * 60, 7 * DAY)):
        escrow.setParameter(6, 0, {"from": deployer})  # grace
    assert escrow.minRunTime() == 600


def test_shorter_window_does_not_let_stake_leave_while_an_old_job_is_disputable(escrow, staking, token, staked_provider,
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
    t = now() + 2 * HOUR + 1
    with at(t), brownie.reverts(err("ProviderStakingDisputeWindowOpen(address,uint256,uint256)", provider,
                             settled_at + DAY, t)):
        staking.withdraw({"from": provider})  # the job keeps its own 24 h window
    assert now() < settled_at + DAY
    escrow.dispute(job, b"\x01" * 32, {"from": client})  # still inside the job's own window
    before = token.balanceOf(client)
    tx = escrow.resolveDispute(job, True, {"from": arbiter})
    assert escrow.getJob(job)["status"] == UPHELD
    assert tx.events["DisputeResolved"]["slashed"] == 4_000 * 10**18  # all it paid
    assert token.balanceOf(client) - before == 4_000 * 10**18 + DISPUTE_BOND


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
