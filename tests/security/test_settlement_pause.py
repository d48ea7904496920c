"""Attack (audit, lower 9): oracle keys are compromised and the guardian cannot stop settlement.

A quorum of stolen oracle keys (with a worker key) can post false receipts; the guardian's pause stopped only new
work. What stops it: the guardian has a separate pause of settlement (pauseSettlement); governance or the guardian
lifts it. It never blocks refunds, withdrawals or unstaking, and new work is not affected by it. Timeouts wait for the
pause's end plus a grace (second review: finished, attested work must not time out because it could not settle), and
a pause ends by itself, so they are delayed, never blocked."""

import brownie

from tests.fixtures.contracts import TIMEOUT_GRACE

from .conftest import at, attest_r, err, receipt_for, sign_r, unauthorized, warp


def test_guardian_stops_settlement_while_oracle_keys_are_compromised(escrow, staking, staked_provider, guardian,
                                                                    deployer, client, rando, job_at, worker_key,
                                                                    oracle_key):
    job_id = job_at()
    late = job_at(deadline_in=2 * 3600)
    r = receipt_for(escrow, job_id, gpu_seconds=1000)
    args = (r.as_tuple(), sign_r(r, worker_key, escrow), attest_r([r], [oracle_key], escrow))
    escrow.pauseSettlement({"from": guardian})
    with brownie.reverts(err("JobEscrowSettlementPaused()")):
        escrow.settle(*args, {"from": rando})
    with brownie.reverts(err("JobEscrowSettlementPaused()")):
        escrow.settleBatch([args[0]], [args[1]], args[2], {"from": rando})
    # refunds, new work and unstaking go on; timeouts wait (the pause stops their clock: second review)
    with at(escrow.getJob(late)["deadline"] + TIMEOUT_GRACE), brownie.reverts(err("JobEscrowSettlementPaused()")):
        escrow.claimTimeout(late, {"from": rando})
    job_at()
    staking.requestUnstake(10**18, {"from": staked_provider})
    # governance (or the guardian) lifts it; the receipt settles, and the late job times out a grace later
    resumed = escrow.unpauseSettlement({"from": deployer}).timestamp
    escrow.settle(*args, {"from": rando})
    assert escrow.getJob(job_id)["status"] == 3
    with at(resumed + TIMEOUT_GRACE):
        escrow.claimTimeout(late, {"from": rando})
    assert escrow.getJob(late)["status"] == 5


def test_a_settlement_pause_ends_by_itself_and_cannot_be_renewed_at_once(escrow, guardian, rando, job_at):
    """The guardian can delay timeouts, never block them: a pause lasts at most MAX_SETTLEMENT_PAUSE, and the next
    may start only SETTLEMENT_PAUSE_COOLDOWN after it ended."""
    job_id = job_at(deadline_in=2 * 3600)
    longest, cooldown = escrow.MAX_SETTLEMENT_PAUSE(), escrow.SETTLEMENT_PAUSE_COOLDOWN()
    ends = escrow.pauseSettlement({"from": guardian}).timestamp + longest
    assert escrow.settlementPaused()
    warp(ends)
    assert not escrow.settlementPaused()
    with at(ends + 1), brownie.reverts(err("JobEscrowSettlementPauseCoolingDown(uint256,uint256,uint256)", ends,
                                          ends + cooldown, ends + 1)):
        escrow.pauseSettlement({"from": guardian})
    with at(ends + TIMEOUT_GRACE):
        escrow.claimTimeout(job_id, {"from": rando})
    with at(ends + cooldown):
        escrow.pauseSettlement({"from": guardian})
    assert escrow.settlementPaused()


def test_only_the_guardian_pauses_settlement(escrow, rando, deployer, guardian):
    for who in (rando, deployer):
        with brownie.reverts(unauthorized(who, "guardian")):
            escrow.pauseSettlement({"from": who})
    escrow.pauseSettlement({"from": guardian})
    with brownie.reverts(unauthorized(rando, "guardian")):
        escrow.unpauseSettlement({"from": rando})
    escrow.unpauseSettlement({"from": guardian})
