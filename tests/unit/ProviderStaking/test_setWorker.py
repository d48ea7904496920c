"""setWorker. The first tests use provider2, which no module-scoped fixture stakes, so they never see
the worker that the shared `staked_provider` fixture names for `provider`."""

import brownie
from eth_account import Account

from tests.fixtures.accounts import WORKER2_KEY

from .conftest import ZERO, assert_event, typed_error


def test_set_first_worker(staking, provider2, worker):
    tx = staking.setWorker(worker, {"from": provider2})
    assert_event(tx, "WorkerSet", staking, provider=provider2, previous=ZERO, worker=worker)
    assert staking.workerOf(provider2) == worker


def test_rotate_worker(staking, provider2, worker):
    new = Account.from_key(WORKER2_KEY).address
    staking.setWorker(worker, {"from": provider2})
    tx = staking.setWorker(new, {"from": provider2})
    assert_event(tx, "WorkerSet", staking, provider=provider2, previous=worker, worker=new)
    assert staking.workerOf(provider2) == new


def test_set_same_worker_again(staking, provider2, worker):
    staking.setWorker(worker, {"from": provider2})
    tx = staking.setWorker(worker, {"from": provider2})
    assert_event(tx, "WorkerSet", staking, provider=provider2, previous=worker, worker=worker)
    assert staking.workerOf(provider2) == worker


def test_worker_is_per_provider(staking, client2, provider2, worker, rando):
    staking.setWorker(worker, {"from": client2})
    staking.setWorker(rando, {"from": provider2})
    assert staking.workerOf(client2) == worker
    assert staking.workerOf(provider2) == rando
    assert staking.workerOf(rando) == ZERO


def test_zero_worker_reverts(staking, provider2, worker):
    staking.setWorker(worker, {"from": provider2})
    with brownie.reverts(typed_error("ZeroAddress()")):
        staking.setWorker(ZERO, {"from": provider2})
    assert staking.workerOf(provider2) == worker


def test_setting_a_worker_needs_no_stake(staking, rando, worker):
    staking.setWorker(worker, {"from": rando})
    assert staking.workerOf(rando) == worker
    assert staking.stakeOf(rando)[0] == 0


def test_rotation_invalidates_unsettled_receipts_of_old_key(staking, escrow, create_job, make_receipt, sign, attest,
                                                            staked_provider, worker, rando):
    job_id = create_job(max_gpu_seconds=3600)
    receipt = make_receipt(job_id, gpu_seconds=1000)
    old_sig = sign(receipt)  # signed by `worker`
    new = Account.from_key(WORKER2_KEY).address
    staking.setWorker(new, {"from": staked_provider})

    with brownie.reverts(typed_error("JobEscrowInvalidWorkerSignature(uint256,address,address)", job_id, worker, new)):
        escrow.settle(receipt.as_tuple(), old_sig, attest([receipt]), {"from": rando})

    # The new key's signature over the same receipt settles it.
    tx = escrow.settle(receipt.as_tuple(), sign(receipt, key=WORKER2_KEY), attest([receipt]), {"from": rando})
    assert tx.events["JobSettled"]["jobId"] == job_id
