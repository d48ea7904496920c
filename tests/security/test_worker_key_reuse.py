"""Attack (audit, lower 6): rotating the worker key back to an old key revives that key's unsettled receipts.

A provider (or a thief who later regains the staking wallet's ear) rotates away from a leaked key, then names it
again: every receipt the leaked key signed, which rotation was supposed to void, settles again. What stops it: a
key that has been replaced is retired for good by the provider that replaced it (ProviderStakingWorkerRetired);
naming the current key again is a no-op."""

import brownie

from .conftest import RUNNING, err, receipt_for, sign_r, attest_r


def retired(key):
    return err("ProviderStakingWorkerRetired(address)", key)


def test_rotating_back_to_a_leaked_key_is_refused_and_its_receipts_stay_void(escrow, staking, staked_provider,
                                                                            worker, worker2, worker_key,
                                                                            oracle_key, rando, job_at):
    job_id = job_at()
    r = receipt_for(escrow, job_id)
    leaked_sig, att = sign_r(r, worker_key, escrow), attest_r([r], [oracle_key], escrow)
    staking.setWorker(worker2, {"from": staked_provider})  # the provider rotates away from the leaked key
    with brownie.reverts(retired(worker)):
        staking.setWorker(worker, {"from": staked_provider})
    assert staking.workerOf(staked_provider) == worker2
    with brownie.reverts():
        escrow.settle(r.as_tuple(), leaked_sig, att, {"from": rando})
    assert escrow.getJob(job_id)["status"] == RUNNING


def test_another_provider_naming_a_retired_key_revives_nothing(escrow, staking, staked_provider, provider2, worker,
                                                                worker2, worker_key, oracle_key, rando, job_at):
    """Retirement is per provider (second review: a global list let a thief retire the key a provider was about to
    rotate to). Another wallet naming the retired key gains nothing: receipts name their provider, and the first
    provider's worker key is no longer that key."""
    job_id = job_at()
    r = receipt_for(escrow, job_id)
    leaked_sig, att = sign_r(r, worker_key, escrow), attest_r([r], [oracle_key], escrow)
    staking.setWorker(worker2, {"from": staked_provider})
    staking.setWorker(worker, {"from": provider2})  # allowed: it is provider2's own business
    with brownie.reverts(retired(worker)):
        staking.setWorker(worker, {"from": staked_provider})
    with brownie.reverts():
        escrow.settle(r.as_tuple(), leaked_sig, att, {"from": rando})
    assert escrow.getJob(job_id)["status"] == RUNNING
