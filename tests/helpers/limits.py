"""The client's limits that createJob takes (GPU count, highest price per GPU-second), read from the offer the
way a client reads it just before sending."""

MAX_U64 = 2**64 - 1


def limits(escrow, offer_id):
    """(gpuCount, maxPricePerGpuSecond) that fit offer `offer_id` as it stands now: all its GPUs at its price.
    For an offer that does not exist, (1, 2^64 - 1), so that the escrow's own check for it is what reverts."""
    from brownie import ProviderStaking

    staking = ProviderStaking.at(escrow.staking())
    if not 1 <= int(offer_id) <= staking.offerCount():
        return (1, MAX_U64)
    o = staking.offer(offer_id)
    return (int(o["gpuCount"]), int(o["pricePerGpuSecond"]))
