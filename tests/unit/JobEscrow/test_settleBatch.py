"""settleBatch: one attestation over many receipts, settled in order; a receipt that cannot settle is skipped with
SettlementSkipped(jobId, status, reason) and the rest settle (jobs no longer running, so a retried batch is harmless;
late or invalid receipts, so one provider cannot sink the batch). Faults of the batch itself revert it."""

import brownie
import pytest
from eth_utils import keccak

from gpusettle.models import SkipReason
from tests.fixtures.contracts import FEE_BPS, PRICE, TIMEOUT_GRACE, TIMEOUT_SLASH_BPS
from tests.helpers.signing import COMPLETED, FAILED_CLIENT, FAILED_PROVIDER, Receipt, receipts_hash

from .conftest import (
    BPS,
    CANCELLED,
    DAY,
    NONE,
    OPEN,
    PRICE2,
    RUNNING,
    SETTLED,
    TIMED_OUT,
    at,
    dispute_reserve,
    err,
    events,
    expect_event,
    no_event,
    now,
    recover,
    warp,
)


def paid(billed, price):
    p = billed * price
    return p - p * FEE_BPS // BPS, p * FEE_BPS // BPS


def skipped(tx):
    """(jobId, status) of the receipts skipped because their job was not running."""
    evs = events(tx, "SettlementSkipped")
    assert all(e["reason"] == SkipReason.NOT_RUNNING for e in evs)
    return [(e["jobId"], e["status"]) for e in evs]


def test_settles_every_receipt(escrow, token, job, receipt, batch_args, rando, staked_provider, snap):
    ids = [job(max_gpu_seconds=3600) for _ in range(4)]
    billed = [100, 3600, 1, 2500]
    rs = [receipt(j, gpu_seconds=b) for j, b in zip(ids, billed)]
    before = snap(*ids)
    tx = escrow.settleBatch(*batch_args(rs), {"from": rando})
    assert tx.return_value == 4
    got = events(tx, "JobSettled")
    assert got == [{"jobId": j, "gpuSeconds": b, "payout": paid(b, PRICE)[0], "fee": paid(b, PRICE)[1],
                    "outcome": COMPLETED, "reserve": dispute_reserve(escrow, j)} for j, b in zip(ids, billed)]
    no_event(tx, "Transfer")
    rec = escrow.providerRecord(staked_provider).dict()
    assert rec["earnings"] == sum(paid(b, PRICE)[0] for b in billed)
    assert rec["gpuSecondsServed"] == sum(billed)
    assert rec["jobsCompleted"] == 4 and rec["jobsFailed"] == 0
    assert rec["lockedCollateral"] == sum(dispute_reserve(escrow, j) for j in ids)  # dispute reserves
    assert escrow.accruedFees() == sum(paid(b, PRICE)[1] for b in billed)
    for j, b in zip(ids, billed):
        v = escrow.getJob(j).dict()
        assert (v["status"], v["billedGpuSeconds"], v["settledAt"]) == (SETTLED, b, tx.timestamp)
        assert v["refundable"] == (3600 - b) * PRICE
    assert token.balanceOf(escrow) == before["balances"][-2]


