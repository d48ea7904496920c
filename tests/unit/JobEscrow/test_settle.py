"""settle: one receipt, signed by the provider's current worker key and attested by the oracle quorum.
Money is checked to the wei: payout = billed x price - fee, fee = floor(billed x price x feeBps / 10000),
refund = (max - billed) x price; every revert path with its values and nothing moved after it."""

import brownie
import pytest
from eth_account import Account
from eth_utils import keccak

from tests.fixtures.contracts import (COLLATERAL_BPS, DISPUTE_WINDOW, FEE_BPS, GPU_COUNT, PRICE, TIMEOUT_GRACE,
                                      TIMEOUT_SLASH_BPS)
from tests.helpers.signing import COMPLETED, FAILED_CLIENT, FAILED_PROVIDER, SECP256K1_N, Receipt

from .conftest import (BPS, CANCELLED, DAY, GPU_COUNT2, ODD_PRICE, OPEN, PRICE2, RUNNING, SETTLED, TIMED_OUT,
                       ZERO, at, err, expect_event, malleable_pair, no_event, now, recover, unknown_job, warp,
                       wrong_status, dispute_reserve)

TOLERANCE = 5


def money(billed, price=PRICE, fee_bps=FEE_BPS):
    paid = billed * price
    fee = paid * fee_bps // BPS
    return paid - fee, fee


def check_settled(escrow, token, tx, job_id, billed, outcome, provider, before, price=PRICE, fee_bps=FEE_BPS,
                  max_gpu_seconds=3600):
    """The settlement credited exactly what it should and moved no tokens."""
    payout, fee = money(billed, price, fee_bps)
    reserve = dispute_reserve(escrow, job_id, outcome)
    j = escrow.getJob(job_id).dict()
    # A FailedProvider receipt's JobSettled names the collateral, released in the same transaction.
    expect_event(tx, "JobSettled", jobId=job_id, gpuSeconds=billed, payout=payout, fee=fee, outcome=outcome,
                 reserve=j["collateral"] if outcome == FAILED_PROVIDER else reserve)
    if outcome != FAILED_PROVIDER:  # a FailedProvider receipt's slash goes from the staking contract to the client
        no_event(tx, "Transfer")  # pull payments: nothing leaves the escrow at settlement
    no_event(tx, "SettlementSkipped")
    j = escrow.getJob(job_id).dict()
    assert j["status"] == SETTLED
    assert j["billedGpuSeconds"] == billed
    assert j["settledAt"] == tx.timestamp
    assert j["refundable"] == (max_gpu_seconds - billed) * price
    assert (j["acceptedAt"], j["deadline"], j["acceptBy"]) == (0, 0, 0)
    rec = escrow.providerRecord(provider).dict()
    assert rec["earnings"] == before["earnings"] + payout
    assert rec["gpuSecondsServed"] == before["gpuSecondsServed"] + billed
    # the record counts completed jobs that billed something, and the provider's own failures only
    assert rec["jobsCompleted"] == before["jobsCompleted"] + (1 if outcome == COMPLETED and billed else 0)
    assert rec["jobsFailed"] == before["jobsFailed"] + (1 if outcome == FAILED_PROVIDER else 0)
    assert rec["valuePaid"] == before.get("valuePaid", rec["valuePaid"] - billed * price) + billed * price
    # the collateral stays locked, raised to what the job paid: the job's dispute reserve until its window closes
    # (a FailedProvider receipt's is unlocked at once)
    assert rec["lockedCollateral"] == before["lockedCollateral"] + reserve - j["collateral"]
    assert escrow.accruedFees() == before["fees"] + fee
    assert token.balanceOf(escrow) == before["escrow_balance"]
    return payout, fee


@pytest.fixture(scope="module")
def book(escrow, token):
    def _book(provider):
        rec = escrow.providerRecord(provider).dict()
        rec["fees"] = escrow.accruedFees()
        rec["escrow_balance"] = token.balanceOf(escrow)
        return rec

    return _book


