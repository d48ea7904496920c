"""Attack (audit, lower 2): one provider sinks a mixed batch.

Sequence: the oracle posts one settleBatch for receipts of several providers. Provider B watches the mempool and
front-runs it with `setWorker(newKey)`: B's receipts no longer carry its current worker key's signature, and the whole
batch used to revert (JobEscrowInvalidWorkerSignature), so every other provider's receipts waited with it, and B could
repeat that for each retry. A receipt that became late (deadline + grace passed while the batch waited), one naming the
wrong provider, one with impossible numbers or an end after the deadline did the same.

What stops it (docs/PROTOCOL.md, "Settlement"): in a batch, a receipt that cannot settle is skipped with
SettlementSkipped(jobId, status, reason) and changes nothing; the rest settle. Faults of the batch itself (its
attestation, its lengths, a settlement pause) still revert it, and a single `settle` still reverts with the
receipt's own error.
"""

import brownie
import pytest
from eth_account import Account

from gpusettle.models import SkipReason
from tests.fixtures.accounts import WORKER2_KEY, WORKER_KEY
from tests.fixtures.contracts import FEE_BPS, GPU_COUNT, PRICE, PROVIDER_STAKE, TIMEOUT_GRACE
from tests.helpers.signing import Receipt, receipts_hash

from .conftest import (
    BPS,
    DAY,
    HOUR,
    RUNNING,
    SETTLED,
    TIMED_OUT,
    at,
    attest_r,
    book_of,
    err,
    events_of,
    now,
    recover,
    sign_r,
    warp,
)

NEW_KEY = "0x" + "b2" * 32  # throwaway: provider B's rotated worker key


@pytest.fixture(scope="module")
def offer_b(funded, token, staking, escrow, provider2, worker2):
    """Provider B (provider2): staked, worker key worker2, a 4-GPU offer at the same price; its id."""
    token.approve(staking, PROVIDER_STAKE, {"from": provider2})
    staking.stake(PROVIDER_STAKE, {"from": provider2})
    staking.setWorker(worker2, {"from": provider2})
    return staking.addOffer("NVIDIA A100 40GB", GPU_COUNT, 40, PRICE, "ipfs://b", {"from": provider2}).events[
        "OfferAdded"
    ]["offerId"]


@pytest.fixture(scope="module")
def post(escrow, oracle_key, rando):
    """settleBatch as the oracle sends it: each receipt signed by the key given for it (default: its provider's
    worker key at the time it ran), one attestation over all."""

    def _post(receipts, keys):
        sigs = [sign_r(r, k, escrow) for r, k in zip(receipts, keys)]
        return escrow.settleBatch(
            [r.as_tuple() for r in receipts], sigs, attest_r(receipts, [oracle_key], escrow), {"from": rando}
        )

    return _post


def key_of(escrow, job_id):
    return WORKER_KEY if escrow.getJob(job_id)["offerId"] == 1 else WORKER2_KEY


def honest(escrow, job_id, seconds=100, end=None):
    j = escrow.getJob(job_id).dict()
    start = j["acceptedAt"]
    end = end if end is not None else start + seconds
    return Receipt(job_id, str(j["provider"]), seconds * j["gpuCount"], start, end, b"\x11" * 32, 0)


def settled_ids(tx):
    return [e["jobId"] for e in events_of(tx, "JobSettled")]


def skips(tx):
    return [(e["jobId"], e["status"], e["reason"]) for e in events_of(tx, "SettlementSkipped")]


def earned(billed):
    paid = billed * PRICE
    return paid - paid * FEE_BPS // BPS


def job_view(escrow, job_id):
    return tuple(escrow.getJob(job_id))


def book(escrow, staking, provider):
    """The provider's record and stake, and what blocks its unstaking (the dispute window runs from its last
    settlement: a skipped receipt must not move it)."""
    return book_of(escrow, staking, provider), tuple(escrow.unstakeBlockers(provider))


