"""Attack (audit, medium): the provider front-runs createJob with updateOffer and the escrow takes whatever the
offer says when the transaction lands.

Sequence: a client with a standing allowance sends createJob(offer, 3600 GPU-seconds); the provider's
updateOffer(offer, 255 GPUs, price x k) lands first; the escrow pulls 3600 x price x k and the job's metering bound
grows to 255 GPUs. What stops it: the client states its limits in the call (GPU count, highest price per
GPU-second); a job that no longer fits reverts with JobEscrowOfferNoLongerFits carrying both sides, and nothing
moves. The job keeps the client's GPU count, whatever the offer says later.
"""

import brownie

from tests.fixtures.contracts import GPU_COUNT, PRICE
from tests.fixtures.jobs import SPEC_HASH

from .conftest import DAY, MAX_U256, err, now, receipt_for

K = 50


def create(escrow, client, max_gpu_seconds, gpu_count, max_price):
    return escrow.createJob(1, max_gpu_seconds, now() + 7 * DAY, SPEC_HASH, gpu_count, max_price, {"from": client})


def no_longer_fits(offer_id, gpu_count, offer_gpus, max_price, offer_price):
    return err("JobEscrowOfferNoLongerFits(uint256,uint256,uint256,uint256,uint256)", offer_id, gpu_count,
               offer_gpus, max_price, offer_price)


def test_price_raised_just_before_createJob_lands_takes_nothing(escrow, staking, token, staked_provider, client,
                                                                world):
    token.approve(escrow, MAX_U256, {"from": client})  # the standing allowance
    staking.updateOffer(1, 255, 80, PRICE * K, "ipfs://offer", {"from": staked_provider})  # the front-run
    before = world()
    with brownie.reverts(no_longer_fits(1, GPU_COUNT, 255, PRICE, PRICE * K)):
        create(escrow, client, 3600, GPU_COUNT, PRICE)
    assert world() == before


def test_more_gpus_than_the_offer_has_is_refused(escrow, staking, token, staked_provider, client):
    token.approve(escrow, MAX_U256, {"from": client})
    staking.updateOffer(1, 2, 80, PRICE, "ipfs://offer", {"from": staked_provider})  # the offer shrank
    with brownie.reverts(no_longer_fits(1, GPU_COUNT, 2, PRICE, PRICE)):
        create(escrow, client, 3600, GPU_COUNT, PRICE)
    with brownie.reverts(no_longer_fits(1, 0, 2, PRICE, PRICE)):
        create(escrow, client, 3600, 0, PRICE)


def test_job_keeps_the_clients_gpu_count_when_the_offer_grows(escrow, staking, token, staked_provider, client,
                                                              worker, sign, attest, rando):
    token.approve(escrow, MAX_U256, {"from": client})
    staking.updateOffer(1, 255, 80, PRICE, "ipfs://offer", {"from": staked_provider})
    job_id = create(escrow, client, 3600, GPU_COUNT, PRICE).events["JobCreated"]["jobId"]
    j = escrow.getJob(job_id).dict()
    assert j["gpuCount"] == GPU_COUNT
    assert j["deposit"] == 3600 * PRICE
    escrow.acceptJob(job_id, {"from": worker})
    # 10 s of wall time bills at most about 10 x 4 GPU-seconds, not 10 x 255.
    r = receipt_for(escrow, job_id, gpu_seconds=10 * 255, end=escrow.getJob(job_id)["acceptedAt"] + 10)
    limit = (10 + 5) * GPU_COUNT  # wall time plus the metering tolerance, times the job's GPUs
    with brownie.reverts(err("JobEscrowImpossibleGpuSeconds(uint256,uint256,uint256)", job_id, 10 * 255, limit)):
        escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})