# ----------------------------------------------------------- money, exactly


@pytest.mark.parametrize("billed", [1, 999, 1000, 3599, 3600])
def test_completed_pays_billed_seconds_less_fee(escrow, token, job, receipt, settle, staked_provider, book,
                                                billed):
    job_id = job(max_gpu_seconds=3600)
    r = receipt(job_id, gpu_seconds=billed)
    before = book(staked_provider)
    tx = settle(r)
    check_settled(escrow, token, tx, job_id, billed, COMPLETED, staked_provider, before)


def test_fee_rounds_down(escrow, token, job, receipt, settle, staked_provider, odd_offer, book):
    # 13 GPU-seconds at 7 wei: 91 paid, fee 91 x 2.5% = 2.275 -> 2, payout 89
    job_id = job(max_gpu_seconds=50, offer_id=odd_offer)
    before = book(staked_provider)
    tx = settle(receipt(job_id, gpu_seconds=13))
    payout, fee = check_settled(escrow, token, tx, job_id, 13, COMPLETED, staked_provider, before, price=ODD_PRICE,
                                max_gpu_seconds=50)
    assert (payout, fee) == (89, 2)
    assert escrow.getJob(job_id)["refundable"] == 37 * ODD_PRICE


def test_tiny_payment_pays_no_fee(escrow, token, job, receipt, settle, staked_provider, odd_offer, book):
    # 5 GPU-seconds at 7 wei = 35: 35 x 2.5% = 0.875 -> no fee at all
    job_id = job(max_gpu_seconds=5, offer_id=odd_offer)
    before = book(staked_provider)
    payout, fee = check_settled(escrow, token, settle(receipt(job_id, gpu_seconds=5)), job_id, 5, COMPLETED,
                                staked_provider, before, price=ODD_PRICE, max_gpu_seconds=5)
    assert (payout, fee) == (35, 0)


def test_failed_client_pays_metered_seconds(escrow, token, job, receipt, settle, staked_provider, book):
    job_id = job(max_gpu_seconds=3600)
    before = book(staked_provider)
    tx = settle(receipt(job_id, gpu_seconds=700, outcome=FAILED_CLIENT))
    check_settled(escrow, token, tx, job_id, 700, FAILED_CLIENT, staked_provider, before)


def test_failed_provider_pays_nothing_and_refunds_everything(escrow, token, staking, job, receipt, settle,
                                                             staked_provider, client, book):
    job_id = job(max_gpu_seconds=3600)
    before = book(staked_provider)
    bonded, client_balance = staking.stakeOf(staked_provider)[0], token.balanceOf(client)
    tx = settle(receipt(job_id, gpu_seconds=2000, outcome=FAILED_PROVIDER))
    check_settled(escrow, token, tx, job_id, 0, FAILED_PROVIDER, staked_provider, before)
    assert escrow.getJob(job_id)["refundable"] == 3600 * PRICE == escrow.getJob(job_id)["deposit"]
    assert escrow.providerRecord(staked_provider)["gpuSecondsServed"] == 0
    # Issue 8, lower finding 7: what a timeout would have cost the provider, its collateral unlocked at once and the
    # timeout fraction of it slashed to the client (no settlement of the provider is disputable: not held).
    collateral = escrow.getJob(job_id)["collateral"]
    slash = collateral * TIMEOUT_SLASH_BPS // BPS
    assert slash > 0
    expect_event(tx, "CollateralReleased", jobId=job_id, provider=staked_provider, amount=collateral)
    expect_event(tx, "FailedProviderSlashed", jobId=job_id, provider=staked_provider, amount=slash)
    no_event(tx, "TimeoutSlashHeld")
    assert staking.stakeOf(staked_provider)[0] == bonded - slash
    assert token.balanceOf(client) == client_balance + slash