def test_interleaved_providers_are_booked_separately(escrow, token, job, receipt, batch_args, rando,
                                                     staked_provider, provider2, offer2):
    a1, b1, a2, b2, a3 = (job(max_gpu_seconds=3000), job(max_gpu_seconds=2000, offer_id=offer2),
                          job(max_gpu_seconds=3000), job(max_gpu_seconds=2000, offer_id=offer2),
                          job(max_gpu_seconds=3000))
    rs = [receipt(a1, gpu_seconds=1000), receipt(b1, gpu_seconds=2000), receipt(a2, gpu_seconds=500,
                                                                                 outcome=FAILED_CLIENT),
          receipt(b2, gpu_seconds=777, outcome=FAILED_PROVIDER), receipt(a3, gpu_seconds=3333)]
    tx = escrow.settleBatch(*batch_args(rs), {"from": rando})
    assert tx.return_value == 5
    a_billed, b_billed = [1000, 500, 3000], [2000, 0]
    ra, rb = escrow.providerRecord(staked_provider).dict(), escrow.providerRecord(provider2).dict()
    assert ra["earnings"] == sum(paid(b, PRICE)[0] for b in a_billed)
    assert rb["earnings"] == sum(paid(b, PRICE2)[0] for b in b_billed)
    # FailedClient is not the provider's failure; FailedProvider is
    assert (ra["jobsCompleted"], ra["jobsFailed"], ra["gpuSecondsServed"]) == (2, 0, 4500)
    assert (rb["jobsCompleted"], rb["jobsFailed"], rb["gpuSecondsServed"]) == (1, 1, 2000)
    assert (ra["valuePaid"], rb["valuePaid"]) == (4500 * PRICE, 2000 * PRICE2)
    reserved = [sum(dispute_reserve(escrow, r.jobId, r.outcome) for r in rs if r.provider == str(p))
                for p in (staked_provider, provider2)]
    assert (ra["lockedCollateral"], rb["lockedCollateral"]) == tuple(reserved)
    assert escrow.accruedFees() == (sum(paid(b, PRICE)[1] for b in a_billed)
                                    + sum(paid(b, PRICE2)[1] for b in b_billed))
    assert [e["outcome"] for e in events(tx, "JobSettled")] == [COMPLETED, COMPLETED, FAILED_CLIENT,
                                                                FAILED_PROVIDER, COMPLETED]
    # Issue 8, lower finding 7: b2's FailedProvider receipt costs provider2 its timeout slash, held for the client
    # because b1, settled earlier in the batch, is disputable.
    slash = escrow.getJob(b2)["collateral"] * TIMEOUT_SLASH_BPS // BPS
    assert events(tx, "FailedProviderSlashed") == [{"jobId": b2, "provider": provider2.address.lower(),
                                                    "amount": slash}]
    assert [(e["jobId"], e["amount"]) for e in events(tx, "TimeoutSlashHeld")] == [(b2, slash)]
    assert escrow.heldSlashes(provider2)[0] == slash


def test_same_job_twice_is_paid_once(escrow, job, receipt, batch_args, rando, staked_provider):
    j = job()
    r = receipt(j, gpu_seconds=1000)
    tx = escrow.settleBatch(*batch_args([r, r]), {"from": rando})
    assert tx.return_value == 1
    assert len(events(tx, "JobSettled")) == 1
    assert skipped(tx) == [(j, SETTLED)]
    assert escrow.providerRecord(staked_provider)["earnings"] == paid(1000, PRICE)[0]
    assert escrow.accruedFees() == paid(1000, PRICE)[1]


def test_same_job_with_two_different_receipts_is_paid_once(escrow, job, receipt, batch_args, rando,
                                                            staked_provider):
    j = job()
    r1 = receipt(j, gpu_seconds=1000)
    r2 = Receipt(*r1.as_tuple())
    r2.gpuSeconds = 2000
    r2.endTime = r1.startTime + 500
    warp(r2.endTime + 1)
    tx = escrow.settleBatch(*batch_args([r1, r2]), {"from": rando})
    assert tx.return_value == 1
    assert skipped(tx) == [(j, SETTLED)]
    assert escrow.getJob(j)["billedGpuSeconds"] == 1000
    assert escrow.providerRecord(staked_provider)["earnings"] == paid(1000, PRICE)[0]


def test_retried_batch_moves_nothing(escrow, job, receipt, batch_args, rando, staked_provider, snap):
    ids = [job() for _ in range(3)]
    args = batch_args([receipt(j) for j in ids])
    escrow.settleBatch(*args, {"from": rando})
    before = snap(*ids)
    tx = escrow.settleBatch(*args, {"from": rando})
    assert tx.return_value == 0
    assert skipped(tx) == [(j, SETTLED) for j in ids]
    no_event(tx, "JobSettled")
    no_event(tx, "Transfer")
    assert snap(*ids) == before


def test_single_settle_then_batch_skips(escrow, job, receipt, settle, batch_args, rando, snap):
    j = job()
    r = receipt(j)
    settle(r)
    before = snap(j)
    tx = escrow.settleBatch(*batch_args([r]), {"from": rando})
    assert tx.return_value == 0 and skipped(tx) == [(j, SETTLED)]
    assert snap(j) == before


