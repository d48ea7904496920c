"""claimRefunds: the unused part of settled jobs' deposits, (max - billed) x price, goes to each job's client;
anyone may call; each refund is paid once."""

import brownie
import pytest

from tests.fixtures.contracts import PRICE, TIMEOUT_GRACE
from tests.helpers.signing import FAILED_PROVIDER

from .conftest import (CANCELLED, DAY, DISPUTED, FRAUD, ODD_PRICE, OPEN, REJECTED, RUNNING, SETTLED, TIMED_OUT,
                       UPHELD, err, events, expect_event, unknown_job, warp, wrong_status)


def nothing(who):
    return err("JobEscrowNothingToClaim(address)", who)


def test_refunds_the_unused_deposit(escrow, token, settled_job, client, rando, staked_provider):
    job_id, _ = settled_job(billed=1000, max_gpu_seconds=3600)
    refund = 2600 * PRICE
    bal, rando_bal, escrow_bal = token.balanceOf(client), token.balanceOf(rando), token.balanceOf(escrow)
    earnings = escrow.providerRecord(staked_provider)["earnings"]
    tx = escrow.claimRefunds([job_id], {"from": rando})
    assert tx.return_value == refund
    expect_event(tx, "RefundClaimed", jobId=job_id, client=client, amount=refund)
    expect_event(tx, "Transfer", **{"from": escrow, "to": client, "value": refund})
    assert token.balanceOf(client) == bal + refund
    assert token.balanceOf(rando) == rando_bal
    assert token.balanceOf(escrow) == escrow_bal - refund
    assert escrow.providerRecord(staked_provider)["earnings"] == earnings  # the provider's share is untouched
    j = escrow.getJob(job_id).dict()
    assert (j["status"], j["refundable"], j["maxGpuSeconds"], j["billedGpuSeconds"]) == (SETTLED, 0, 1000, 1000)
    assert j["deposit"] == 3600 * PRICE


def test_client_may_claim_for_itself(escrow, token, settled_job, client):
    job_id, _ = settled_job(billed=10)
    bal = token.balanceOf(client)
    assert escrow.claimRefunds([job_id], {"from": client}).return_value == 3590 * PRICE
    assert token.balanceOf(client) == bal + 3590 * PRICE


def test_many_jobs_many_clients(escrow, token, settled_job, client, client2, rando):
    a, _ = settled_job(billed=1000)
    b, _ = settled_job(billed=3000, sender=client2)
    c, _ = settled_job(billed=0)
    bal1, bal2 = token.balanceOf(client), token.balanceOf(client2)
    tx = escrow.claimRefunds([a, b, c], {"from": rando})
    assert tx.return_value == (2600 + 600 + 3600) * PRICE
    assert events(tx, "RefundClaimed") == [
        {"jobId": a, "client": client.address.lower(), "amount": 2600 * PRICE},
        {"jobId": b, "client": client2.address.lower(), "amount": 600 * PRICE},
        {"jobId": c, "client": client.address.lower(), "amount": 3600 * PRICE}]
    assert token.balanceOf(client) == bal1 + (2600 + 3600) * PRICE
    assert token.balanceOf(client2) == bal2 + 600 * PRICE


def test_failed_provider_refunds_everything(escrow, token, settled_job, client, rando):
    job_id, _ = settled_job(billed=2000, outcome=FAILED_PROVIDER)
    bal = token.balanceOf(client)
    assert escrow.claimRefunds([job_id], {"from": rando}).return_value == 3600 * PRICE
    assert token.balanceOf(client) == bal + 3600 * PRICE


def test_capped_receipt_leaves_nothing_to_refund(escrow, settled_job, rando, snap):
    job_id, _ = settled_job(billed=4000, max_gpu_seconds=3600)
    before = snap(job_id)
    with brownie.reverts(nothing(rando)):
        escrow.claimRefunds([job_id], {"from": rando})
    assert snap(job_id) == before


def test_fully_used_jobs_are_skipped_among_others(escrow, token, settled_job, client, rando):
    full, _ = settled_job(billed=3600)
    part, _ = settled_job(billed=100)
    bal = token.balanceOf(client)
    tx = escrow.claimRefunds([full, part], {"from": rando})
    assert tx.return_value == 3500 * PRICE
    assert [e["jobId"] for e in events(tx, "RefundClaimed")] == [part]
    assert token.balanceOf(client) == bal + 3500 * PRICE


