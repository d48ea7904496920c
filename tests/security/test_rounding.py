"""Attack: make rounding create or lose tokens, let a job be free for the provider's work, or let a job cost the
client more than its deposit; at the smallest values (1 GPU-second at 1 base unit) and the largest the contracts
accept (price 2^64 - 1, 2^32 - 1 GPU-seconds).

What stops it (SECURITY.md, "Rounding"): collateral rounds up (a tiny job still locks collateral), fees round down
(never more than the payment), refunds are exact, `price x (max - billed)`; payout + fee + refund == deposit;
slashes never take more than exists. Every test checks that the sum of all balances equals totalSupply before and
after. The huge-job and hypothesis tests run on a suite whose token has the largest supply the contracts accept
(2^96 - 1 base units, finding 5), which funds the largest job the escrow accepts, but not that job and a stake as
large: beyond the supply, jobs are refused with custom errors, and no 96-bit field can overflow.
"""

import brownie
import pytest
from brownie.test import given, strategy
from hypothesis import HealthCheck, settings

from tests.fixtures.contracts import DISPUTE_BOND, FEE_BPS, TIMEOUT_GRACE, TIMEOUT_SLASH_BPS
from tests.fixtures.jobs import SPEC_HASH
from tests.helpers.limits import limits
from tests.helpers.signing import FAILED_PROVIDER

from .conftest import (
    BPS,
    DAY,
    MAX_U32,
    MAX_U64,
    MAX_U96,
    at,
    attest_r,
    err,
    events_of,
    now,
    receipt_for,
    sign_r,
    supply_check,
    warp,
)