def test_jobs_not_running_are_skipped_and_the_rest_settle(escrow, job, receipt, batch_args, client, rando,
                                                           staked_provider):
    cancelled = job(accept=False)
    escrow.cancelJob(cancelled, {"from": client})
    opened = job(accept=False)
    timed_out = job(deadline_in=DAY)
    warp(escrow.getJob(timed_out)["deadline"] + TIMEOUT_GRACE)
    escrow.claimTimeout(timed_out, {"from": rando})
    live = job()
    t = now()
    stale = [Receipt(x, str(staked_provider), 4, t, t, b"\x01" * 32, COMPLETED)
             for x in (cancelled, opened, timed_out, 999)]
    rs = stale[:2] + [receipt(live, gpu_seconds=600)] + stale[2:]
    tx = escrow.settleBatch(*batch_args(rs), {"from": rando})
    assert tx.return_value == 1
    assert skipped(tx) == [(cancelled, CANCELLED), (opened, OPEN), (timed_out, TIMED_OUT), (999, NONE)]
    expect_event(tx, "JobSettled", jobId=live, gpuSeconds=600, payout=paid(600, PRICE)[0], fee=paid(600, PRICE)[1],
                 outcome=COMPLETED, reserve=dispute_reserve(escrow, live))
    assert escrow.getJob(opened)["status"] == OPEN
    assert escrow.jobCount() == 4


def test_works_while_paused(escrow, job, receipt, batch_args, rando, guardian):
    ids = [job() for _ in range(2)]
    escrow.pause({"from": guardian})
    tx = escrow.settleBatch(*batch_args([receipt(j) for j in ids]), {"from": rando})
    assert tx.return_value == 2


def test_single_receipt_attestations_are_interchangeable(escrow, job, receipt, sign, attest, rando):
    # settle attests keccak256(structHash), which is the batch hash of a one-receipt batch
    j = job()
    r = receipt(j)
    tx = escrow.settleBatch([r.as_tuple()], [sign(r)], attest([r]), {"from": rando})
    assert tx.return_value == 1


# --------------------------------------------------------------------- reverts


def test_rejects_empty_batch(escrow, rando, attest, staked_provider, snap):
    before = snap()
    with brownie.reverts(err("JobEscrowEmptyBatch()")):
        escrow.settleBatch([], [], [], {"from": rando})
    assert snap() == before


@pytest.mark.parametrize("n_receipts,n_sigs", [(2, 1), (1, 2), (3, 0)])
def test_rejects_length_mismatch(escrow, job, receipt, batch_args, rando, snap, n_receipts, n_sigs):
    ids = [job() for _ in range(max(n_receipts, n_sigs))]
    rs = [receipt(j) for j in ids]
    receipts, sigs, _ = batch_args(rs)
    att = batch_args(rs[:n_receipts])[2]
    before = snap(*ids)
    with brownie.reverts(err("JobEscrowLengthMismatch(uint256,uint256)", n_receipts, n_sigs)):
        escrow.settleBatch(receipts[:n_receipts], sigs[:n_sigs], att, {"from": rando})
    assert snap(*ids) == before


def refused_only(tx, escrow, bad_id, reason, good_ids, bad_before):
    """The batch settled `good_ids` and skipped `bad_id` for `reason`, leaving that job as it was."""
    assert tx.return_value == len(good_ids)
    assert [e["jobId"] for e in events(tx, "JobSettled")] == good_ids
    assert [(e["jobId"], e["status"], e["reason"]) for e in events(tx, "SettlementSkipped")] == [
        (bad_id, RUNNING, reason)
    ]
    assert tuple(escrow.getJob(bad_id)) == bad_before


def test_one_bad_worker_signature_is_skipped(escrow, job, receipt, batch_args, rando):
    ids = [job() for _ in range(3)]
    rs = [receipt(j) for j in ids]
    receipts, sigs, att = batch_args(rs)
    sigs[2] = sigs[0]  # job 1's signature on job 3's receipt
    before = tuple(escrow.getJob(ids[2]))
    tx = escrow.settleBatch(receipts, sigs, att, {"from": rando})
    refused_only(tx, escrow, ids[2], SkipReason.WRONG_WORKER, ids[:2], before)


def test_one_impossible_receipt_is_skipped(escrow, job, receipt, batch_args, rando):
    ids = [job() for _ in range(3)]
    rs = [receipt(j) for j in ids]
    rs[1].gpuSeconds = (rs[1].endTime - rs[1].startTime + 5) * 4 + 1
    before = tuple(escrow.getJob(ids[1]))
    tx = escrow.settleBatch(*batch_args(rs), {"from": rando})
    refused_only(tx, escrow, ids[1], SkipReason.IMPOSSIBLE_GPU_SECONDS, [ids[0], ids[2]], before)