def test_duplicate_ids_pay_once(escrow, token, settled_job, client, rando):
    job_id, _ = settled_job(billed=1000)
    bal = token.balanceOf(client)
    tx = escrow.claimRefunds([job_id, job_id, job_id], {"from": rando})
    assert tx.return_value == 2600 * PRICE
    assert len(events(tx, "RefundClaimed")) == 1
    assert token.balanceOf(client) == bal + 2600 * PRICE


def test_second_claim_has_nothing(escrow, settled_job, client, rando, snap):
    job_id, _ = settled_job(billed=1000)
    escrow.claimRefunds([job_id], {"from": rando})
    before = snap(job_id)
    for who in (rando, client):
        with brownie.reverts(nothing(who)):
            escrow.claimRefunds([job_id], {"from": who})
    assert snap(job_id) == before


def test_empty_list_has_nothing(escrow, rando, snap):
    before = snap()
    with brownie.reverts(nothing(rando)):
        escrow.claimRefunds([], {"from": rando})
    assert snap() == before


def test_rounding_free_exact_refund_on_odd_price(escrow, token, job, receipt, settle, client, rando, odd_offer):
    job_id = job(max_gpu_seconds=50, offer_id=odd_offer)
    settle(receipt(job_id, gpu_seconds=13))
    bal = token.balanceOf(client)
    assert escrow.claimRefunds([job_id], {"from": rando}).return_value == 37 * ODD_PRICE
    assert token.balanceOf(client) == bal + 37 * ODD_PRICE


@pytest.mark.parametrize("ruling", [None, True, False])
def test_disputed_jobs_still_refund(escrow, token, settled_job, client, rando, arbiter, ruling):
    job_id, _ = settled_job(billed=1000)
    escrow.dispute(job_id, b"\x01" * 32, {"from": client})
    if ruling is not None:
        escrow.resolveDispute(job_id, ruling, {"from": arbiter})
    status = {None: DISPUTED, True: UPHELD, False: REJECTED}[ruling]
    assert escrow.getJob(job_id)["status"] == status
    assert escrow.getJob(job_id)["refundable"] == 2600 * PRICE
    bal = token.balanceOf(client)
    assert escrow.claimRefunds([job_id], {"from": rando}).return_value == 2600 * PRICE
    assert token.balanceOf(client) == bal + 2600 * PRICE
    assert escrow.getJob(job_id)["status"] == status


def test_works_while_paused(escrow, token, settled_job, client, rando, guardian):
    job_id, _ = settled_job(billed=1000)
    escrow.pause({"from": guardian})
    bal = token.balanceOf(client)
    escrow.claimRefunds([job_id], {"from": rando})
    assert token.balanceOf(client) == bal + 2600 * PRICE


# --------------------------------------------------------------------- reverts


def test_rejects_unknown_job(escrow, settled_job, rando, snap):
    good, _ = settled_job()
    before = snap(good)
    with brownie.reverts(unknown_job(42)):
        escrow.claimRefunds([good, 42], {"from": rando})
    assert snap(good) == before


def test_rejects_jobs_not_settled(escrow, job, settled_job, receipt, client, rando, arbiter, snap):
    good, _ = settled_job()
    opened = job(accept=False)
    running = job()
    cancelled = job(accept=False)
    escrow.cancelJob(cancelled, {"from": client})
    fraud = job()
    timed_out = job(deadline_in=DAY)
    warp(escrow.getJob(timed_out)["deadline"] + TIMEOUT_GRACE)
    escrow.claimTimeout(timed_out, {"from": rando})
    escrow.reportFraud(fraud, b"\x02" * 32, {"from": arbiter})  # jails the provider, so last
    ids = [good, opened, running, cancelled, fraud, timed_out]
    before = snap(*ids)
    for bad, status in ((opened, OPEN), (running, RUNNING), (cancelled, CANCELLED), (fraud, FRAUD),
                        (timed_out, TIMED_OUT)):
        with brownie.reverts(wrong_status(bad, status, SETTLED)):
            escrow.claimRefunds([good, bad], {"from": rando})  # the good one is not paid either
    assert snap(*ids) == before
