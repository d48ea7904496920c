"""Attack (audit after issue 8, medium 'createJob takes whatever the offer says'), what the fix leaves and what it
closes.

1. Was left: the client's limits cover price and GPU count only. `updateOffer` also rewrote the VRAM per GPU; a
   provider front-ran a client's createJob with the offer's VRAM cut from 80 GB to 1 GB and the job opened at the
   full price on the changed machine. Must hold: an offer's VRAM per GPU never goes down (it describes the
   hardware; other hardware is another offer), so what the client read is at least what it gets.
2. Closed: the price front-run reverts with JobEscrowOfferNoLongerFits.
3. Closed: a dispute-window unstake does not escape: stake requested for unstaking after a false settlement is
   still slashed by the ruling (slash takes unbonding stake) and cannot be withdrawn before the window closes.
"""

import brownie

from tests.fixtures.contracts import DISPUTE_BOND, PRICE
from tests.fixtures.jobs import SPEC_HASH

from .conftest import DAY, GPU_COUNT, MAX_U256, UPHELD, err, now, receipt_for


def test_vram_front_run_is_refused(escrow, staking, token, staked_provider, client):
    assert staking.offer(1)["vramGb"] == 80  # what the client read
    with brownie.reverts(err("ProviderStakingVramLowered(uint256,uint32,uint32)", 1, 80, 1)):
        staking.updateOffer(1, GPU_COUNT, 1, PRICE, "ipfs://offer", {"from": staked_provider})  # the front-run
    token.approve(escrow, MAX_U256, {"from": client})
    escrow.createJob(1, 3600, now() + DAY, SPEC_HASH, GPU_COUNT, PRICE, {"from": client})
    assert staking.offer(1)["vramGb"] == 80


def test_price_front_run_is_refused(escrow, staking, token, staked_provider, client):
    staking.updateOffer(1, GPU_COUNT, 80, PRICE * 10, "ipfs://offer", {"from": staked_provider})
    token.approve(escrow, MAX_U256, {"from": client})
    with brownie.reverts(err("JobEscrowOfferNoLongerFits(uint256,uint256,uint256,uint256,uint256)",
                             1, GPU_COUNT, GPU_COUNT, PRICE, PRICE * 10)):
        escrow.createJob(1, 3600, now() + DAY, SPEC_HASH, GPU_COUNT, PRICE, {"from": client})


def test_unstake_during_the_window_is_still_slashed(escrow, staking, token, staked_provider, client, rando, worker,
                                                    arbiter, sign, attest):
    provider = staked_provider
    token.approve(escrow, MAX_U256, {"from": client})
    job = escrow.createJob(1, 4_000_000, now() + 20 * DAY, SPEC_HASH, GPU_COUNT, PRICE,
                           {"from": client}).events["JobCreated"]["jobId"]
    escrow.acceptJob(job, {"from": worker})
    r = receipt_for(escrow, job, gpu_seconds=4_000_000)
    escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})
    free = staking.stakeOf(provider)[0] - escrow.unstakeBlockers(provider)[0]
    staking.requestUnstake(free, {"from": provider})
    with brownie.reverts():
        staking.withdraw({"from": provider})
    escrow.dispute(job, b"\x01" * 32, {"from": client})
    before = token.balanceOf(client)
    tx = escrow.resolveDispute(job, True, {"from": arbiter})
    assert escrow.getJob(job)["status"] == UPHELD
    assert tx.events["DisputeResolved"]["slashed"] == 4_000 * 10**18
    assert token.balanceOf(client) - before == 4_000 * 10**18 + DISPUTE_BOND