def ceil_div(a, b):
    return -(-a // b)


# --------------------------------------------------------------- tiny jobs


def test_smallest_job_locks_collateral_pays_the_provider_and_conserves_tokens(escrow, staking, token,
                                                                              staked_provider, client, treasury,
                                                                              rando, job_at, dust_offer,
                                                                              all_holders, worker_key, oracle_key):
    start = supply_check(token, all_holders)
    assert start[0] == start[1]
    client_before, provider_before = token.balanceOf(client), token.balanceOf(staked_provider)
    job_id = job_at(offer_id=dust_offer, max_gpu_seconds=1)
    j = escrow.getJob(job_id).dict()
    assert (j["deposit"], j["collateral"]) == (1, 1)  # collateral 20% of 1 rounds up to 1, not down to 0
    assert escrow.providerRecord(staked_provider)["lockedCollateral"] == 1

    r = receipt_for(escrow, job_id, gpu_seconds=1)
    tx = escrow.settle(r.as_tuple(), sign_r(r, worker_key, escrow), attest_r([r], [oracle_key], escrow),
                       {"from": rando})
    # The fee (2.5% of 1) rounds down to 0: the provider is paid its one base unit.
    assert events_of(tx, "JobSettled")[0]["payout"] == 1 and events_of(tx, "JobSettled")[0]["fee"] == 0
    assert escrow.getJob(job_id)["refundable"] == 0
    with brownie.reverts(err("JobEscrowNothingToClaim(address)", rando)):
        escrow.claimRefunds([job_id], {"from": rando})
    escrow.withdrawEarnings({"from": staked_provider})
    assert token.balanceOf(client) == client_before - 1
    assert token.balanceOf(staked_provider) == provider_before + 1
    assert escrow.accruedFees() == 0
    assert supply_check(token, all_holders) == start


@pytest.mark.parametrize("fee_bps,paid,fee", [(1_000, 9, 0), (1_000, 10, 1), (1, 9_999, 0), (1, 10_000, 1),
                                              (250, 39, 0), (250, 40, 1)])
def test_fee_rounds_down_and_never_exceeds_the_payment(escrow, token, deployer, staked_provider, rando, job_at,
                                                       dust_offer, worker_key, oracle_key, all_holders, fee_bps,
                                                       paid, fee):
    escrow.setParameter(0, fee_bps, {"from": deployer})
    warp(now() + 1)  # a fee applies to jobs accepted from the next second on
    start = supply_check(token, all_holders)
    job_id = job_at(offer_id=dust_offer, max_gpu_seconds=paid + 7)
    r = receipt_for(escrow, job_id, gpu_seconds=paid)
    tx = escrow.settle(r.as_tuple(), sign_r(r, worker_key, escrow), attest_r([r], [oracle_key], escrow),
                       {"from": rando})
    ev = events_of(tx, "JobSettled")[0]
    assert (ev["payout"], ev["fee"]) == (paid - fee, fee)
    assert ev["payout"] + ev["fee"] + escrow.getJob(job_id)["refundable"] == paid + 7
    assert supply_check(token, all_holders) == start


@pytest.mark.parametrize("timeout_bps,slashed", [(5_000, 0), (9_999, 0), (10_000, 1)])
def test_smallest_timeout_slash_rounds_down_and_refunds_exactly(escrow, token, deployer, staking, staked_provider,
                                                                client, rando, job_at, dust_offer, all_holders,
                                                                timeout_bps, slashed):
    escrow.setParameter(2, timeout_bps, {"from": deployer})
    start = supply_check(token, all_holders)
    client_before = token.balanceOf(client)
    bonded_before = staking.stakeOf(staked_provider)[0]
    job_id = job_at(offer_id=dust_offer, max_gpu_seconds=1, deadline_in=2 * 3600)
    with at(escrow.getJob(job_id)["deadline"] + TIMEOUT_GRACE):
        tx = escrow.claimTimeout(job_id, {"from": rando})
    assert tx.events["JobTimedOut"]["slashed"] == slashed
    assert token.balanceOf(client) == client_before + slashed  # the deposit of 1 came back, plus the slash
    assert staking.stakeOf(staked_provider)[0] == bonded_before - slashed
    assert escrow.providerRecord(staked_provider)["lockedCollateral"] == 0
    assert supply_check(token, all_holders) == start


def test_smallest_upheld_dispute_compensates_the_one_unit_paid(escrow, token, staking, staked_provider, client,
                                                               arbiter, treasury, rando, job_at, dust_offer,
                                                               worker_key, oracle_key, all_holders):
    start = supply_check(token, all_holders)
    job_id = job_at(offer_id=dust_offer, max_gpu_seconds=1)
    r = receipt_for(escrow, job_id, gpu_seconds=1)
    escrow.settle(r.as_tuple(), sign_r(r, worker_key, escrow), attest_r([r], [oracle_key], escrow), {"from": rando})
    escrow.dispute(job_id, b"\x01" * 32, {"from": client})
    client_before = token.balanceOf(client)
    tx = escrow.resolveDispute(job_id, True, {"from": arbiter})
    assert (tx.events["DisputeResolved"]["slashed"], tx.events["DisputeResolved"]["compensation"]) == (1, 1)
    assert token.balanceOf(client) == client_before + 1 + DISPUTE_BOND
    assert supply_check(token, all_holders) == start


# --------------------------------------------------------------- huge jobs


def big_job(b, price, max_gpu_seconds, gpu_count=255, deadline_in=364 * DAY):
    oid = b.staking.addOffer("GB200 NVL72", gpu_count, 192, price, "ipfs://big",
                             {"from": b.provider}).events["OfferAdded"]["offerId"]
    tx = b.escrow.createJob(oid, max_gpu_seconds, now() + deadline_in, SPEC_HASH, *limits(b.escrow, oid), {"from": b.client})
    job_id = tx.events["JobCreated"]["jobId"]
    b.escrow.acceptJob(job_id, {"from": b.provider})
    return job_id


def big_settle(b, receipts):
    return b.escrow.settleBatch([r.as_tuple() for r in receipts],
                                [sign_r(r, b.worker_key, b.escrow) for r in receipts],
                                attest_r(receipts, [b.oracle_key], b.escrow), {"from": b.deployer})


def liabilities(b):
    """What the escrow owes: open deposits, refunds, earnings, fees, bonds (from its own views)."""
    owed = b.escrow.accruedFees() + b.escrow.providerRecord(b.provider)["earnings"]
    for job_id in range(1, b.escrow.jobCount() + 1):
        j = b.escrow.getJob(job_id).dict()
        if j["status"] in (1, 2):
            owed += j["deposit"]
        owed += j["refundable"]
        if j["status"] == 6:
            owed += j["disputeBond"]
        owed += b.escrow.withheldPay(job_id)
    return owed


def release_after_window(b, job_ids):
    """Past the jobs' dispute windows, release their reserves and withheld pay (releaseCollateral)."""
    warp(now() + b.escrow.parameters()[4] + 1)
    return b.escrow.releaseCollateral(job_ids, {"from": b.deployer})


LARGEST = MAX_U64 * MAX_U32  # the largest deposit: 2^96 - 2^64 - 2^32 + 1, below the supply
HALF_SECONDS = 2**31 - 1
HALF = MAX_U64 * HALF_SECONDS  # the largest job at the top price whose deposit a stake as large can back


def test_largest_job_fits_every_field_and_pays_exactly(big):
    """The largest job the hard limits allow. It needs all but 2^64 + 2^32 - 1 base units of the supply as its
    deposit, so the provider stakes the rest and the job locks no collateral."""
    b = big
    b.fund(stake=MAX_U96 - LARGEST, client_funds=LARGEST)
    b.escrow.setParameter(0, 1_000, {"from": b.deployer})  # the highest fee
    warp(now() + 1)  # a fee applies to jobs accepted from the next second on
    b.escrow.setParameter(1, 0, {"from": b.deployer})
    start = supply_check(b.token, b.holders)
    assert start[0] == start[1] == MAX_U96
    job_id = big_job(b, MAX_U64, MAX_U32)
    deposit = LARGEST
    j = b.escrow.getJob(job_id).dict()
    assert (j["deposit"], j["collateral"], j["maxGpuSeconds"], j["pricePerGpuSecond"]) == (deposit, 0, MAX_U32,
                                                                                          MAX_U64)
    assert b.token.balanceOf(b.escrow) == deposit == b.escrow.owed()

    r = receipt_for(b.escrow, job_id, gpu_seconds=MAX_U32)  # 255 GPUs for about 195 days
    tx = big_settle(b, [r])
    fee = deposit * 1_000 // BPS
    ev = events_of(tx, "JobSettled")[0]
    assert (ev["gpuSeconds"], ev["payout"], ev["fee"]) == (MAX_U32, deposit - fee, fee)
    rec = b.escrow.providerRecord(b.provider).dict()
    # the reserve is the collateral (0) raised by all the free stake, far from what the job paid: the whole payout
    # is withheld until the dispute window closes, then credited in one 96-bit sum
    stake = MAX_U96 - LARGEST
    assert (rec["earnings"], rec["lockedCollateral"], rec["gpuSecondsServed"]) == (0, stake, MAX_U32)
    assert b.escrow.withheldPay(job_id) == deposit - fee
    assert b.escrow.accruedFees() == fee
    assert liabilities(b) == b.token.balanceOf(b.escrow) == b.escrow.owed()
    release_after_window(b, [job_id])
    assert b.escrow.providerRecord(b.provider)["earnings"] == deposit - fee
    assert liabilities(b) == b.token.balanceOf(b.escrow) == b.escrow.owed()

    b.escrow.withdrawEarnings({"from": b.provider})
    b.escrow.withdrawFees({"from": b.deployer})
    assert b.token.balanceOf(b.escrow) == 0 == b.escrow.owed()
    assert b.token.balanceOf(b.treasury) == fee
    assert supply_check(b.token, b.holders) == start


def test_largest_job_with_full_collateral_is_refused_when_the_supply_cannot_back_it(big):
    """A job at the hard limits whose collateral is its whole value would need twice the supply (deposit plus an
    equal stake): it is refused with a custom error before any token moves, never overflows a field."""
    b = big
    b.fund(stake=MAX_U96 - LARGEST, client_funds=LARGEST)
    b.escrow.setParameter(1, BPS, {"from": b.deployer})
    oid = b.staking.addOffer("GB200", 255, 192, MAX_U64, "ipfs://big", {"from": b.provider}).events["OfferAdded"][
        "offerId"]
    before = supply_check(b.token, b.holders), b.token.balanceOf(b.client), b.escrow.jobCount()
    with brownie.reverts(err("JobEscrowInsufficientFreeStake(address,uint256,uint256)", b.provider,
                             MAX_U96 - LARGEST, LARGEST)):
        b.escrow.createJob(oid, MAX_U32, now() + DAY, SPEC_HASH, *limits(b.escrow, oid), {"from": b.client})
    assert (supply_check(b.token, b.holders), b.token.balanceOf(b.client), b.escrow.jobCount()) == before


def test_a_second_largest_job_cannot_be_funded_so_no_sum_passes_96_bits(big):
    """Two jobs at the hard limits would hold more than 2^96 together (and their payouts would overflow the
    provider's 96-bit earnings): the supply holds only one, so the second is refused by the token with the
    client's balance and the deposit, and nothing moves."""
    b = big
    b.fund(stake=MAX_U96 - LARGEST, client_funds=LARGEST)
    b.escrow.setParameter(1, 0, {"from": b.deployer})
    big_job(b, MAX_U64, MAX_U32)
    oid = b.staking.addOffer("GB200", 255, 192, MAX_U64, "ipfs://big", {"from": b.provider}).events["OfferAdded"][
        "offerId"]
    before = supply_check(b.token, b.holders), b.escrow.jobCount(), b.escrow.owed()
    with brownie.reverts(err("ERC20InsufficientBalance(address,uint256,uint256)", b.client, 0, LARGEST)):
        b.escrow.createJob(oid, MAX_U32, now() + DAY, SPEC_HASH, *limits(b.escrow, oid), {"from": b.client})
    assert (supply_check(b.token, b.holders), b.escrow.jobCount(), b.escrow.owed()) == before


def test_largest_fully_collateralised_job_times_out_and_is_slashed_exactly(big):
    b = big
    b.fund(stake=MAX_U96 - HALF, client_funds=HALF)
    b.escrow.setParameter(1, BPS, {"from": b.deployer})
    b.escrow.setParameter(2, BPS, {"from": b.deployer})
    start = supply_check(b.token, b.holders)
    client_before = b.token.balanceOf(b.client)
    job_id = big_job(b, MAX_U64, HALF_SECONDS, deadline_in=2 * DAY)
    deposit = HALF
    assert b.escrow.getJob(job_id)["collateral"] == deposit
    with at(b.escrow.getJob(job_id)["deadline"] + TIMEOUT_GRACE):
        tx = b.escrow.claimTimeout(job_id, {"from": b.deployer})
    assert tx.events["JobTimedOut"]["slashed"] == deposit
    assert b.token.balanceOf(b.client) == client_before + deposit
    assert b.staking.stakeOf(b.provider)[0] == MAX_U96 - HALF - deposit
    assert b.staking.totalSlashedOf(b.provider) == deposit
    assert b.token.balanceOf(b.escrow) == 0 == b.escrow.owed()
    assert supply_check(b.token, b.holders) == start


def test_beyond_the_largest_job_is_refused(big):
    b = big
    b.fund()
    oid = b.staking.addOffer("GB200", 255, 192, MAX_U64, "ipfs://big", {"from": b.provider}).events["OfferAdded"][
        "offerId"]
    for bad in (0, MAX_U32 + 1, 2**64, 2**256 - 1):
        with brownie.reverts(err("JobEscrowInvalidMaxGpuSeconds(uint256)", bad)):
            b.escrow.createJob(oid, bad, now() + DAY, SPEC_HASH, *limits(b.escrow, oid), {"from": b.client})


def test_largest_jobs_batched_for_one_provider_lose_no_earnings(big):
    """Two jobs at the top price, one provider, one batch, holding nearly the whole supply between them: every
    token of the payouts is credited (no truncation to 96 bits), and all of it can be withdrawn."""
    b = big
    b.fund(stake=MAX_U96 - 2 * HALF, client_funds=2 * HALF)
    b.escrow.setParameter(1, 0, {"from": b.deployer})
    start = supply_check(b.token, b.holders)
    ids = [big_job(b, MAX_U64, HALF_SECONDS, gpu_count=128) for _ in range(2)]
    rs = [receipt_for(b.escrow, j, gpu_seconds=HALF_SECONDS) for j in ids]
    fee = HALF * FEE_BPS // BPS
    big_settle(b, rs)
    assert [b.escrow.getJob(j)["status"] for j in ids] == [3, 3]
    # no collateral, and the stake cannot raise the reserves: both payouts are withheld until the windows close
    assert [b.escrow.withheldPay(j) for j in ids] == [HALF - fee] * 2
    release_after_window(b, ids)
    assert b.escrow.providerRecord(b.provider)["earnings"] == 2 * (HALF - fee)
    assert b.escrow.accruedFees() == 2 * fee
    assert liabilities(b) == b.token.balanceOf(b.escrow) == b.escrow.owed()
    provider_before = b.token.balanceOf(b.provider)
    b.escrow.withdrawEarnings({"from": b.provider})
    assert b.token.balanceOf(b.provider) == provider_before + 2 * (HALF - fee)
    assert supply_check(b.token, b.holders) == start


# ---------------------------------------------------------- property tests


# 25 examples each keep the module under a minute. brownie's integer strategies draw from several weighted
# distributions, and with seven of them hypothesis sometimes flags the examples as too large to generate: that
# health check (and the per-example timing one: each example is a dozen transactions) says nothing about the code.
# The supply is split in half: the client can fund any job up to 2^95 - 1 (every price, up to 2^31 GPU-seconds
# at the top price), and the stake covers any collateral of such a job.
PROP_STAKE = 2**95
SETTINGS = settings(max_examples=25, suppress_health_check=[HealthCheck.data_too_large, HealthCheck.too_slow])


@SETTINGS
@given(price=strategy("uint64", min_value=1), max_gpu_seconds=strategy("uint32", min_value=1),
       claim=strategy("uint32"), gpu_count=strategy("uint8", min_value=1),
       fee_bps=strategy("uint16", max_value=1_000), collateral_bps=strategy("uint16", max_value=BPS),
       outcome=strategy("uint8", max_value=2))
def test_payout_plus_fee_plus_refund_is_the_deposit(big, price, max_gpu_seconds, claim, gpu_count, fee_bps,
                                                    collateral_bps, outcome):
    b = big
    b.fund(stake=PROP_STAKE, client_funds=MAX_U96 - PROP_STAKE)
    # what the client can fund, keeping a dispute bond
    max_gpu_seconds = min(max_gpu_seconds, (MAX_U96 - PROP_STAKE - DISPUTE_BOND) // price)
    b.escrow.setParameter(0, fee_bps, {"from": b.deployer})
    warp(now() + 1)  # a fee applies to jobs accepted from the next second on
    b.escrow.setParameter(1, collateral_bps, {"from": b.deployer})
    start = supply_check(b.token, b.holders)
    client_before, provider_before = b.token.balanceOf(b.client), b.token.balanceOf(b.provider)
    treasury_before = b.token.balanceOf(b.treasury)

    job_id = big_job(b, price, max_gpu_seconds, gpu_count=gpu_count)
    deposit = price * max_gpu_seconds
    collateral = ceil_div(deposit * collateral_bps, BPS)
    j = b.escrow.getJob(job_id).dict()
    assert (j["deposit"], j["collateral"]) == (deposit, collateral)
    assert collateral <= deposit and (collateral > 0 or collateral_bps == 0)

    # As many GPU-seconds as the claim says, but no more than 300 days of the offer's GPUs could run.
    claim = min(claim, gpu_count * 300 * DAY)
    r = receipt_for(b.escrow, job_id, gpu_seconds=claim, outcome=outcome)
    tx = big_settle(b, [r])
    billed = 0 if outcome == FAILED_PROVIDER else min(claim, max_gpu_seconds)
    paid = billed * price
    fee = paid * fee_bps // BPS
    ev = events_of(tx, "JobSettled")[0]
    refund = b.escrow.getJob(job_id)["refundable"]
    assert (ev["gpuSeconds"], ev["payout"], ev["fee"]) == (billed, paid - fee, fee)
    assert ev["payout"] + ev["fee"] + refund == deposit
    assert refund == (max_gpu_seconds - billed) * price
    # The dispute reserve: raised to what the job paid when the provider's free stake covered the difference.
    bonded = int(b.staking.stakeOf(b.provider)[0])
    reserve = paid if collateral < paid <= bonded else collateral
    slash = 0
    if outcome == FAILED_PROVIDER:
        # Issue 8, lower finding 7: no reserve (nothing paid); the collateral is unlocked and its timeout fraction
        # slashed to the client, from the provider's stake (free: the job's own collateral covers it).
        reserve = 0
        slash = collateral * TIMEOUT_SLASH_BPS // BPS
        assert events_of(tx, "FailedProviderSlashed")[0]["amount"] == slash
        # JobSettled names the collateral as its reserve, released in the same transaction
        assert ev["reserve"] == collateral == events_of(tx, "CollateralReleased")[0]["amount"]
    else:
        assert ev["reserve"] == reserve
    assert b.escrow.providerRecord(b.provider)["lockedCollateral"] == reserve

    if refund:
        b.escrow.claimRefunds([job_id], {"from": b.deployer})
    if paid - fee:
        b.escrow.withdrawEarnings({"from": b.provider})
    if fee:
        b.escrow.withdrawFees({"from": b.deployer})
    assert b.token.balanceOf(b.escrow) == 0 == b.escrow.owed()
    spent = client_before - b.token.balanceOf(b.client)
    earned = b.token.balanceOf(b.provider) - provider_before
    assert spent + slash == paid <= deposit  # the client never pays more than its deposit
    assert earned == paid - fee <= deposit
    assert earned > 0 or paid == 0  # metered work is never free to the provider: the fee is at most 10%
    assert b.token.balanceOf(b.treasury) - treasury_before == fee
    assert supply_check(b.token, b.holders) == start


@SETTINGS
@given(price=strategy("uint64", min_value=1), max_gpu_seconds=strategy("uint32", min_value=1),
       billed_frac=strategy("uint16", max_value=BPS), collateral_bps=strategy("uint16", max_value=BPS),
       slash_bps=strategy("uint16", max_value=BPS), path=strategy("uint8", max_value=3))
def test_penalties_never_create_lose_or_overdraw_tokens(big, price, max_gpu_seconds, billed_frac, collateral_bps,
                                                        slash_bps, path):
    """path 0: timeout; 1: upheld dispute; 2: rejected dispute; 3: fraud report."""
    b = big
    b.fund(stake=PROP_STAKE, client_funds=MAX_U96 - PROP_STAKE)
    # what the client can fund, keeping a dispute bond
    max_gpu_seconds = min(max_gpu_seconds, (MAX_U96 - PROP_STAKE - DISPUTE_BOND) // price)
    b.escrow.setParameter(1, collateral_bps, {"from": b.deployer})
    b.escrow.setParameter(2 if path == 0 else 3, slash_bps, {"from": b.deployer})
    start = supply_check(b.token, b.holders)
    client_before = b.token.balanceOf(b.client)
    job_id = big_job(b, price, max_gpu_seconds, deadline_in=(2 * DAY if path == 0 else 300 * DAY))
    deposit = price * max_gpu_seconds
    collateral = ceil_div(deposit * collateral_bps, BPS)
    bonded, unbonding = (int(v) for v in b.staking.stakeOf(b.provider)[:2])
    stake_before = bonded + unbonding

    if path == 0:
        with at(b.escrow.getJob(job_id)["deadline"] + TIMEOUT_GRACE):
            slashed = b.escrow.claimTimeout(job_id, {"from": b.deployer}).events["JobTimedOut"]["slashed"]
        assert slashed == min(collateral * slash_bps // BPS, stake_before)
        assert b.token.balanceOf(b.client) == client_before + slashed
    elif path in (1, 2):
        billed = max_gpu_seconds * billed_frac // BPS
        r = receipt_for(b.escrow, job_id, gpu_seconds=billed, end=b.escrow.getJob(job_id)["acceptedAt"] +
                        ceil_div(billed, 255))
        big_settle(b, [r])
        b.escrow.dispute(job_id, b"\x01" * 32, {"from": b.client})
        ev = b.escrow.resolveDispute(job_id, path == 1, {"from": b.arbiter}).events["DisputeResolved"]
        paid = billed * price
        if path == 1:
            # An upheld dispute slashes a fraction of the job's deposit; the client is made whole up to what it paid,
            # or to the job's timeout slash where that is more (a run it never got is worth that much to it).
            assert ev["slashed"] == min(deposit * slash_bps // BPS, stake_before)
            assert ev["compensation"] == min(ev["slashed"], max(paid, collateral * TIMEOUT_SLASH_BPS // BPS))
        else:
            assert (ev["slashed"], ev["compensation"]) == (0, 0)
        assert b.escrow.getJob(job_id)["status"] == (7 if path == 1 else 8)
        assert b.escrow.getJob(job_id)["billedGpuSeconds"] == billed
        slashed = ev["slashed"]
    else:
        ev = b.escrow.reportFraud(job_id, b"\xee" * 32, {"from": b.arbiter}).events["FraudReported"]
        assert ev["slashed"] == min(deposit * slash_bps // BPS, stake_before)
        assert ev["compensation"] == min(ev["slashed"], deposit)
        assert b.token.balanceOf(b.client) == client_before + ev["compensation"]
        slashed = ev["slashed"]

    bonded, unbonding = (int(v) for v in b.staking.stakeOf(b.provider)[:2])
    assert bonded + unbonding == stake_before - slashed
    assert b.token.balanceOf(b.staking) == bonded + unbonding
    assert liabilities(b) == b.token.balanceOf(b.escrow) == b.escrow.owed()
    assert b.escrow.providerRecord(b.provider)["lockedCollateral"] == 0
    assert supply_check(b.token, b.holders) == start
