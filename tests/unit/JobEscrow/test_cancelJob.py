"""cancelJob: the client before acceptance, the provider or worker declining, anyone after the acceptance
deadline; always a full refund and the collateral unlocked."""

import brownie
import pytest

from tests.fixtures.contracts import PRICE

from .conftest import (CANCELLED, OPEN, RUNNING, SETTLED, at, err, expect_event, now, unknown_job, wrong_status)


def check_cancelled(escrow, token, tx, job_id, by, client, provider, before_client, deposit):
    expect_event(tx, "JobCancelled", jobId=job_id, by=by, refund=deposit)
    expect_event(tx, "Transfer", **{"from": escrow, "to": client, "value": deposit})
    assert token.balanceOf(client) == before_client + deposit
    assert token.balanceOf(escrow) == 0
    assert escrow.providerRecord(provider)["lockedCollateral"] == 0
    j = escrow.getJob(job_id).dict()
    assert j["status"] == CANCELLED
    assert (j["acceptBy"], j["acceptedAt"], j["deadline"], j["refundable"]) == (0, 0, 0, 0)
    assert j["deposit"] == deposit


@pytest.mark.parametrize("who", ["client", "provider", "worker"])
def test_cancel_before_acceptance_deadline(escrow, token, job, client, staked_provider, worker, who):
    job_id = job(max_gpu_seconds=1234, accept=False)
    caller = {"client": client, "provider": staked_provider, "worker": worker}[who]
    bal = token.balanceOf(client)
    accept_by = escrow.getJob(job_id)["acceptBy"]
    with at(accept_by):  # the last second before the window closes
        tx = escrow.cancelJob(job_id, {"from": caller})
    check_cancelled(escrow, token, tx, job_id, caller, client, staked_provider, bal, 1234 * PRICE)


@pytest.mark.parametrize("who", ["rando", "client", "provider2", "worker"])
def test_anyone_cancels_after_acceptance_deadline(escrow, token, job, client, rando, provider2, worker,
                                                  staked_provider, who):
    caller = {"rando": rando, "client": client, "provider2": provider2, "worker": worker}[who]
    job_id = job(max_gpu_seconds=77, accept=False)
    bal = token.balanceOf(client)
    caller_bal = token.balanceOf(caller)
    accept_by = escrow.getJob(job_id)["acceptBy"]
    with at(accept_by + 1):
        tx = escrow.cancelJob(job_id, {"from": caller})
    check_cancelled(escrow, token, tx, job_id, caller, client, staked_provider, bal, 77 * PRICE)
    if caller != client:
        assert token.balanceOf(caller) == caller_bal  # the refund goes to the client, never the caller


@pytest.mark.parametrize("offset", [-100, 0])
@pytest.mark.parametrize("who", ["rando", "provider2", "worker2", "client2"])
def test_others_rejected_before_acceptance_deadline(escrow, job, rando, provider2, worker2, client2, offer2, snap,
                                                     offset, who):
    caller = {"rando": rando, "provider2": provider2, "worker2": worker2, "client2": client2}[who]
    job_id = job(accept=False)
    accept_by = escrow.getJob(job_id)["acceptBy"]
    before = snap(job_id)
    with at(accept_by + offset), brownie.reverts(
            err("JobEscrowCancelNotAllowed(uint256,address,uint256)", job_id, caller, accept_by)):
        escrow.cancelJob(job_id, {"from": caller})
    assert snap(job_id) == before
    assert escrow.getJob(job_id)["status"] == OPEN


def test_rotated_out_worker_cannot_decline(escrow, staking, job, staked_provider, worker, worker2, snap):
    job_id = job(accept=False)
    staking.setWorker(worker2, {"from": staked_provider})
    before = snap(job_id)
    accept_by = escrow.getJob(job_id)["acceptBy"]
    with brownie.reverts(err("JobEscrowCancelNotAllowed(uint256,address,uint256)", job_id, worker, accept_by)):
        escrow.cancelJob(job_id, {"from": worker})
    assert snap(job_id) == before
    escrow.cancelJob(job_id, {"from": worker2})
    assert escrow.getJob(job_id)["status"] == CANCELLED


def test_cancel_unlocks_only_this_jobs_collateral(escrow, job, client, staked_provider):
    a = job(max_gpu_seconds=1000, accept=False)
    b = job(max_gpu_seconds=3000, accept=False)
    escrow.cancelJob(a, {"from": client})
    assert escrow.providerRecord(staked_provider)["lockedCollateral"] == escrow.getJob(b)["collateral"]


def test_refund_uses_the_locked_price(escrow, staking, token, job, client, staked_provider):
    job_id = job(max_gpu_seconds=1000, accept=False)
    staking.updateOffer(1, 4, 80, PRICE * 5, "ipfs://x", {"from": staked_provider})
    bal = token.balanceOf(client)
    tx = escrow.cancelJob(job_id, {"from": client})
    assert tx.events["JobCancelled"]["refund"] == 1000 * PRICE
    assert token.balanceOf(client) == bal + 1000 * PRICE


def test_rejects_unknown_job(escrow, client, snap):
    before = snap()
    for job_id in (0, 5):
        with brownie.reverts(unknown_job(job_id)):
            escrow.cancelJob(job_id, {"from": client})
    assert snap() == before


@pytest.mark.parametrize("who", ["client", "provider", "rando"])
def test_rejects_running_job(escrow, job, client, staked_provider, rando, snap, who):
    caller = {"client": client, "provider": staked_provider, "rando": rando}[who]
    job_id = job()
    before = snap(job_id)
    with brownie.reverts(wrong_status(job_id, RUNNING, OPEN)):
        escrow.cancelJob(job_id, {"from": caller})
    # not even after the acceptance deadline: a running job ends by receipt or timeout
    with at(now() + 2 * 3600), brownie.reverts(wrong_status(job_id, RUNNING, OPEN)):
        escrow.cancelJob(job_id, {"from": caller})
    assert snap(job_id) == before


def test_cannot_cancel_twice(escrow, token, job, client, snap):
    job_id = job(accept=False)
    escrow.cancelJob(job_id, {"from": client})
    before = snap(job_id)
    with brownie.reverts(wrong_status(job_id, CANCELLED, OPEN)):
        escrow.cancelJob(job_id, {"from": client})
    assert snap(job_id) == before


def test_rejects_settled_job(escrow, job, receipt, settle, client, snap):
    job_id = job()
    settle(receipt(job_id))
    before = snap(job_id)
    with brownie.reverts(wrong_status(job_id, SETTLED, OPEN)):
        escrow.cancelJob(job_id, {"from": client})
    assert snap(job_id) == before


def test_works_while_paused(escrow, token, job, client, guardian, staked_provider):
    job_id = job(max_gpu_seconds=500, accept=False)
    escrow.pause({"from": guardian})
    bal = token.balanceOf(client)
    tx = escrow.cancelJob(job_id, {"from": client})
    check_cancelled(escrow, token, tx, job_id, client, client, staked_provider, bal, 500 * PRICE)
