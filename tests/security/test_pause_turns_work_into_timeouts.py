"""Attack (outside audit after issue 8, medium): the settlement pause does not stop the timeout clock, so a pause
longer than the grace turns finished, attested work into a timeout.

What must hold (docs/PROTOCOL.md): while settlement is paused no job can be timed out, and after the pause ends
every running job has a whole grace to post its receipt before a timeout can be claimed.
"""

import brownie

from tests.fixtures.contracts import PRICE, TIMEOUT_GRACE
from tests.fixtures.jobs import SPEC_HASH

from .conftest import GPU_COUNT, HOUR, MAX_U256, RUNNING, SETTLED, at, err, now, receipt_for, warp


def test_settlement_pause_stops_the_timeout_clock(escrow, token, staked_provider, client, worker, guardian, rando,
                                                  sign, attest):
    token.approve(escrow, MAX_U256, {"from": client})
    job = escrow.createJob(1, 3600, now() + 2 * HOUR, SPEC_HASH, GPU_COUNT, PRICE,
                           {"from": client}).events["JobCreated"]["jobId"]
    escrow.acceptJob(job, {"from": worker})
    r = receipt_for(escrow, job, gpu_seconds=3600)  # the work is done and the receipt attested
    sig, att = sign(r), attest([r])
    escrow.pauseSettlement({"from": guardian})
    j = escrow.getJob(job).dict()
    with at(j["deadline"] + TIMEOUT_GRACE), brownie.reverts(err("JobEscrowSettlementPaused()")):
        escrow.claimTimeout(job, {"from": client})
    assert escrow.getJob(job)["status"] == RUNNING
    warp(j["deadline"] + 5 * HOUR)
    tx = escrow.unpauseSettlement({"from": guardian})
    resumed = tx.timestamp
    with at(resumed + 1), brownie.reverts(err("JobEscrowTimeoutNotReached(uint256,uint256,uint256)", job,
                             resumed + TIMEOUT_GRACE, resumed + 1)):
        escrow.claimTimeout(job, {"from": client})
    with at(resumed + TIMEOUT_GRACE - 10):
        escrow.settle(r.as_tuple(), sig, att, {"from": rando})  # within the grace after the pause: paid
    assert escrow.getJob(job)["status"] == SETTLED
