"""Attack (audit, lower 4, the rest): governance changes the terms of running jobs.

The fee and the timeout grace were read at settlement, not fixed per job: governance (or whoever holds its key)
could cut the grace of jobs already in it, making them claimable at once and slashing providers whose receipts were
on their way, or raise the fee on work already done. Fix: a job's fee and grace are those in force when it was
accepted (the moment both sides are bound; before it the client may cancel for a full refund). A change applies to
jobs accepted from the next second on; running jobs keep theirs in settlement, in batches and in claimTimeout."""

import brownie

from tests.fixtures.contracts import FEE_BPS, TIMEOUT_GRACE

from .conftest import at, attest_r, err, events_of, now, receipt_for, sign_r, warp

FEE, GRACE = 0, 6  # JobParameter.FeeBps, JobParameter.TimeoutGrace
MIN_GRACE = 300


def set_terms(escrow, deployer, param, value):
    """Set the fee or the grace; it applies to jobs accepted from the next second on, so let that second come
    (anvil may mine several blocks in one second)."""
    escrow.setParameter(param, value, {"from": deployer})
    warp(now() + 1)


def settle_args(escrow, r, worker_key, oracle_key):
    return r.as_tuple(), sign_r(r, worker_key, escrow), attest_r([r], [oracle_key], escrow)


def fee_of(tx, job_id):
    return [e for e in events_of(tx, "JobSettled") if e["jobId"] == job_id][0]["fee"]


def test_cutting_the_grace_does_not_make_a_running_job_claimable_early(escrow, staked_provider, deployer, rando, job_at, worker_key,
                                                                       oracle_key):
    job_id = job_at(deadline_in=3600)
    deadline = escrow.getJob(job_id)["deadline"]
    r = receipt_for(escrow, job_id, gpu_seconds=600, advance=False)
    warp(deadline + MIN_GRACE + 10)
    # The job is in its grace (600 s); governance cuts the grace to the floor, 300 s, which has already passed.
    set_terms(escrow, deployer, GRACE, MIN_GRACE)
    with at(now() + 1), brownie.reverts(err("JobEscrowTimeoutNotReached(uint256,uint256,uint256)", job_id,
                                            deadline + TIMEOUT_GRACE, now() + 1)):
        escrow.claimTimeout(job_id, {"from": rando})
    # The provider's receipt, on its way, still settles within the grace it accepted under.
    escrow.settle(*settle_args(escrow, r, worker_key, oracle_key), {"from": rando})
    assert escrow.getJob(job_id)["status"] == 3  # Settled


def test_raising_the_grace_does_not_delay_a_running_jobs_timeout(escrow, staked_provider, deployer, rando, job_at):
    job_id = job_at(deadline_in=3600)
    deadline = escrow.getJob(job_id)["deadline"]
    set_terms(escrow, deployer, GRACE, 7 * 24 * 3600)
    with at(deadline + TIMEOUT_GRACE):
        escrow.claimTimeout(job_id, {"from": rando})
    assert escrow.getJob(job_id)["status"] == 5  # TimedOut


def test_raising_the_fee_does_not_tax_work_already_accepted(escrow, staked_provider, deployer, rando, job_at, worker_key, oracle_key):
    job_id = job_at()
    set_terms(escrow, deployer, FEE, 1_000)
    r = receipt_for(escrow, job_id, gpu_seconds=1000)
    tx = escrow.settle(*settle_args(escrow, r, worker_key, oracle_key), {"from": rando})
    paid = 1000 * escrow.getJob(job_id)["pricePerGpuSecond"]
    assert fee_of(tx, job_id) == paid * FEE_BPS // 10_000


def test_each_job_keeps_the_terms_of_its_acceptance_through_several_changes(escrow, staked_provider, deployer, rando, job_at,
                                                                             worker_key, oracle_key):
    """Three jobs accepted under three fees and two graces, settled together in one batch: each pays its own fee; the
    batch and the view agree; a job accepted after the last change gets the current terms."""
    a = job_at(deadline_in=3 * 3600)
    set_terms(escrow, deployer, FEE, 500)
    set_terms(escrow, deployer, GRACE, 900)
    b = job_at(deadline_in=3 * 3600)
    set_terms(escrow, deployer, FEE, 1_000)
    c = job_at(deadline_in=3 * 3600)
    opened = job_at(deadline_in=3 * 3600, accept=False)
    assert [tuple(escrow.jobFeeTerms(j)) for j in (a, b, c, opened)] == [
        (FEE_BPS, TIMEOUT_GRACE), (500, 900), (1_000, 900), (1_000, 900)]
    set_terms(escrow, deployer, FEE, 0)
    assert tuple(escrow.jobFeeTerms(opened)) == (0, 900)  # not accepted yet: what an acceptance now would fix
    receipts = [receipt_for(escrow, j, gpu_seconds=1000) for j in (a, b, c)]
    sigs = [sign_r(r, worker_key, escrow) for r in receipts]
    tx = escrow.settleBatch([r.as_tuple() for r in receipts], sigs, attest_r(receipts, [oracle_key], escrow),
                            {"from": rando})
    price = escrow.getJob(a)["pricePerGpuSecond"]
    assert [fee_of(tx, j) for j in (a, b, c)] == [1000 * price * f // 10_000 for f in (FEE_BPS, 500, 1_000)]


def test_a_receipt_late_for_its_own_grace_is_refused_with_that_grace(escrow, staked_provider, deployer, rando, job_at, worker_key,
                                                                     oracle_key):
    """The other way round: raising the grace does not revive a receipt the job's own grace already refuses."""
    job_id = job_at(deadline_in=3600)
    deadline = escrow.getJob(job_id)["deadline"]
    r = receipt_for(escrow, job_id, gpu_seconds=600, advance=False)
    set_terms(escrow, deployer, GRACE, 7 * 24 * 3600)
    late = deadline + TIMEOUT_GRACE
    with at(late), brownie.reverts(err("JobEscrowSettlementTooLate(uint256,uint256,uint256)", job_id,
                                       deadline + TIMEOUT_GRACE, late)):
        escrow.settle(*settle_args(escrow, r, worker_key, oracle_key), {"from": rando})