@pytest.mark.parametrize("over", [1, 500])
def test_gpu_seconds_above_max_are_capped(escrow, token, job, receipt, settle, staked_provider, book, over):
    job_id = job(max_gpu_seconds=1000)
    before = book(staked_provider)
    tx = settle(receipt(job_id, gpu_seconds=1000 + over))
    check_settled(escrow, token, tx, job_id, 1000, COMPLETED, staked_provider, before, max_gpu_seconds=1000)
    assert escrow.getJob(job_id)["refundable"] == 0


def test_failed_client_is_capped_too(escrow, token, job, receipt, settle, staked_provider, book):
    job_id = job(max_gpu_seconds=1000)
    before = book(staked_provider)
    tx = settle(receipt(job_id, gpu_seconds=1200, outcome=FAILED_CLIENT))
    check_settled(escrow, token, tx, job_id, 1000, FAILED_CLIENT, staked_provider, before, max_gpu_seconds=1000)


def test_fee_is_the_one_in_force_when_the_job_was_accepted(escrow, token, deployer, job, receipt, settle,
                                                           staked_provider, book):
    escrow.setParameter(0, 1000, {"from": deployer})
    warp(now() + 1)  # a change applies to jobs accepted from the next second on
    a = job()
    escrow.setParameter(0, 0, {"from": deployer})
    warp(now() + 1)
    b = job()
    escrow.setParameter(0, 500, {"from": deployer})  # changes neither
    before = book(staked_provider)
    check_settled(escrow, token, settle(receipt(a, gpu_seconds=1001)), a, 1001, COMPLETED, staked_provider, before,
                  fee_bps=1000)
    before = book(staked_provider)
    check_settled(escrow, token, settle(receipt(b, gpu_seconds=1001)), b, 1001, COMPLETED, staked_provider, before,
                  fee_bps=0)


def test_collateral_release_uses_the_fraction_locked_at_creation(escrow, token, deployer, job, receipt, settle,
                                                                 staked_provider, book, rando):
    a = job(max_gpu_seconds=3600)  # 20% locked
    escrow.setParameter(1, 7_000, {"from": deployer})
    b = job(max_gpu_seconds=3600)  # 70% locked
    assert escrow.getJob(a)["collateral"] == 3600 * PRICE * COLLATERAL_BPS // BPS
    assert escrow.getJob(b)["collateral"] == 3600 * PRICE * 7_000 // BPS
    before = book(staked_provider)
    check_settled(escrow, token, settle(receipt(a)), a, 1000, COMPLETED, staked_provider, before)
    settle(receipt(b))
    # a paid more than its 20% collateral: its reserve was raised to what it paid; b's 70% is more than it paid
    assert dispute_reserve(escrow, a) == 1000 * PRICE and dispute_reserve(escrow, b) == escrow.getJob(b)["collateral"]
    both = dispute_reserve(escrow, a) + dispute_reserve(escrow, b)
    assert escrow.providerRecord(staked_provider)["lockedCollateral"] == both
    warp(escrow.getJob(b)["settledAt"] + DISPUTE_WINDOW + 1)
    assert escrow.releaseCollateral([a], {"from": rando}).return_value == dispute_reserve(escrow, a)
    assert escrow.providerRecord(staked_provider)["lockedCollateral"] == escrow.getJob(b)["collateral"]
    escrow.releaseCollateral([b], {"from": rando})
    assert escrow.providerRecord(staked_provider)["lockedCollateral"] == 0


def test_earnings_accumulate_over_jobs(escrow, job, receipt, settle, staked_provider):
    total = 0
    for billed in (100, 250, 3600):
        job_id = job()
        settle(receipt(job_id, gpu_seconds=billed))
        total += money(billed)[0]
    rec = escrow.providerRecord(staked_provider)
    assert rec["earnings"] == total
    assert rec["jobsCompleted"] == 3 and rec["gpuSecondsServed"] == 100 + 250 + 3600


