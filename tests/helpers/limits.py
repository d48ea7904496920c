"""The client's limits that createJob takes (GPU count, highest price per GPU-second), read from the offer the
way a client reads it just before sending.

Capacity (issue 11): a job reserves its GPUs on the offer until it ends, and settlement leaves them reserved
until `releaseJobGpus`. The suites written before capacity existed open many jobs at once, each on all of an
offer's GPUs. So that they keep testing what they test, `limits()` plays the provider when the offer is full: it
first gives back the GPUs of the offer's settled jobs (what the worker does when a job ends), and if running jobs
still hold them all, the provider adds GPUs to the offer (`updateOffer`), as a provider with more machines would.
The job still asks for the offer's original GPU count. Tests of capacity itself (tests/unit/ProviderStaking/
test_capacity.py, the lease tests) open jobs without this helper.
"""

from tests.helpers.clock import keep_pin

MAX_U64 = 2**64 - 1
_JOB_GPUS: dict[tuple[str, int], tuple[int, int]] = {}  # (staking, offer) -> (GPUs a job asks for, the grown count)


def limits(escrow, offer_id):
    """(gpuCount, maxPricePerGpuSecond) that fit offer `offer_id` as it stands now: all its GPUs at its price.
    For an offer that does not exist, (1, 2^64 - 1), so that the escrow's own check for it is what reverts."""
    from brownie import ProviderStaking

    staking = ProviderStaking.at(escrow.staking())
    if not 1 <= int(offer_id) <= staking.offerCount():
        return (1, MAX_U64)
    o = staking.offer(offer_id)
    key = (str(staking.address), int(offer_id))
    gpus = int(o["gpuCount"])
    if key in _JOB_GPUS and _JOB_GPUS[key][1] == gpus:
        gpus = _JOB_GPUS[key][0]  # the offer grew for the suites; its jobs keep the original size
    if int(staking.freeGpus(offer_id)) < gpus:
        give_back_settled_gpus(escrow, offer_id)
    if int(staking.freeGpus(offer_id)) < gpus and o["active"] and not o["paused"]:
        grown = int(o["reservedGpus"]) + gpus
        if grown <= 255:
            try:
                staking.updateOffer(offer_id, grown, o["vramGb"], o["pricePerGpuSecond"], o["metadataURI"],
                                    {"from": o["provider"]})
                _JOB_GPUS[key] = (gpus, grown)
                keep_pin()
            except Exception:  # noqa: BLE001 - a provider that cannot send (a contract wallet): the job reverts
                pass
    return (gpus, int(o["pricePerGpuSecond"]))


SETTLED_LIKE = (3, 6, 7, 8, 10)  # Settled, Disputed, DisputeUpheld, DisputeRejected, DisputeLapsed


def give_back_settled_gpus(escrow, offer_id):
    """What the provider's worker does when a job ends: settlement leaves a job's GPUs reserved (issue 11), and
    `releaseJobGpus` gives them back. The tests' job factories open every job on all of an offer's GPUs, so before
    the next one they give back what settled jobs on that offer still hold. Jobs still open or running keep theirs:
    a test that needs two at once on one offer gets ProviderStakingCapacityExceeded, as a client would."""
    from brownie import accounts

    ids = [j for j in range(1, int(escrow.jobCount()) + 1)
           if int(escrow.getJob(j)["offerId"]) == int(offer_id) and int(escrow.getJob(j)["status"]) in SETTLED_LIKE]
    if not ids:
        return
    try:
        escrow.releaseJobGpus.call(ids, {"from": accounts[0]})
    except Exception:  # noqa: BLE001 - JobEscrowNothingToClaim: every one was released already
        return
    escrow.releaseJobGpus(ids, {"from": accounts[0]})
    keep_pin()
