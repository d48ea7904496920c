"""reportFraud: the arbiter finds a running job's result fraudulent: the client gets its whole deposit back plus
compensation from the slash (disputeSlashBps of the deposit, at most the deposit), the provider is jailed."""

import brownie
import pytest

from tests.fixtures.contracts import COLLATERAL_BPS, PRICE, PROVIDER_STAKE
from tests.helpers.limits import limits

from .conftest import (
    BPS,
    FRAUD,
    OPEN,
    RUNNING,
    SETTLED,
    err,
    events,
    expect_event,
    no_event,
    unauthorized,
    unknown_job,
    warp,
    wrong_status,
)

EVIDENCE = b"\xee" * 32


def test_refunds_compensates_slashes_and_jails(escrow, token, staking, job, client, arbiter, staked_provider,
                                               treasury):
    job_id = job(max_gpu_seconds=3600)
    deposit = 3600 * PRICE
    slash = deposit  # DISPUTE_SLASH_BPS = 100%
    cb, eb, sb, tb = (token.balanceOf(w) for w in (client, escrow, staking, treasury))
    fees = escrow.accruedFees()
    tx = escrow.reportFraud(job_id, EVIDENCE, {"from": arbiter})
    expect_event(tx, "FraudReported", jobId=job_id, evidenceHash=EVIDENCE, slashed=slash, compensation=slash)
    expect_event(tx, "Slashed", provider=staked_provider, requested=slash, amount=slash, recipient=escrow)
    expect_event(tx, "Jailed", provider=staked_provider)
    assert [(e["from"], e["to"], e["value"]) for e in events(tx, "Transfer")] == [
        (staking.address.lower(), escrow.address.lower(), slash),
        (escrow.address.lower(), client.address.lower(), deposit + slash)]
    assert token.balanceOf(client) == cb + deposit + slash
    assert token.balanceOf(escrow) == eb - deposit
    assert token.balanceOf(staking) == sb - slash
    assert token.balanceOf(treasury) == tb and escrow.accruedFees() == fees
    assert staking.stakeOf(staked_provider)[0] == PROVIDER_STAKE - slash
    assert staking.stakeOf(staked_provider)[3] is True
    rec = escrow.providerRecord(staked_provider).dict()
    assert (rec["lockedCollateral"], rec["disputesLost"], rec["totalSlashed"], rec["earnings"]) == (0, 1, slash, 0)
    assert (rec["jobsCompleted"], rec["jobsFailed"], rec["jobsTimedOut"], rec["openDisputes"]) == (0, 0, 0, 0)
    j = escrow.getJob(job_id).dict()
    assert (j["status"], j["refundable"], j["deadline"], j["acceptedAt"]) == (FRAUD, 0, 0, 0)


@pytest.mark.parametrize("slash_bps", [0, 1, 5_000])
def test_slash_is_a_fraction_of_the_deposit(escrow, token, job, client, arbiter, deployer, staked_provider,
                                            slash_bps):
    escrow.setParameter(3, slash_bps, {"from": deployer})
    job_id = job(max_gpu_seconds=1001)
    deposit = 1001 * PRICE
    slash = deposit * slash_bps // BPS
    bal = token.balanceOf(client)
    tx = escrow.reportFraud(job_id, EVIDENCE, {"from": arbiter})
    expect_event(tx, "FraudReported", jobId=job_id, evidenceHash=EVIDENCE, slashed=slash, compensation=slash)
    assert token.balanceOf(client) == bal + deposit + slash
    assert escrow.providerRecord(staked_provider)["totalSlashed"] == slash
    if slash == 0:
        no_event(tx, "Slashed")


def test_slash_is_capped_by_the_stake(escrow, token, staking, job, client, arbiter, staked_provider):
    # collateral 20% lets a job be worth 5x the stake
    big = PROVIDER_STAKE * BPS // COLLATERAL_BPS // PRICE
    job_id = job(max_gpu_seconds=big)
    deposit = big * PRICE
    bal = token.balanceOf(client)
    tx = escrow.reportFraud(job_id, EVIDENCE, {"from": arbiter})
    expect_event(tx, "FraudReported", jobId=job_id, evidenceHash=EVIDENCE, slashed=PROVIDER_STAKE,
                 compensation=PROVIDER_STAKE)
    expect_event(tx, "Slashed", provider=staked_provider, requested=deposit, amount=PROVIDER_STAKE,
                 recipient=escrow)
    assert token.balanceOf(client) == bal + deposit + PROVIDER_STAKE
    assert tuple(staking.stakeOf(staked_provider))[:2] == (0, 0)
    assert escrow.providerRecord(staked_provider)["lockedCollateral"] == 0