def test_second_provider_is_paid_its_own_price(escrow, token, job, receipt, settle_args, offer2, provider2, rando,
                                               worker2_key, staked_provider, book):
    job_id = job(max_gpu_seconds=2000, offer_id=offer2)
    assert escrow.getJob(job_id)["gpuCount"] == GPU_COUNT2
    r = receipt(job_id, gpu_seconds=1500)
    before = book(provider2)
    first = escrow.providerRecord(staked_provider).dict()
    tx = escrow.settle(*settle_args(r, key=worker2_key), {"from": rando})
    check_settled(escrow, token, tx, job_id, 1500, COMPLETED, provider2, before, price=PRICE2, max_gpu_seconds=2000)
    assert escrow.providerRecord(staked_provider).dict() == first


@pytest.mark.parametrize("who", ["client", "provider", "worker", "rando"])
def test_anyone_may_submit(escrow, token, job, receipt, settle, client, staked_provider, worker, rando, book, who):
    job_id = job()
    before = book(staked_provider)
    tx = settle(receipt(job_id), sender={"client": client, "provider": staked_provider, "worker": worker,
                                         "rando": rando}[who])
    check_settled(escrow, token, tx, job_id, 1000, COMPLETED, staked_provider, before)


def test_works_while_paused(escrow, token, job, receipt, settle, guardian, staked_provider, book):
    job_id = job()
    escrow.pause({"from": guardian})
    before = book(staked_provider)
    check_settled(escrow, token, settle(receipt(job_id)), job_id, 1000, COMPLETED, staked_provider, before)


# ------------------------------------------------------ receipt times and size


def test_boundaries_are_accepted(escrow, token, job, sign, attest, rando, staked_provider, book):
    """start == acceptedAt, end == now, gpuSeconds == (end - start + 5) x gpuCount."""
    job_id = job(max_gpu_seconds=10_000)
    start = escrow.getJob(job_id)["acceptedAt"]
    end = start + 100
    limit = (end - start + TOLERANCE) * GPU_COUNT
    r = Receipt(job_id, str(staked_provider), limit, start, end, b"\x01" * 32, COMPLETED)
    before = book(staked_provider)
    with at(end):
        tx = escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})
    check_settled(escrow, token, tx, job_id, limit, COMPLETED, staked_provider, before, max_gpu_seconds=10_000)


def test_zero_length_run_bills_nothing(escrow, token, job, receipt, settle, staked_provider, book):
    job_id = job()
    start = escrow.getJob(job_id)["acceptedAt"]
    with brownie.reverts(err("JobEscrowImpossibleGpuSeconds(uint256,uint256,uint256)", job_id, 1, 0)):
        settle(receipt(job_id, gpu_seconds=1, start=start, end=start))
    before = book(staked_provider)
    tx = settle(receipt(job_id, gpu_seconds=0, start=start, end=start))
    check_settled(escrow, token, tx, job_id, 0, COMPLETED, staked_provider, before)


def test_rejects_more_gpu_seconds_than_possible(escrow, job, receipt, sign, attest, rando, snap):
    job_id = job(max_gpu_seconds=10_000)
    start = escrow.getJob(job_id)["acceptedAt"]
    r = receipt(job_id, gpu_seconds=(100 + TOLERANCE) * GPU_COUNT + 1, start=start, end=start + 100)
    before = snap(job_id)
    with brownie.reverts(err("JobEscrowImpossibleGpuSeconds(uint256,uint256,uint256)", job_id, r.gpuSeconds,
                             (100 + TOLERANCE) * GPU_COUNT)):
        escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})
    assert snap(job_id) == before


def test_impossible_gpu_seconds_is_checked_even_above_max(escrow, job, receipt, sign, attest, rando, snap):
    # capping at max happens only for possible receipts: 4 GPUs cannot run 1000 GPU-seconds in 10 s
    job_id = job(max_gpu_seconds=100)
    start = escrow.getJob(job_id)["acceptedAt"]
    r = receipt(job_id, gpu_seconds=1000, start=start, end=start + 10)
    before = snap(job_id)
    with brownie.reverts(err("JobEscrowImpossibleGpuSeconds(uint256,uint256,uint256)", job_id, 1000,
                             (10 + TOLERANCE) * GPU_COUNT)):
        escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})
    assert snap(job_id) == before


