"""acceptJob: the provider or its worker key accepts an open job before its acceptance deadline."""

import brownie
import pytest

from tests.fixtures.contracts import ACCEPT_WINDOW
from tests.helpers.limits import limits

from .conftest import (
    CANCELLED,
    OPEN,
    RUNNING,
    at,
    err,
    expect_event,
    now,
    paused,
    unknown_job,
    warp,
    wrong_status,
)


@pytest.mark.parametrize("who", ["provider", "worker"])
def test_provider_or_worker_accepts(escrow, job, staked_provider, worker, snap, who):
    job_id = job(accept=False)
    before = snap(job_id)
    t = now() + 7
    with at(t):
        tx = escrow.acceptJob(job_id, {"from": staked_provider if who == "provider" else worker})
    expect_event(tx, "JobAccepted", jobId=job_id, provider=staked_provider, acceptedAt=t)
    j = escrow.getJob(job_id).dict()
    assert j["status"] == RUNNING
    assert j["acceptedAt"] == t
    assert j["acceptBy"] == 0  # only reported while open
    after = snap(job_id)
    # nothing but the job changed: no money moves at acceptance
    assert {k: v for k, v in after.items() if k != "jobs"} == {k: v for k, v in before.items() if k != "jobs"}


def test_accepting_keeps_the_deadline(escrow, job):
    job_id = job(accept=False)
    deadline = escrow.getJob(job_id)["deadline"]
    job_accepted = escrow.acceptJob(job_id, {"from": escrow.getJob(job_id)["provider"]})
    assert job_accepted.events["JobAccepted"]["jobId"] == job_id
    assert escrow.getJob(job_id)["deadline"] == deadline


def test_accepts_at_the_last_second(escrow, job, staked_provider):
    job_id = job(accept=False)
    accept_by = escrow.getJob(job_id)["acceptBy"]
    with at(accept_by):
        tx = escrow.acceptJob(job_id, {"from": staked_provider})
    assert tx.events["JobAccepted"]["acceptedAt"] == accept_by


def test_rejects_after_acceptance_window(escrow, job, staked_provider, snap):
    job_id = job(accept=False)
    accept_by = escrow.getJob(job_id)["acceptBy"]
    before = snap(job_id)
    with at(accept_by + 1), brownie.reverts(err("JobEscrowAcceptanceClosed(uint256,uint256,uint256)", job_id,
                                                accept_by, accept_by + 1)):
        escrow.acceptJob(job_id, {"from": staked_provider})
    assert snap(job_id) == before
    assert escrow.getJob(job_id)["status"] == OPEN


def test_window_follows_the_parameter_at_creation(escrow, token, client, staked_provider, deployer):
    from tests.fixtures.jobs import SPEC_HASH

    escrow.setParameter(5, 60, {"from": deployer})
    token.approve(escrow, 2**256 - 1, {"from": client})
    t = now() + 3
    with at(t):
        job_id = escrow.createJob(1, 100, t + 7 * 86400, SPEC_HASH, *limits(escrow, 1), {"from": client}).return_value
    assert escrow.getJob(job_id)["acceptBy"] == t + 60
    escrow.setParameter(5, ACCEPT_WINDOW, {"from": deployer})  # a later change does not move the open job
    assert escrow.getJob(job_id)["acceptBy"] == t + 60
    with at(t + 61), brownie.reverts(err("JobEscrowAcceptanceClosed(uint256,uint256,uint256)", job_id, t + 60,
                                         t + 61)):
        escrow.acceptJob(job_id, {"from": staked_provider})


@pytest.mark.parametrize("who", ["client", "rando", "provider2", "worker2"])
def test_rejects_anyone_else(escrow, job, client, rando, provider2, worker2, offer2, snap, who):
    caller = {"client": client, "rando": rando, "provider2": provider2, "worker2": worker2}[who]
    job_id = job(accept=False)
    before = snap(job_id)
    with brownie.reverts(err("JobEscrowNotProviderOrWorker(uint256,address)", job_id, caller)):
        escrow.acceptJob(job_id, {"from": caller})
    assert snap(job_id) == before