def test_one_wrong_provider_is_skipped(escrow, job, receipt, batch_args, rando, staked_provider, offer2):
    ids = [job(), job(offer_id=offer2)]
    rs = [receipt(ids[0]), receipt(ids[1], provider=staked_provider)]
    before = tuple(escrow.getJob(ids[1]))
    tx = escrow.settleBatch(*batch_args(rs), {"from": rando})
    refused_only(tx, escrow, ids[1], SkipReason.WRONG_PROVIDER, ids[:1], before)


def test_receipt_signed_by_the_other_providers_worker_is_skipped(escrow, job, receipt, sign, attest, rando,
                                                                 worker2_key, offer2, provider2):
    ids = [job(offer_id=offer2), job()]
    rs = [receipt(ids[0]), receipt(ids[1])]
    sigs = [sign(rs[0], key=worker2_key), sign(rs[1], key=worker2_key)]
    before = tuple(escrow.getJob(ids[1]))
    tx = escrow.settleBatch([r.as_tuple() for r in rs], sigs, attest(rs), {"from": rando})
    refused_only(tx, escrow, ids[1], SkipReason.WRONG_WORKER, ids[:1], before)


def test_invalid_outcome_is_skipped(escrow, job, receipt, batch_args, rando):
    ids = [job() for _ in range(2)]
    rs = [receipt(ids[0]), receipt(ids[1], outcome=7)]
    before = tuple(escrow.getJob(ids[1]))
    tx = escrow.settleBatch(*batch_args(rs), {"from": rando})
    refused_only(tx, escrow, ids[1], SkipReason.INVALID_OUTCOME, ids[:1], before)


def test_attestation_binds_order_and_membership(escrow, job, receipt, batch_args, rando, snap):
    ids = [job() for _ in range(3)]
    rs = [receipt(j) for j in ids]
    receipts, sigs, _ = batch_args(rs)
    before = snap(*ids)
    for attested in (list(reversed(rs)), rs[:2], rs + rs[:1]):
        att = batch_args(attested)[2]
        digest = escrow.attestationDigest(receipts_hash(rs), escrow.oracleSet()[2])
        with brownie.reverts(err("JobEscrowNotOracle(address,uint64)", recover(digest, att[0]), 1)):
            escrow.settleBatch(receipts, sigs, att, {"from": rando})
    assert snap(*ids) == before


def test_rejects_missing_attestation(escrow, job, receipt, batch_args, rando, snap):
    ids = [job() for _ in range(2)]
    receipts, sigs, _ = batch_args([receipt(j) for j in ids])
    before = snap(*ids)
    with brownie.reverts(err("JobEscrowAttestationBelowThreshold(uint256,uint256)", 0, 1)):
        escrow.settleBatch(receipts, sigs, [], {"from": rando})
    assert snap(*ids) == before


def test_attestation_is_checked_even_when_everything_would_be_skipped(escrow, job, receipt, batch_args, rando,
                                                                       snap):
    j = job()
    args = batch_args([receipt(j)])
    escrow.settleBatch(*args, {"from": rando})
    before = snap(j)
    with brownie.reverts(err("JobEscrowAttestationBelowThreshold(uint256,uint256)", 0, 1)):
        escrow.settleBatch(args[0], args[1], [], {"from": rando})
    assert snap(j) == before


def test_receipts_hash_is_over_struct_hashes_in_order(escrow, job, receipt):
    rs = [receipt(job()) for _ in range(3)]
    expected = keccak(b"".join(r.struct_hash() for r in rs))
    assert receipts_hash(rs) == expected
    assert escrow.attestationDigest(expected, 1) != escrow.attestationDigest(receipts_hash(rs[::-1]), 1)


def test_one_late_receipt_is_skipped(escrow, job, receipt, batch_args, rando):
    early = job(deadline_in=DAY)
    on_time = job(deadline_in=10 * DAY)
    rs = [receipt(on_time), receipt(early)]
    timeout_at = escrow.getJob(early)["deadline"] + TIMEOUT_GRACE
    before = tuple(escrow.getJob(early))
    with at(timeout_at):
        tx = escrow.settleBatch(*batch_args(rs), {"from": rando})
    refused_only(tx, escrow, early, SkipReason.TOO_LATE, [on_time], before)