def test_rejects_start_before_acceptance(escrow, job, receipt, sign, attest, rando, snap):
    job_id = job()
    accepted = escrow.getJob(job_id)["acceptedAt"]
    r = receipt(job_id, gpu_seconds=100, start=accepted - 1, end=accepted + 100)
    t = now() + 3
    before = snap(job_id)
    with at(t), brownie.reverts(err("JobEscrowImpossibleTimes(uint256,uint256,uint256,uint256,uint256)", job_id,
                                    accepted - 1, accepted + 100, accepted, t)):
        escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})
    assert snap(job_id) == before


def test_rejects_end_before_start(escrow, job, receipt, sign, attest, rando, snap):
    job_id = job()
    accepted = escrow.getJob(job_id)["acceptedAt"]
    r = receipt(job_id, gpu_seconds=0, start=accepted + 10, end=accepted + 9)
    t = now() + 3
    before = snap(job_id)
    with at(t), brownie.reverts(err("JobEscrowImpossibleTimes(uint256,uint256,uint256,uint256,uint256)", job_id,
                                    accepted + 10, accepted + 9, accepted, t)):
        escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})
    assert snap(job_id) == before


def test_rejects_end_in_the_future(escrow, job, sign, attest, rando, staked_provider, snap):
    job_id = job()
    accepted = escrow.getJob(job_id)["acceptedAt"]
    t = now() + 100
    r = Receipt(job_id, str(staked_provider), 40, accepted, t + 1, b"\x02" * 32, COMPLETED)
    before = snap(job_id)
    with at(t), brownie.reverts(err("JobEscrowImpossibleTimes(uint256,uint256,uint256,uint256,uint256)", job_id,
                                    accepted, t + 1, accepted, t)):
        escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})
    assert snap(job_id) == before


@pytest.mark.parametrize("outcome", [3, 255])
def test_rejects_unknown_outcome(escrow, job, receipt, sign, attest, rando, snap, outcome):
    job_id = job()
    r = receipt(job_id, outcome=outcome)
    before = snap(job_id)
    with brownie.reverts(err("JobEscrowInvalidOutcome(uint256,uint8)", job_id, outcome)):
        escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})
    assert snap(job_id) == before


# ------------------------------------------------------------- who signed it


def test_rejects_receipt_naming_another_provider(escrow, job, receipt, sign, attest, rando, staked_provider,
                                                 provider2, offer2, worker2_key, snap):
    job_id = job()
    r = receipt(job_id, provider=provider2)
    before = snap(job_id)
    with brownie.reverts(err("JobEscrowWrongProvider(uint256,address,address)", job_id, staked_provider,
                             provider2)):
        escrow.settle(r.as_tuple(), sign(r, key=worker2_key), attest([r]), {"from": rando})
    assert snap(job_id) == before


@pytest.mark.parametrize("signer", ["other_key", "other_providers_worker", "oracle", "client_sig"])
def test_rejects_receipt_not_signed_by_the_worker(escrow, job, receipt, sign, attest, rando, worker, worker2_key,
                                                  oracle_key, snap, signer):
    key = {"other_key": "0x" + "99" * 32, "other_providers_worker": worker2_key, "oracle": oracle_key,
           "client_sig": "0x" + "98" * 32}[signer]
    job_id = job()
    r = receipt(job_id)
    sig = sign(r, key=key)
    recovered = recover(escrow.receiptDigest(r.as_tuple()), sig)
    before = snap(job_id)
    with brownie.reverts(err("JobEscrowInvalidWorkerSignature(uint256,address,address)", job_id, recovered,
                             worker)):
        escrow.settle(r.as_tuple(), sig, attest([r]), {"from": rando})
    assert snap(job_id) == before