def test_rotated_out_worker_cannot_accept(escrow, staking, job, staked_provider, worker, worker2, snap):
    job_id = job(accept=False)
    staking.setWorker(worker2, {"from": staked_provider})
    before = snap(job_id)
    with brownie.reverts(err("JobEscrowNotProviderOrWorker(uint256,address)", job_id, worker)):
        escrow.acceptJob(job_id, {"from": worker})
    assert snap(job_id) == before
    escrow.acceptJob(job_id, {"from": worker2})
    assert escrow.getJob(job_id)["status"] == RUNNING


def test_rejects_jailed_provider(escrow, staking, job, staked_provider, worker, deployer, snap):
    job_id = job(accept=False)
    staking.jail(staked_provider, {"from": deployer})
    before = snap(job_id)
    for who in (staked_provider, worker):
        with brownie.reverts(err("JobEscrowProviderJailed(address)", staked_provider)):
            escrow.acceptJob(job_id, {"from": who})
    assert snap(job_id) == before
    staking.unjail(staked_provider, {"from": deployer})
    escrow.acceptJob(job_id, {"from": worker})
    assert escrow.getJob(job_id)["status"] == RUNNING


def test_rejects_provider_that_fell_below_the_minimum_stake(escrow, staking, job, staked_provider, worker,
                                                             deployer, snap):
    """PROTOCOL: a provider below the minimum stake cannot take new jobs, including jobs opened before it fell."""
    job_id = job(accept=False)
    bonded = staking.stakeOf(staked_provider)[0]
    staking.setParameter(0, bonded + 1, {"from": deployer})
    before = snap(job_id)
    for who in (staked_provider, worker):
        with brownie.reverts(err("JobEscrowBelowMinimumStake(address,uint256,uint256)", staked_provider, bonded,
                                 bonded + 1)):
            escrow.acceptJob(job_id, {"from": who})
    assert snap(job_id) == before
    staking.setParameter(0, bonded, {"from": deployer})  # exactly the minimum is enough
    escrow.acceptJob(job_id, {"from": worker})
    assert escrow.getJob(job_id)["status"] == RUNNING


def test_unbonding_stake_does_not_count_toward_the_minimum(escrow, staking, job, staked_provider, deployer):
    job_id = job(accept=False)
    bonded = staking.stakeOf(staked_provider)[0]
    locked = escrow.unstakeBlockers(staked_provider)[0]
    staking.requestUnstake(bonded - locked, {"from": staked_provider})
    staking.setParameter(0, locked + 1, {"from": deployer})
    with brownie.reverts(err("JobEscrowBelowMinimumStake(address,uint256,uint256)", staked_provider, locked,
                             locked + 1)):
        escrow.acceptJob(job_id, {"from": staked_provider})


def test_rejects_unknown_job(escrow, staked_provider, snap):
    before = snap()
    for job_id in (0, 1, 2**256 - 1):
        with brownie.reverts(unknown_job(job_id)):
            escrow.acceptJob(job_id, {"from": staked_provider})
    assert snap() == before


def test_rejects_running_job(escrow, job, staked_provider, worker, snap):
    job_id = job()
    before = snap(job_id)
    for who in (staked_provider, worker):
        with brownie.reverts(wrong_status(job_id, RUNNING, OPEN)):
            escrow.acceptJob(job_id, {"from": who})
    assert snap(job_id) == before


def test_rejects_cancelled_job(escrow, job, client, staked_provider, snap):
    job_id = job(accept=False)
    escrow.cancelJob(job_id, {"from": client})
    before = snap(job_id)
    with brownie.reverts(wrong_status(job_id, CANCELLED, OPEN)):
        escrow.acceptJob(job_id, {"from": staked_provider})
    assert snap(job_id) == before


def test_status_is_checked_before_the_caller(escrow, job, rando):
    job_id = job()
    with brownie.reverts(wrong_status(job_id, RUNNING, OPEN)):
        escrow.acceptJob(job_id, {"from": rando})


def test_rejected_while_paused(escrow, job, staked_provider, guardian, snap):
    job_id = job(accept=False)
    escrow.pause({"from": guardian})
    before = snap(job_id)
    with brownie.reverts(paused()):
        escrow.acceptJob(job_id, {"from": staked_provider})
    assert snap(job_id) == before
    escrow.unpause({"from": guardian})
    escrow.acceptJob(job_id, {"from": staked_provider})
    assert escrow.getJob(job_id)["status"] == RUNNING
    warp(now() + 1)
