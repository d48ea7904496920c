"""Attacks (audit after issue 8) on lower findings 6 and 3 as fixed.

1. Worker-key retirement is global and anyone may name any key as its own worker: a thief holding a provider's
   worker key front-runs the provider's `setWorker(newKey)` with `setWorker(newKey)` + `setWorker(other)` from any
   wallet (no stake needed). newKey is now retired and the provider's rotation reverts, so the stolen key stays
   live. SECURITY.md's worker-key bound assumes the provider can rotate.
2. Record farming from a second wallet: the self-dealing check only knows the staking wallet and the current worker
   key, so a 1-wei job from any other wallet of the provider still counts as a completed job.
"""

import brownie

from tests.fixtures.jobs import SPEC_HASH

from .conftest import MAX_U256, err, now, receipt_for


def test_thief_blocks_the_rotation_of_a_stolen_worker_key(staking, staked_provider, rando, worker, accounts):
    new_key = accounts[9]
    # The thief (any wallet, not a provider, no stake) sees the rotation in the mempool and goes first.
    staking.setWorker(new_key, {"from": rando})
    staking.setWorker(rando, {"from": rando})  # new_key is now retired, for every provider
    with brownie.reverts(err("ProviderStakingWorkerRetired(address)", new_key)):
        staking.setWorker(new_key, {"from": staked_provider})
    assert staking.workerOf(staked_provider) == worker  # the stolen key is still the worker key


def test_second_wallet_farms_completed_jobs_for_a_wei(escrow, staking, token, staked_provider, worker, rando, sign,
                                                     attest, accounts):
    provider = staked_provider
    staking.addOffer("NVIDIA H100 80GB HBM3", 255, 80, 1, "ipfs://dust", {"from": provider})
    offer = staking.offerCount()
    wallet = accounts[9]
    token.transfer(wallet, 10**18, {"from": rando})
    token.approve(escrow, MAX_U256, {"from": wallet})
    before = escrow.providerRecord(provider)["jobsCompleted"]
    spent = token.balanceOf(wallet)
    for _ in range(3):
        job = escrow.createJob(offer, 255, now() + 3600, SPEC_HASH, 255, 1, {"from": wallet}).events["JobCreated"]["jobId"]
        escrow.acceptJob(job, {"from": worker})
        r = receipt_for(escrow, job, gpu_seconds=255)
        escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})
    rec = escrow.providerRecord(provider)
    assert rec["jobsCompleted"] == before + 3
    assert spent - token.balanceOf(wallet) == 3 * 255  # 765 wei for three "completed" 255-GPU jobs
