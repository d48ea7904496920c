"""Attacks (audit, lower 7): receipts that bill time the job never had.

- A receipt whose end time lies after the job's deadline (but before deadline + grace) settled: the provider is paid
  for work done after the time the client paid for. Now refused: end <= deadline (JobEscrowEndAfterDeadline).
- The metering tolerance (5 s per GPU) let a receipt with no wall time at all (start == end) bill 5 s x GPUs. Now the
  tolerance applies only to a run that took time: zero wall time bills zero GPU-seconds.
"""

import brownie

from tests.fixtures.contracts import GPU_COUNT, TIMEOUT_GRACE

from .conftest import RUNNING, SETTLED, at, attest_r, err, receipt_for, sign_r


def test_receipt_ending_after_the_deadline_is_refused(escrow, staked_provider, job_at, worker_key, oracle_key, rando):
    job_id = job_at(deadline_in=2 * 3600)
    j = escrow.getJob(job_id).dict()
    deadline = j["deadline"]
    assert TIMEOUT_GRACE > 10
    r = receipt_for(escrow, job_id, gpu_seconds=1000, end=deadline + 5, advance=False)
    with at(deadline + 10), brownie.reverts(
        err("JobEscrowEndAfterDeadline(uint256,uint256,uint256)", job_id, deadline + 5, deadline)
    ):
        escrow.settle(r.as_tuple(), sign_r(r, worker_key, escrow), attest_r([r], [oracle_key], escrow),
                      {"from": rando})
    assert escrow.getJob(job_id)["status"] == RUNNING


def test_receipt_with_no_wall_time_bills_nothing(escrow, staked_provider, job_at, worker_key, oracle_key, rando):
    job_id = job_at()
    start = escrow.getJob(job_id)["acceptedAt"]
    r = receipt_for(escrow, job_id, gpu_seconds=5 * GPU_COUNT, start=start, end=start)
    with brownie.reverts(err("JobEscrowImpossibleGpuSeconds(uint256,uint256,uint256)", job_id, 5 * GPU_COUNT, 0)):
        escrow.settle(r.as_tuple(), sign_r(r, worker_key, escrow), attest_r([r], [oracle_key], escrow),
                      {"from": rando})
    # the honest zero-length receipt (0 GPU-seconds) still settles
    r0 = receipt_for(escrow, job_id, gpu_seconds=0, start=start, end=start)
    escrow.settle(r0.as_tuple(), sign_r(r0, worker_key, escrow), attest_r([r0], [oracle_key], escrow),
                  {"from": rando})
    assert escrow.getJob(job_id)["status"] == SETTLED


def test_one_second_of_wall_time_keeps_the_tolerance(escrow, staked_provider, job_at, worker_key, oracle_key, rando):
    job_id = job_at()
    start = escrow.getJob(job_id)["acceptedAt"]
    r = receipt_for(escrow, job_id, gpu_seconds=6 * GPU_COUNT, start=start, end=start + 1)
    escrow.settle(r.as_tuple(), sign_r(r, worker_key, escrow), attest_r([r], [oracle_key], escrow), {"from": rando})
    assert escrow.getJob(job_id)["billedGpuSeconds"] == 6 * GPU_COUNT
