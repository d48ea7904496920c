"""Attack: get paid twice, or get an invalid receipt through, inside a batch: the same job twice (even with a
bigger second claim), a job already settled, cancelled or timed out, or one invalid receipt among valid ones.

Documented behaviour (IJobEscrow.settleBatch): a receipt that cannot settle (its job no longer running, late, or
invalid in itself) is skipped with SettlementSkipped(jobId, status, reason) and changes nothing; the rest settle
(audit lower 2: one provider must not sink the others' batch; tests/security/test_batch_sinking.py). Money is checked to the wei against the provider's book, the fees and the escrow's balance.
"""

import pytest

from gpusettle.models import SkipReason
from tests.fixtures.contracts import FEE_BPS, GPU_COUNT, PRICE, TIMEOUT_GRACE
from tests.helpers.signing import Receipt

from .conftest import (
    BPS,
    CANCELLED,
    DAY,
    HOUR,
    NONE,
    RUNNING,
    SETTLED,
    TIMED_OUT,
    at,
    attest_r,
    events_of,
    now,
    receipt_for,
    sign_r,
    warp,
)


def payout(billed, price=PRICE):
    paid = billed * price
    return paid - paid * FEE_BPS // BPS, paid * FEE_BPS // BPS


@pytest.fixture(scope="module")
def batch(escrow, worker_key, oracle_key, rando):
    def _batch(receipts, sigs=None, key=None):
        sigs = sigs or [sign_r(r, key or worker_key, escrow) for r in receipts]
        return escrow.settleBatch([r.as_tuple() for r in receipts], sigs, attest_r(receipts, [oracle_key], escrow),
                                  {"from": rando})

    return _batch


def settled_ids(tx):
    return [e["jobId"] for e in events_of(tx, "JobSettled")]


def skipped(tx):
    """(jobId, status) of the receipts skipped because their job was not running."""
    evs = events_of(tx, "SettlementSkipped")
    assert all(e["reason"] == SkipReason.NOT_RUNNING for e in evs)
    return [(e["jobId"], e["status"]) for e in evs]


def test_same_job_twice_in_one_batch_is_paid_once(escrow, token, staked_provider, job_at, batch):
    job_id = job_at(max_gpu_seconds=3600)
    r = receipt_for(escrow, job_id, gpu_seconds=1000)
    escrow_balance = token.balanceOf(escrow)
    tx = batch([r, r, r])
    assert settled_ids(tx) == [job_id]
    assert skipped(tx) == [(job_id, SETTLED), (job_id, SETTLED)]
    earned, fee = payout(1000)
    rec = escrow.providerRecord(staked_provider).dict()
    assert (rec["earnings"], rec["gpuSecondsServed"], rec["jobsCompleted"]) == (earned, 1000, 1)
    assert escrow.accruedFees() == fee
    assert escrow.getJob(job_id)["refundable"] == (3600 - 1000) * PRICE
    assert token.balanceOf(escrow) == escrow_balance  # settlement credits, never pays out


@pytest.mark.parametrize("first,second", [(1000, 3600), (3600, 1000)])
def test_a_second_bigger_or_smaller_claim_for_the_same_job_is_skipped(escrow, staked_provider, job_at, batch,
                                                                      first, second):
    job_id = job_at(max_gpu_seconds=3600)
    r1 = receipt_for(escrow, job_id, gpu_seconds=first, end=escrow.getJob(job_id)["acceptedAt"] + 900)
    r2 = receipt_for(escrow, job_id, gpu_seconds=second, end=escrow.getJob(job_id)["acceptedAt"] + 900)
    tx = batch([r1, r2])
    assert [(e["jobId"], e["gpuSeconds"]) for e in events_of(tx, "JobSettled")] == [(job_id, first)]
    assert skipped(tx) == [(job_id, SETTLED)]
    assert escrow.providerRecord(staked_provider)["earnings"] == payout(first)[0]
    assert escrow.getJob(job_id)["billedGpuSeconds"] == first


def test_jobs_no_longer_running_are_skipped_and_the_rest_settle(escrow, token, staked_provider, client, rando,
                                                                job_at, batch, world):
    done = job_at()
    batch([receipt_for(escrow, done, gpu_seconds=500)])
    cancelled = job_at(accept=False)
    escrow.cancelJob(cancelled, {"from": client})
    late = job_at(deadline_in=2 * HOUR)
    warp(escrow.getJob(late)["deadline"] + TIMEOUT_GRACE)
    escrow.claimTimeout(late, {"from": rando})
    fresh = job_at()
    unknown = escrow.jobCount() + 100

    r_done = receipt_for(escrow, done, gpu_seconds=3600, start=escrow.getJob(done)["settledAt"] + 1, end=now())
    r_cancelled = Receipt(cancelled, str(staked_provider), 10, now() - 10, now(), b"\x01" * 32, 0)
    r_late = Receipt(late, str(staked_provider), 10, now() - 10, now(), b"\x02" * 32, 0)
    r_unknown = Receipt(unknown, str(staked_provider), 10, now() - 10, now(), b"\x03" * 32, 0)
    r_fresh = receipt_for(escrow, fresh, gpu_seconds=800)
    before = world()
    rec_before = escrow.providerRecord(staked_provider).dict()
    fees_before = escrow.accruedFees()

    tx = batch([r_done, r_cancelled, r_fresh, r_late, r_unknown])
    assert settled_ids(tx) == [fresh]
    assert skipped(tx) == [(done, SETTLED), (cancelled, CANCELLED), (late, TIMED_OUT), (unknown, NONE)]
    earned, fee = payout(800)
    rec = escrow.providerRecord(staked_provider).dict()
    assert rec["earnings"] == rec_before["earnings"] + earned
    assert escrow.accruedFees() == fees_before + fee
    after = world()
    assert after["balances"] == before["balances"]  # no token moved: settlement only credits
    assert [j for j in after["jobs"] if j[0] != fresh] == [j for j in before["jobs"] if j[0] != fresh]


