"""Attack (audit, lower 9): oracle keys are compromised and the guardian cannot stop settlement.

A quorum of stolen oracle keys (with a worker key) can post false receipts; the guardian's pause stopped only new
work. What stops it: the guardian has a separate pause of settlement (pauseSettlement); governance or the guardian
lifts it. It never blocks refunds, timeouts, withdrawals or unstaking, and new work is not affected by it."""

import brownie

from tests.fixtures.contracts import TIMEOUT_GRACE

from .conftest import at, attest_r, err, receipt_for, sign_r, unauthorized


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
    # refunds, timeouts, new work and unstaking go on
    with at(escrow.getJob(late)["deadline"] + TIMEOUT_GRACE):
        escrow.claimTimeout(late, {"from": rando})
    job_at()
    staking.requestUnstake(10**18, {"from": staked_provider})
    # governance (or the guardian) lifts it; the receipt settles
    escrow.unpauseSettlement({"from": deployer})
    escrow.settle(*args, {"from": rando})
    assert escrow.getJob(job_id)["status"] == 3


def test_only_the_guardian_pauses_settlement(escrow, rando, deployer, guardian):
    for who in (rando, deployer):
        with brownie.reverts(unauthorized(who, "guardian")):
            escrow.pauseSettlement({"from": who})
    escrow.pauseSettlement({"from": guardian})
    with brownie.reverts(unauthorized(rando, "guardian")):
        escrow.unpauseSettlement({"from": rando})
    escrow.unpauseSettlement({"from": guardian})
