"""Attack (audit after issue 8, lower 9 as fixed): the settlement pause does not stop the timeout clock.

While the guardian's settlement pause is on, `settle` reverts but `claimTimeout` keeps working, and the grace
(default 10 minutes) is not extended by the pause. A pause longer than the grace turns every job whose work was
done, and whose attested receipt is waiting, into a timeout once deadline + grace passes: the client takes back
its whole deposit plus half the provider's collateral for work it received, and the receipt can never settle.
"""

import brownie

from tests.fixtures.contracts import PRICE, TIMEOUT_GRACE, TIMEOUT_SLASH_BPS
from tests.fixtures.jobs import SPEC_HASH

from .conftest import BPS, GPU_COUNT, HOUR, MAX_U256, TIMED_OUT, at, now, receipt_for


def test_client_times_out_finished_work_during_a_settlement_pause(escrow, token, staked_provider, client, worker,
                                                                  guardian, rando, sign, attest):
    token.approve(escrow, MAX_U256, {"from": client})
    job = escrow.createJob(1, 3600, now() + 2 * HOUR, SPEC_HASH, GPU_COUNT, PRICE,
                           {"from": client}).events["JobCreated"]["jobId"]
    escrow.acceptJob(job, {"from": worker})
    r = receipt_for(escrow, job, gpu_seconds=3600)  # the work is done and the receipt attested
    sig, att = sign(r), attest([r])
    escrow.pauseSettlement({"from": guardian})  # oracle keys suspected: settlement stops for a while
    with brownie.reverts():
        escrow.settle(r.as_tuple(), sig, att, {"from": rando})
    j = escrow.getJob(job).dict()
    before = token.balanceOf(client)
    with at(j["deadline"] + TIMEOUT_GRACE):
        escrow.claimTimeout(job, {"from": client})
    assert escrow.getJob(job)["status"] == TIMED_OUT
    assert token.balanceOf(client) - before == j["deposit"] + j["collateral"] * TIMEOUT_SLASH_BPS // BPS
    escrow.unpauseSettlement({"from": guardian})
    with brownie.reverts():
        escrow.settle(r.as_tuple(), sig, att, {"from": rando})  # the provider is never paid for the work