def test_rejects_receipt_changed_after_the_worker_signed(escrow, job, receipt, sign, attest, rando, worker, snap):
    job_id = job()
    signed = receipt(job_id, gpu_seconds=1000)
    sig = sign(signed)
    forged = Receipt(*signed.as_tuple())
    forged.gpuSeconds = 1200  # the oracle attests the forged numbers; the worker never signed them
    recovered = recover(escrow.receiptDigest(forged.as_tuple()), sig)
    assert recovered != worker
    before = snap(job_id)
    with brownie.reverts(err("JobEscrowInvalidWorkerSignature(uint256,address,address)", job_id, recovered,
                             worker)):
        escrow.settle(forged.as_tuple(), sig, attest([forged]), {"from": rando})
    assert snap(job_id) == before


@pytest.mark.parametrize("bad", ["zero", "high_s"])
def test_rejects_malformed_worker_signature(escrow, job, receipt, sign, attest, rando, worker, snap, bad):
    job_id = job()
    r = receipt(job_id)
    sig = {"zero": lambda: (b"\x00" * 32, b"\x00" * 32),
           "high_s": lambda: (sign(r)[0], (SECP256K1_N // 2 + 1).to_bytes(32, "big"))}[bad]()
    before = snap(job_id)
    with brownie.reverts(err("JobEscrowInvalidWorkerSignature(uint256,address,address)", job_id, ZERO, worker)):
        escrow.settle(r.as_tuple(), sig, attest([r]), {"from": rando})
    assert snap(job_id) == before


def test_rejects_malleated_worker_signature_and_accepts_its_twin(escrow, staking, token, job, receipt, attest,
                                                                 rando, staked_provider, snap, book):
    job_id = job()
    r = receipt(job_id)
    low, high, signer = malleable_pair(escrow.receiptDigest(r.as_tuple()))
    staking.setWorker(signer, {"from": staked_provider})
    before = snap(job_id)
    with brownie.reverts(err("JobEscrowInvalidWorkerSignature(uint256,address,address)", job_id, ZERO, signer)):
        escrow.settle(r.as_tuple(), high, attest([r]), {"from": rando})
    assert snap(job_id) == before
    b = book(staked_provider)
    tx = escrow.settle(r.as_tuple(), low, attest([r]), {"from": rando})
    check_settled(escrow, token, tx, job_id, 1000, COMPLETED, staked_provider, b)


def test_rejects_rotated_out_worker_key(escrow, staking, job, receipt, sign, attest, rando, staked_provider,
                                        worker, worker2, worker2_key, snap):
    job_id = job()
    r = receipt(job_id)
    sig = sign(r)  # by the worker key in place when the job ran
    staking.setWorker(worker2, {"from": staked_provider})
    before = snap(job_id)
    with brownie.reverts(err("JobEscrowInvalidWorkerSignature(uint256,address,address)", job_id, worker, worker2)):
        escrow.settle(r.as_tuple(), sig, attest([r]), {"from": rando})
    assert snap(job_id) == before
    escrow.settle(r.as_tuple(), sign(r, key=worker2_key), attest([r]), {"from": rando})
    assert escrow.getJob(job_id)["status"] == SETTLED


# ----------------------------------------------------------------- attestation


def test_rejects_missing_attestation(escrow, job, receipt, sign, rando, snap):
    job_id = job()
    r = receipt(job_id)
    before = snap(job_id)
    with brownie.reverts(err("JobEscrowAttestationBelowThreshold(uint256,uint256)", 0, 1)):
        escrow.settle(r.as_tuple(), sign(r), [], {"from": rando})
    assert snap(job_id) == before


def test_rejects_attestation_by_non_oracle(escrow, job, receipt, sign, attest, rando, snap):
    job_id = job()
    r = receipt(job_id)
    outsider = "0x" + "55" * 32
    before = snap(job_id)
    with brownie.reverts(err("JobEscrowNotOracle(address,uint64)", Account.from_key(outsider).address, 1)):
        escrow.settle(r.as_tuple(), sign(r), attest([r], keys=[outsider]), {"from": rando})
    assert snap(job_id) == before


def test_rejects_worker_signing_as_oracle(escrow, job, receipt, sign, attest, rando, worker, worker_key, snap):
    job_id = job()
    r = receipt(job_id)
    before = snap(job_id)
    with brownie.reverts(err("JobEscrowNotOracle(address,uint64)", worker, 1)):
        escrow.settle(r.as_tuple(), sign(r), attest([r], keys=[worker_key]), {"from": rando})
    assert snap(job_id) == before


def test_rejects_attestation_of_another_receipt(escrow, job, receipt, sign, attest, rando, snap):
    job_id = job()
    r = receipt(job_id, gpu_seconds=1000)
    other = Receipt(*r.as_tuple())
    other.gpuSeconds = 999
    att = attest([other])
    digest = escrow.attestationDigest(keccak(r.struct_hash()), 1)
    before = snap(job_id)
    with brownie.reverts(err("JobEscrowNotOracle(address,uint64)", recover(digest, att[0]), 1)):
        escrow.settle(r.as_tuple(), sign(r), att, {"from": rando})
    assert snap(job_id) == before


def test_rejects_malformed_oracle_signature(escrow, job, receipt, sign, attest, rando, snap):
    job_id = job()
    r = receipt(job_id)
    before = snap(job_id)
    high_s = (attest([r])[0][0], (SECP256K1_N // 2 + 1).to_bytes(32, "big"))
    for sig in (high_s, (b"\x00" * 32, b"\x00" * 32), (b"\x00" * 32, attest([r])[0][1])):
        with brownie.reverts(err("JobEscrowMalformedSignature(uint256)", 0)):
            escrow.settle(r.as_tuple(), sign(r), [sig], {"from": rando})
    assert snap(job_id) == before


def test_rejects_malleated_oracle_signature_and_accepts_its_twin(escrow, token, job, receipt, sign, rando,
                                                                 deployer, staked_provider, snap, book):
    job_id = job()
    r = receipt(job_id)
    epoch = escrow.oracleSet()[2] + 1
    low, high, signer = malleable_pair(escrow.attestationDigest(keccak(r.struct_hash()), epoch))
    escrow.setOracleSet([signer], 1, {"from": deployer})
    before = snap(job_id)
    with brownie.reverts(err("JobEscrowMalformedSignature(uint256)", 0)):
        escrow.settle(r.as_tuple(), sign(r), [high], {"from": rando})
    assert snap(job_id) == before
    b = book(staked_provider)
    check_settled(escrow, token, escrow.settle(r.as_tuple(), sign(r), [low], {"from": rando}), job_id, 1000,
                  COMPLETED, staked_provider, b)


def test_attestation_is_checked_before_the_job(escrow, sign, attest, rando, staked_provider):
    r = Receipt(77, str(staked_provider), 1, 0, 0, b"\x00" * 32, COMPLETED)
    with brownie.reverts(err("JobEscrowAttestationBelowThreshold(uint256,uint256)", 0, 1)):
        escrow.settle(r.as_tuple(), sign(r), [], {"from": rando})


# ------------------------------------------------------------------ job status


def test_rejects_unknown_job(escrow, sign, attest, rando, staked_provider, snap):
    r = Receipt(77, str(staked_provider), 1, 0, 0, b"\x00" * 32, COMPLETED)
    before = snap()
    with brownie.reverts(unknown_job(77)):
        escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})
    assert snap() == before


def test_rejects_open_job(escrow, job, sign, attest, rando, staked_provider, snap):
    job_id = job(accept=False)
    t = now()
    r = Receipt(job_id, str(staked_provider), 4, t, t, b"\x00" * 32, COMPLETED)
    before = snap(job_id)
    with brownie.reverts(wrong_status(job_id, OPEN, RUNNING)):
        escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})
    assert snap(job_id) == before


def test_rejects_settling_twice(escrow, job, receipt, settle, sign, attest, rando, snap):
    job_id = job()
    r = receipt(job_id)
    settle(r)
    before = snap(job_id)
    with brownie.reverts(wrong_status(job_id, SETTLED, RUNNING)):
        settle(r)
    # not with another receipt either
    r2 = Receipt(*r.as_tuple())
    r2.gpuSeconds = 10
    with brownie.reverts(wrong_status(job_id, SETTLED, RUNNING)):
        escrow.settle(r2.as_tuple(), sign(r2), attest([r2]), {"from": rando})
    assert snap(job_id) == before


def test_rejects_cancelled_job(escrow, job, client, sign, attest, rando, staked_provider, snap):
    job_id = job(accept=False)
    escrow.cancelJob(job_id, {"from": client})
    t = now()
    r = Receipt(job_id, str(staked_provider), 4, t, t, b"\x00" * 32, COMPLETED)
    before = snap(job_id)
    with brownie.reverts(wrong_status(job_id, CANCELLED, RUNNING)):
        escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})
    assert snap(job_id) == before