def test_rotating_the_worker_key_before_the_batch_lands_sinks_only_ones_own_receipts(
    escrow, staking, staked_provider, provider2, offer_b, job_at, post
):
    a = [job_at(offer_id=1) for _ in range(3)]
    b = [job_at(offer_id=offer_b) for _ in range(2)]
    order = [a[0], b[0], a[1], b[1], a[2]]
    warp(now() + HOUR)
    rs = [honest(escrow, j) for j in order]
    keys = [key_of(escrow, j) for j in order]
    b_book, b_jobs = book(escrow, staking, provider2), [job_view(escrow, j) for j in b]
    a_earnings = escrow.providerRecord(staked_provider)["earnings"]

    # B front-runs the oracle's batch with a new worker key: its receipts' signatures are no longer its worker's.
    staking.setWorker(Account.from_key(NEW_KEY).address, {"from": provider2})
    tx = post(rs, keys)

    assert tx.return_value == 3
    assert settled_ids(tx) == a
    assert skips(tx) == [(j, RUNNING, SkipReason.WRONG_WORKER) for j in b]
    assert escrow.providerRecord(staked_provider)["earnings"] == a_earnings + 3 * earned(100 * GPU_COUNT)
    # The skipped receipts changed nothing: B's jobs still run, B's book is as it was.
    assert [job_view(escrow, j) for j in b] == b_jobs
    assert book(escrow, staking, provider2) == b_book
    # B's jobs can still settle, signed by B's current key.
    tx2 = post([rs[1], rs[3]], [NEW_KEY, NEW_KEY])
    assert settled_ids(tx2) == b and skips(tx2) == []


def test_single_settle_still_reverts_with_the_signature_error(escrow, staking, provider2, worker2, offer_b, job_at,
                                                              oracle_key, rando):
    j = job_at(offer_id=offer_b)
    r = honest(escrow, j)
    warp(r.endTime + 1)
    new = Account.from_key(NEW_KEY).address
    staking.setWorker(new, {"from": provider2})
    with brownie.reverts(err("JobEscrowInvalidWorkerSignature(uint256,address,address)", j, worker2, new)):
        escrow.settle(r.as_tuple(), sign_r(r, WORKER2_KEY, escrow), attest_r([r], [oracle_key], escrow),
                      {"from": rando})
    assert escrow.getJob(j)["status"] == RUNNING


def test_a_receipt_that_became_late_is_skipped_and_the_rest_settle(escrow, staking, staked_provider, offer_b, job_at,
                                                                   post, rando, client):
    late = job_at(offer_id=offer_b, deadline_in=2 * HOUR)
    on_time = [job_at(offer_id=1, deadline_in=10 * DAY), job_at(offer_id=offer_b, deadline_in=10 * DAY)]
    rs = [honest(escrow, on_time[0]), honest(escrow, late), honest(escrow, on_time[1])]
    timeout_at = escrow.getJob(late)["deadline"] + TIMEOUT_GRACE
    late_view = job_view(escrow, late)
    warp(timeout_at - 1)

    with at(timeout_at):
        tx = post(rs, [key_of(escrow, r.jobId) for r in rs])

    assert tx.return_value == 2
    assert settled_ids(tx) == on_time
    assert skips(tx) == [(late, RUNNING, SkipReason.TOO_LATE)]
    assert job_view(escrow, late) == late_view
    # The late job belongs to the timeout path, which still works.
    escrow.claimTimeout(late, {"from": rando})
    assert escrow.getJob(late)["status"] == TIMED_OUT


def _faulty(kind, escrow, job_id, providers, ts):
    """A receipt for running job `job_id` with per-receipt fault `kind`, its signing key, the reason it is skipped
    for in a batch, and the error `settle` reverts with for it (when mined at `ts`)."""
    j = escrow.getJob(job_id).dict()
    start, deadline, key = j["acceptedAt"], j["deadline"], key_of(escrow, job_id)
    p = str(j["provider"])
    if kind == "provider":
        other = next(str(q) for q in providers if str(q) != p)
        r = Receipt(job_id, other, 100, start, start + 100, b"\x01" * 32, 0)
        e = err("JobEscrowWrongProvider(uint256,address,address)", job_id, p, other)
        return r, key, SkipReason.WRONG_PROVIDER, e
    if kind == "signature":
        r = Receipt(job_id, p, 100, start, start + 100, b"\x01" * 32, 0)
        other = WORKER2_KEY if key == WORKER_KEY else WORKER_KEY
        e = err("JobEscrowInvalidWorkerSignature(uint256,address,address)", job_id,
                Account.from_key(other).address, Account.from_key(key).address)
        return r, other, SkipReason.WRONG_WORKER, e
    if kind == "future":
        # Still in the future when the batch lands at ts + 1.
        r = Receipt(job_id, p, 100, start, ts + 5, b"\x01" * 32, 0)
        e = err("JobEscrowImpossibleTimes(uint256,uint256,uint256,uint256,uint256)", job_id, start, ts + 5, start, ts)
        return r, key, SkipReason.IMPOSSIBLE_TIMES, e
    if kind == "before_accept":
        r = Receipt(job_id, p, 100, start - 1, start + 100, b"\x01" * 32, 0)
        e = err("JobEscrowImpossibleTimes(uint256,uint256,uint256,uint256,uint256)", job_id, start - 1, start + 100,
                start, ts)
        return r, key, SkipReason.IMPOSSIBLE_TIMES, e
    if kind == "after_deadline":
        r = Receipt(job_id, p, 100, start, deadline + 1, b"\x01" * 32, 0)
        e = err("JobEscrowEndAfterDeadline(uint256,uint256,uint256)", job_id, deadline + 1, deadline)
        return r, key, SkipReason.END_AFTER_DEADLINE, e
    if kind == "gpu_seconds":
        limit = (100 + 5) * j["gpuCount"]
        r = Receipt(job_id, p, limit + 1, start, start + 100, b"\x01" * 32, 0)
        e = err("JobEscrowImpossibleGpuSeconds(uint256,uint256,uint256)", job_id, limit + 1, limit)
        return r, key, SkipReason.IMPOSSIBLE_GPU_SECONDS, e
    if kind == "outcome":
        r = Receipt(job_id, p, 100, start, start + 100, b"\x01" * 32, 3)
        return r, key, SkipReason.INVALID_OUTCOME, err("JobEscrowInvalidOutcome(uint256,uint8)", job_id, 3)
    raise AssertionError(kind)