def test_jailed_provider_takes_no_new_work(escrow, staking, job, arbiter, client, staked_provider):
    fraud, waiting = job(), job(accept=False)
    escrow.reportFraud(fraud, EVIDENCE, {"from": arbiter})
    with brownie.reverts(err("JobEscrowProviderJailed(address)", staked_provider)):
        escrow.acceptJob(waiting, {"from": staked_provider})
    with brownie.reverts(err("ProviderStakingJailed(address)", staked_provider)):
        escrow.createJob(1, 10, escrow.getJob(waiting)["deadline"], b"\x00" * 32, *limits(escrow, 1), {"from": client})


def test_fraud_job_cannot_settle_or_time_out(escrow, job, receipt, settle, arbiter, rando, snap):
    job_id = job(deadline_in=86400)
    r = receipt(job_id)
    escrow.reportFraud(job_id, EVIDENCE, {"from": arbiter})
    warp(r.endTime + 2 * 86400)  # past deadline + grace
    before = snap(job_id)
    with brownie.reverts(wrong_status(job_id, FRAUD, RUNNING)):
        settle(r)
    with brownie.reverts(wrong_status(job_id, FRAUD, RUNNING)):
        escrow.claimTimeout(job_id, {"from": rando})
    with brownie.reverts(wrong_status(job_id, FRAUD, SETTLED)):
        escrow.claimRefunds([job_id], {"from": rando})
    assert snap(job_id) == before


def test_works_while_paused(escrow, job, arbiter, guardian):
    job_id = job()
    escrow.pause({"from": guardian})
    escrow.reportFraud(job_id, EVIDENCE, {"from": arbiter})
    assert escrow.getJob(job_id)["status"] == FRAUD


# --------------------------------------------------------------------- reverts


@pytest.mark.parametrize("who", ["rando", "governance", "guardian", "client"])
def test_only_the_arbiter(escrow, job, rando, deployer, guardian, client, snap, who):
    caller = {"rando": rando, "governance": deployer, "guardian": guardian, "client": client}[who]
    job_id = job()
    before = snap(job_id)
    with brownie.reverts(unauthorized(caller, "arbiter")):
        escrow.reportFraud(job_id, EVIDENCE, {"from": caller})
    assert snap(job_id) == before


def test_rejects_unknown_job(escrow, arbiter, snap):
    before = snap()
    with brownie.reverts(unknown_job(3)):
        escrow.reportFraud(3, EVIDENCE, {"from": arbiter})
    assert snap() == before


def test_rejects_jobs_not_running(escrow, job, settled_job, arbiter, snap):
    opened = job(accept=False)
    settled, _ = settled_job()
    before = snap(opened, settled)
    with brownie.reverts(wrong_status(opened, OPEN, RUNNING)):
        escrow.reportFraud(opened, EVIDENCE, {"from": arbiter})
    with brownie.reverts(wrong_status(settled, SETTLED, RUNNING)):
        escrow.reportFraud(settled, EVIDENCE, {"from": arbiter})
    assert snap(opened, settled) == before


def test_reports_once(escrow, job, arbiter, snap):
    a, b = job(), job()
    escrow.reportFraud(a, EVIDENCE, {"from": arbiter})
    before = snap(a, b)
    with brownie.reverts(wrong_status(a, FRAUD, RUNNING)):
        escrow.reportFraud(a, EVIDENCE, {"from": arbiter})
    assert snap(a, b) == before
    # a second running job of the jailed provider can still be reported
    escrow.reportFraud(b, EVIDENCE, {"from": arbiter})
    assert escrow.providerRecord(escrow.getJob(b)["provider"])["disputesLost"] == 2
