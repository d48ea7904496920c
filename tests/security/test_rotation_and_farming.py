"""Attacks (outside audit after issue 8) on lower findings 6 and 3 as first fixed.

1. Worker-key retirement was global and anyone may name any key as its own worker: a thief holding a provider's
   worker key front-runs the provider's `setWorker(newKey)` with `setWorker(newKey)` + `setWorker(other)` from any
   wallet, retiring newKey for everyone, so the provider's rotation reverts and the stolen key stays live. Must
   hold: a key is retired for the provider that replaced it only; nobody else can block a provider's rotation.
2. Record farming from a wallet that is neither the staking wallet nor the worker key: the self-dealing check
   cannot know a provider's other wallets. Must hold: the record a client reads as reputation is weighted by value
   paid (a farmed 1-wei job adds 1 wei of value, not a "completed job" worth as much as a real one), a Completed
   receipt for 0 GPU-seconds is not a completed job, and FailedClient is not a provider failure.
"""

import brownie

from tests.fixtures.jobs import SPEC_HASH
from tests.helpers.limits import limits
from tests.helpers.signing import FAILED_CLIENT

from .conftest import MAX_U256, err, now, receipt_for


def test_thief_cannot_block_the_rotation_of_a_stolen_worker_key(staking, staked_provider, rando, worker, accounts):
    new_key = accounts[9]
    # The thief (any wallet, not a provider, no stake) sees the rotation in the mempool and goes first.
    staking.setWorker(new_key, {"from": rando})
    staking.setWorker(rando, {"from": rando})  # retires new_key for the thief's own wallet only
    staking.setWorker(new_key, {"from": staked_provider})
    assert staking.workerOf(staked_provider) == new_key  # the stolen key is no longer the worker key
    with brownie.reverts(err("ProviderStakingWorkerRetired(address)", worker)):
        staking.setWorker(worker, {"from": staked_provider})  # and the provider cannot bring it back


def test_second_wallet_farms_only_the_value_it_pays(escrow, staking, token, staked_provider, worker, rando, sign,
                                                   attest, accounts):
    provider = staked_provider
    staking.addOffer("NVIDIA H100 80GB HBM3", 255, 80, 1, "ipfs://dust", {"from": provider})
    offer = staking.offerCount()
    wallet = accounts[9]
    token.transfer(wallet, 10**18, {"from": rando})
    token.approve(escrow, MAX_U256, {"from": wallet})
    before = escrow.providerRecord(provider).dict()
    spent = token.balanceOf(wallet)
    for _ in range(3):
        job = escrow.createJob(offer, 255, now() + 3600, SPEC_HASH, *limits(escrow, offer), {"from": wallet}).events["JobCreated"]["jobId"]
        escrow.acceptJob(job, {"from": worker})
        r = receipt_for(escrow, job, gpu_seconds=255)
        escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})
    rec = escrow.providerRecord(provider).dict()
    assert spent - token.balanceOf(wallet) == 3 * 255
    assert rec["valuePaid"] - before["valuePaid"] == 3 * 255  # the reputation the farm bought: 765 wei of value


def test_empty_completed_receipt_and_client_failure_do_not_count(escrow, token, staked_provider, worker, rando,
                                                                 sign, attest, client, job_at):
    before = escrow.providerRecord(staked_provider).dict()
    empty = job_at()
    r = receipt_for(escrow, empty, gpu_seconds=0)
    escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})
    failed = job_at()
    r = receipt_for(escrow, failed, gpu_seconds=100, outcome=FAILED_CLIENT)
    escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})
    rec = escrow.providerRecord(staked_provider).dict()
    assert rec["jobsCompleted"] == before["jobsCompleted"]
    assert rec["jobsFailed"] == before["jobsFailed"]