def _bad(kind, escrow, job_id, provider2, worker, worker2):
    """An invalid receipt of kind `kind` for running job `job_id`, its worker-signing key, the reason it is skipped
    for and the timestamp the batch is mined at."""
    from tests.fixtures.accounts import WORKER2_KEY, WORKER_KEY

    j = escrow.getJob(job_id).dict()
    start = j["acceptedAt"]
    ts = now() + 5
    if kind == "worker":
        r = Receipt(job_id, str(j["provider"]), 100, start, start + 100, b"\x01" * 32, 0)
        return r, WORKER2_KEY, SkipReason.WRONG_WORKER, ts
    if kind == "gpu_seconds":
        limit = (100 + 5) * GPU_COUNT
        r = Receipt(job_id, str(j["provider"]), limit + 1, start, start + 100, b"\x01" * 32, 0)
        return r, WORKER_KEY, SkipReason.IMPOSSIBLE_GPU_SECONDS, ts
    if kind == "provider":
        r = Receipt(job_id, str(provider2), 100, start, start + 100, b"\x01" * 32, 0)
        return r, WORKER_KEY, SkipReason.WRONG_PROVIDER, ts
    if kind == "future":
        r = Receipt(job_id, str(j["provider"]), 100, start, ts + 1, b"\x01" * 32, 0)
        return r, WORKER_KEY, SkipReason.IMPOSSIBLE_TIMES, ts
    if kind == "before_accept":
        r = Receipt(job_id, str(j["provider"]), 100, start - 1, start + 100, b"\x01" * 32, 0)
        return r, WORKER_KEY, SkipReason.IMPOSSIBLE_TIMES, ts
    if kind == "outcome":
        r = Receipt(job_id, str(j["provider"]), 100, start, start + 100, b"\x01" * 32, 3)
        return r, WORKER_KEY, SkipReason.INVALID_OUTCOME, ts
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["worker", "gpu_seconds", "provider", "future", "before_accept", "outcome"])
@pytest.mark.parametrize("position", [0, 1, 2])
def test_one_invalid_receipt_is_skipped_and_the_rest_settle(escrow, staked_provider, provider2, worker, worker2,
                                                             worker_key, job_at, batch, kind, position):
    ids = [job_at() for _ in range(3)]
    warp(now() + DAY)
    rs = [receipt_for(escrow, j, gpu_seconds=400, advance=False) for j in ids]
    bad, bad_key, reason, ts = _bad(kind, escrow, ids[position], provider2, worker, worker2)
    rs[position] = bad
    sigs = [sign_r(r, bad_key if i == position else worker_key, escrow) for i, r in enumerate(rs)]
    bad_job = tuple(escrow.getJob(ids[position]))
    rec_before = escrow.providerRecord(staked_provider).dict()
    with at(ts):
        tx = batch(rs, sigs=sigs)
    good = [j for i, j in enumerate(ids) if i != position]
    assert settled_ids(tx) == good
    assert [(e["jobId"], e["status"], e["reason"]) for e in events_of(tx, "SettlementSkipped")] == [
        (ids[position], RUNNING, reason)
    ]
    assert tuple(escrow.getJob(ids[position])) == bad_job
    earned, _ = payout(400)
    assert escrow.providerRecord(staked_provider)["earnings"] == rec_before["earnings"] + 2 * earned


def test_a_late_receipt_is_skipped_and_the_rest_settle(escrow, staked_provider, job_at, batch):
    ok = job_at()
    late = job_at(deadline_in=2 * HOUR)
    r_ok = receipt_for(escrow, ok, gpu_seconds=100)
    r_late = receipt_for(escrow, late, gpu_seconds=100)
    timeout_at = escrow.getJob(late)["deadline"] + TIMEOUT_GRACE
    warp(timeout_at - 1)
    late_job = tuple(escrow.getJob(late))
    with at(timeout_at):
        tx = batch([r_ok, r_late])
    assert settled_ids(tx) == [ok]
    assert [(e["jobId"], e["status"], e["reason"]) for e in events_of(tx, "SettlementSkipped")] == [
        (late, RUNNING, SkipReason.TOO_LATE)
    ]
    assert tuple(escrow.getJob(late)) == late_job