def test_rejects_timed_out_job(escrow, job, receipt, settle, rando, snap):
    job_id = job(deadline_in=DAY)
    r = receipt(job_id)
    warp(escrow.getJob(job_id)["deadline"] + TIMEOUT_GRACE)
    escrow.claimTimeout(job_id, {"from": rando})
    before = snap(job_id)
    with brownie.reverts(wrong_status(job_id, TIMED_OUT, RUNNING)):
        settle(r)
    assert snap(job_id) == before


def test_settles_within_the_grace_period(escrow, token, job, receipt, settle, staked_provider, book):
    job_id = job(deadline_in=DAY)
    r = receipt(job_id)
    deadline = escrow.getJob(job_id)["deadline"]
    warp(deadline + TIMEOUT_GRACE - 2)
    before = book(staked_provider)
    check_settled(escrow, token, settle(r), job_id, 1000, COMPLETED, staked_provider, before)


def test_receipt_cannot_settle_once_the_timeout_is_claimable(escrow, job, receipt, settle, snap):
    """PROTOCOL.md, Timeout: "If no receipt settles the job by its deadline (plus grace), the client reclaims the
    whole deposit"; IJobEscrow.createJob: from deadline + grace on "receipts are refused". A late receipt must not
    race the client's claimTimeout."""
    job_id = job(deadline_in=DAY)
    r = receipt(job_id)
    timeout_at = escrow.getJob(job_id)["deadline"] + TIMEOUT_GRACE
    before = snap(job_id)
    for t in (timeout_at, timeout_at + DAY):
        with at(t), brownie.reverts(err("JobEscrowSettlementTooLate(uint256,uint256,uint256)", job_id, timeout_at,
                                        t)):
            settle(r)
    assert snap(job_id) == before
    assert escrow.getJob(job_id)["status"] == RUNNING
    escrow.claimTimeout(job_id, {"from": r.provider})
    assert escrow.getJob(job_id)["status"] == TIMED_OUT


def test_late_check_uses_the_jobs_grace(escrow, job, receipt, settle, deployer, snap):
    escrow.setParameter(6, 300, {"from": deployer})  # the floor, in force when the job is accepted
    warp(now() + 1)
    job_id = job(deadline_in=DAY)
    r = receipt(job_id)
    deadline = escrow.getJob(job_id)["deadline"]
    escrow.setParameter(6, 7 * DAY, {"from": deployer})  # too late for this job: its grace is fixed
    before = snap(job_id)
    with at(deadline + 300), brownie.reverts(err("JobEscrowSettlementTooLate(uint256,uint256,uint256)", job_id,
                                                 deadline + 300, deadline + 300)):
        settle(r)
    assert snap(job_id) == before