KINDS = ["provider", "signature", "future", "before_accept", "after_deadline", "gpu_seconds", "outcome"]


@pytest.mark.parametrize("kind", KINDS)
def test_one_faulty_receipt_is_skipped_with_its_reason_and_the_rest_settle(escrow, staking, staked_provider, provider2,
                                                                           offer_b, job_at, post, oracle_key, rando,
                                                                           kind):
    # Short deadlines, so a receipt can end after one while the batch is still in the grace.
    ids = [job_at(offer_id=1, deadline_in=2 * HOUR), job_at(offer_id=offer_b, deadline_in=2 * HOUR),
           job_at(offer_id=1, deadline_in=2 * HOUR)]
    bad_id = ids[1]
    deadline = escrow.getJob(bad_id)["deadline"]
    ts = deadline + 10
    warp(ts - 5)
    rs = [honest(escrow, j) for j in ids]
    keys = [key_of(escrow, j) for j in ids]
    bad, bad_key, reason, error = _faulty(kind, escrow, bad_id, (staked_provider, provider2), ts)
    rs[1], keys[1] = bad, bad_key
    bad_view = job_view(escrow, bad_id)

    # A single settle of the faulty receipt reverts with its own error.
    with at(ts), brownie.reverts(error):
        escrow.settle(bad.as_tuple(), sign_r(bad, bad_key, escrow), attest_r([bad], [oracle_key], escrow),
                      {"from": rando})
    b_book = book(escrow, staking, provider2)
    with at(ts + 1):
        tx = post(rs, keys)
    assert tx.return_value == 2
    assert settled_ids(tx) == [ids[0], ids[2]]
    assert skips(tx) == [(bad_id, RUNNING, reason)]
    assert job_view(escrow, bad_id) == bad_view
    assert book(escrow, staking, provider2) == b_book


@pytest.mark.parametrize("fault", ["attestation", "length", "paused"])
def test_faults_of_the_batch_itself_still_revert_it(escrow, staking, offer_b, job_at, oracle_key, rando, guardian,
                                                    world, fault):
    ids = [job_at(offer_id=1), job_at(offer_id=offer_b)]
    warp(now() + HOUR)
    rs = [honest(escrow, j) for j in ids]
    sigs = [sign_r(r, key_of(escrow, r.jobId), escrow) for r in rs]
    att = attest_r(rs, [oracle_key], escrow)
    receipts = [r.as_tuple() for r in rs]
    if fault == "attestation":
        # Signed over the receipts in another order: it recovers to some key that is no oracle.
        att = attest_r(rs[::-1], [oracle_key], escrow)
        epoch = escrow.oracleSet()[2]
        digest = escrow.attestationDigest(receipts_hash(rs), epoch)
        expected = err("JobEscrowNotOracle(address,uint64)", recover(digest, att[0]), epoch)
    elif fault == "length":
        sigs, expected = sigs[:1], err("JobEscrowLengthMismatch(uint256,uint256)", 2, 1)
    else:
        escrow.pauseSettlement({"from": guardian})
        expected = err("JobEscrowSettlementPaused()")
    before = world()
    with brownie.reverts(expected):
        escrow.settleBatch(receipts, sigs, att, {"from": rando})
    assert world() == before
    assert [escrow.getJob(j)["status"] for j in ids] == [RUNNING, RUNNING]


def test_a_skipped_job_already_settled_is_reported_as_not_running(escrow, offer_b, job_at, post):
    j = job_at(offer_id=offer_b)
    warp(now() + HOUR)
    r = honest(escrow, j)
    post([r], [WORKER2_KEY])
    tx = post([r], [WORKER2_KEY])
    assert tx.return_value == 0
    assert skips(tx) == [(j, SETTLED, SkipReason.NOT_RUNNING)]

