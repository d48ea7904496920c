"""resolveDispute: the arbiter rules. Upheld: the provider is slashed (disputeSlashBps of the job's deposit) and
jailed, the client compensated from the slash up to what it paid and its bond returned, the rest to the treasury's
fees. Rejected: the bond goes to the provider."""

import brownie
import pytest

from tests.fixtures.contracts import DISPUTE_BOND, DISPUTE_WINDOW, FEE_BPS, PRICE, PROVIDER_STAKE, TIMEOUT_SLASH_BPS

from .conftest import (BPS, DISPUTED, REJECTED, SETTLED, UPHELD, err, events, expect_event, no_event, unauthorized,
                       unknown_job, wrong_status)

REASON = b"\x0d" * 32


@pytest.fixture(scope="module")
def disputed(settled_job, escrow, client):
    def _disputed(billed=1000, **kw):
        job_id, _ = settled_job(billed=billed, **kw)
        escrow.dispute(job_id, REASON, {"from": client})
        return job_id

    return _disputed


def balances(token, *who):
    return [token.balanceOf(w) for w in who]


def test_upheld_slashes_compensates_returns_bond_and_jails(escrow, token, staking, disputed, client, arbiter,
                                                           staked_provider, treasury):
    job_id = disputed(billed=1000)
    settled_at = escrow.getJob(job_id)["settledAt"]
    paid = 1000 * PRICE
    deposit = escrow.getJob(job_id)["deposit"]
    slash = deposit  # DISPUTE_SLASH_BPS = 100% of the job's deposit
    assert slash > paid
    cb, eb, sb, tb = balances(token, client, escrow, staking, treasury)
    fees = escrow.accruedFees()
    earnings = escrow.providerRecord(staked_provider)["earnings"]
    tx = escrow.resolveDispute(job_id, True, {"from": arbiter})
    expect_event(tx, "DisputeResolved", jobId=job_id, upheld=True, slashed=slash, compensation=paid)
    expect_event(tx, "Slashed", provider=staked_provider, requested=slash, amount=slash, recipient=escrow)
    expect_event(tx, "Jailed", provider=staked_provider)
    assert [(e["from"], e["to"], e["value"]) for e in events(tx, "Transfer")] == [
        (staking.address.lower(), escrow.address.lower(), slash),
        (escrow.address.lower(), client.address.lower(), paid + DISPUTE_BOND)]
    assert token.balanceOf(client) == cb + paid + DISPUTE_BOND
    assert token.balanceOf(escrow) == eb - DISPUTE_BOND - paid + slash
    assert token.balanceOf(staking) == sb - slash
    assert token.balanceOf(treasury) == tb
    # the client is made whole for what it paid; the rest of the slash accrues to the treasury
    assert escrow.accruedFees() == fees + slash - paid
    assert staking.stakeOf(staked_provider)[0] == PROVIDER_STAKE - slash
    assert staking.stakeOf(staked_provider)[3] is True
    rec = escrow.providerRecord(staked_provider).dict()
    assert (rec["disputesLost"], rec["openDisputes"], rec["totalSlashed"]) == (1, 0, slash)
    assert rec["earnings"] == earnings  # credited earnings stay; the client is made whole from the stake
    j = escrow.getJob(job_id).dict()
    assert (j["status"], j["billedGpuSeconds"], j["disputeBond"]) == (UPHELD, 1000, DISPUTE_BOND)
    assert tuple(escrow.unstakeBlockers(staked_provider)) == (0, 0, settled_at + DISPUTE_WINDOW, 0)


@pytest.mark.parametrize("slash_bps", [1, 2_000, 2_500, 9_999])
def test_upheld_slash_is_a_fraction_of_the_deposit(escrow, token, disputed, client, arbiter, deployer,
                                                   staked_provider, slash_bps):
    escrow.setParameter(3, slash_bps, {"from": deployer})
    job_id = disputed(billed=777)
    paid = 777 * PRICE
    slash = escrow.getJob(job_id)["deposit"] * slash_bps // BPS
    compensation = min(slash, paid)
    bal = token.balanceOf(client)
    fees = escrow.accruedFees()
    tx = escrow.resolveDispute(job_id, True, {"from": arbiter})
    expect_event(tx, "DisputeResolved", jobId=job_id, upheld=True, slashed=slash, compensation=compensation)
    assert token.balanceOf(client) == bal + compensation + DISPUTE_BOND
    assert escrow.accruedFees() == fees + slash - compensation
    assert escrow.providerRecord(staked_provider)["totalSlashed"] == slash


def test_upheld_slash_is_capped_by_the_stake_and_the_withheld_pay(escrow, token, staking, job, receipt, settle,
                                                                   client, arbiter, deployer, staked_provider):
    escrow.setParameter(1, 0, {"from": deployer})  # no collateral, so the job can be worth more than the stake
    job_id = job(max_gpu_seconds=40_000_000, deadline_in=100 * 86400)
    start = escrow.getJob(job_id)["acceptedAt"]
    settle(receipt(job_id, gpu_seconds=20_000_000, end=start + 5_000_000))
    paid = 20_000_000 * PRICE
    payout = paid - paid * FEE_BPS // BPS
    assert paid > PROVIDER_STAKE
    # Free stake (all 10,000 of it, no collateral) raised the reserve part of the way to what the job paid: the
    # rest of the pay (10,000 of the 19,500 payout) is withheld.
    withheld = paid - PROVIDER_STAKE
    assert withheld < payout
    assert escrow.withheldPay(job_id) == withheld
    escrow.dispute(job_id, REASON, {"from": client})
    bal = token.balanceOf(client)
    tx = escrow.resolveDispute(job_id, True, {"from": arbiter})
    # The slash (the whole 40,000-token deposit) finds the reserve (all the stake), then all the withheld pay, then
    # nothing more; the client gets what it paid.
    expect_event(tx, "DisputeResolved", jobId=job_id, upheld=True, slashed=PROVIDER_STAKE + withheld,
                 compensation=paid)
    expect_event(tx, "Slashed", provider=staked_provider, requested=PROVIDER_STAKE, amount=PROVIDER_STAKE,
                 recipient=escrow)
    no_event(tx, "WithheldPayReleased")
    assert token.balanceOf(client) == bal + paid + DISPUTE_BOND
    assert tuple(staking.stakeOf(staked_provider))[:2] == (0, 0)
    assert escrow.withheldPay(job_id) == 0


def test_upheld_reaches_unbonding_stake(escrow, token, staking, settled_job, client, arbiter, staked_provider):
    """A provider that starts unbonding right after settlement cannot take its stake out of the dispute's reach."""
    job_id, _ = settled_job(billed=3600)
    keep = 3600 * PRICE  # the job's dispute reserve: raised at settlement to what it paid
    staking.requestUnstake(PROVIDER_STAKE - keep, {"from": staked_provider})
    escrow.dispute(job_id, REASON, {"from": client})
    slash = 3600 * PRICE
    tx = escrow.resolveDispute(job_id, True, {"from": arbiter})
    expect_event(tx, "DisputeResolved", jobId=job_id, upheld=True, slashed=slash, compensation=slash)
    assert tuple(staking.stakeOf(staked_provider))[:2] == (0, PROVIDER_STAKE - slash)


def test_upheld_with_no_slash_still_jails_and_returns_bond(escrow, token, staking, disputed, client, arbiter,
                                                           deployer, staked_provider):
    escrow.setParameter(3, 0, {"from": deployer})
    job_id = disputed()
    bal = token.balanceOf(client)
    tx = escrow.resolveDispute(job_id, True, {"from": arbiter})
    expect_event(tx, "DisputeResolved", jobId=job_id, upheld=True, slashed=0, compensation=0)
    no_event(tx, "Slashed")
    expect_event(tx, "Transfer", **{"from": escrow, "to": client, "value": DISPUTE_BOND})
    assert token.balanceOf(client) == bal + DISPUTE_BOND
    assert staking.stakeOf(staked_provider)[3] is True


def test_upheld_with_nothing_to_pay_moves_no_tokens(escrow, token, staking, disputed, client, arbiter, deployer,
                                                    staked_provider):
    escrow.setParameter(3, 0, {"from": deployer})
    escrow.setParameter(7, 0, {"from": deployer})
    job_id = disputed()
    tx = escrow.resolveDispute(job_id, True, {"from": arbiter})
    no_event(tx, "Transfer")
    assert escrow.getJob(job_id)["status"] == UPHELD


def test_failed_provider_dispute_slashes_to_the_treasury(escrow, token, disputed, client, arbiter, staked_provider):
    job_id = disputed(billed=1000, outcome=2)  # FailedProvider: billed 0, paid 0
    deposit = escrow.getJob(job_id)["deposit"]
    fees = escrow.accruedFees()
    # the FailedProvider receipt already cost the provider its timeout slash (issue 8, lower finding 7)
    slashed_before = escrow.providerRecord(staked_provider)["totalSlashed"]
    assert slashed_before == escrow.getJob(job_id)["collateral"] * TIMEOUT_SLASH_BPS // BPS
    tx = escrow.resolveDispute(job_id, True, {"from": arbiter})
    # The client was already refunded in full, so the whole slash goes to the treasury.
    expect_event(tx, "DisputeResolved", jobId=job_id, upheld=True, slashed=deposit, compensation=0)
    assert escrow.accruedFees() == fees + deposit
    assert escrow.providerRecord(staked_provider)["totalSlashed"] == slashed_before + deposit


def test_rejected_pays_the_bond_to_the_provider(escrow, token, staking, disputed, client, arbiter,
                                                staked_provider):
    job_id = disputed()
    cb, pb, eb = balances(token, client, staked_provider, escrow)
    fees = escrow.accruedFees()
    tx = escrow.resolveDispute(job_id, False, {"from": arbiter})
    expect_event(tx, "DisputeResolved", jobId=job_id, upheld=False, slashed=0, compensation=0)
    expect_event(tx, "Transfer", **{"from": escrow, "to": staked_provider, "value": DISPUTE_BOND})
    no_event(tx, "Slashed")
    no_event(tx, "Jailed")
    assert token.balanceOf(client) == cb
    assert token.balanceOf(staked_provider) == pb + DISPUTE_BOND
    assert token.balanceOf(escrow) == eb - DISPUTE_BOND
    assert escrow.accruedFees() == fees
    assert staking.stakeOf(staked_provider)[0] == PROVIDER_STAKE
    assert staking.stakeOf(staked_provider)[3] is False
    rec = escrow.providerRecord(staked_provider).dict()
    assert (rec["disputesLost"], rec["openDisputes"], rec["totalSlashed"]) == (0, 0, 0)
    assert escrow.getJob(job_id)["status"] == REJECTED


def test_rejected_with_zero_bond_moves_no_tokens(escrow, disputed, arbiter, deployer):
    escrow.setParameter(7, 0, {"from": deployer})
    job_id = disputed()
    tx = escrow.resolveDispute(job_id, False, {"from": arbiter})
    no_event(tx, "Transfer")
    assert escrow.getJob(job_id)["status"] == REJECTED


@pytest.mark.parametrize("upheld", [True, False])
def test_the_bond_posted_is_the_bond_paid_out(escrow, token, disputed, client, arbiter, deployer,
                                              staked_provider, upheld):
    job_id = disputed()
    escrow.setParameter(7, 3 * DISPUTE_BOND, {"from": deployer})  # a later change does not reach this dispute
    to = client if upheld else staked_provider
    bal = token.balanceOf(to)
    escrow.resolveDispute(job_id, upheld, {"from": arbiter})
    comp = 1000 * PRICE if upheld else 0
    assert token.balanceOf(to) == bal + DISPUTE_BOND + comp


def test_each_dispute_is_counted(escrow, disputed, arbiter, staked_provider):
    a, b = disputed(), disputed()
    assert escrow.providerRecord(staked_provider)["openDisputes"] == 2
    escrow.resolveDispute(a, False, {"from": arbiter})
    assert escrow.providerRecord(staked_provider)["openDisputes"] == 1
    escrow.resolveDispute(b, True, {"from": arbiter})
    rec = escrow.providerRecord(staked_provider)
    assert (rec["openDisputes"], rec["disputesLost"]) == (0, 1)


def test_new_arbiter_rules_and_old_one_cannot(escrow, disputed, arbiter, rando, deployer, snap):
    job_id = disputed()
    escrow.setRole(2, rando, {"from": deployer})
    before = snap(job_id)
    with brownie.reverts(unauthorized(arbiter, "arbiter")):
        escrow.resolveDispute(job_id, True, {"from": arbiter})
    assert snap(job_id) == before
    escrow.resolveDispute(job_id, False, {"from": rando})
    assert escrow.getJob(job_id)["status"] == REJECTED


def test_works_while_paused(escrow, disputed, arbiter, guardian):
    job_id = disputed()
    escrow.pause({"from": guardian})
    escrow.resolveDispute(job_id, True, {"from": arbiter})
    assert escrow.getJob(job_id)["status"] == UPHELD


# --------------------------------------------------------------------- reverts


@pytest.mark.parametrize("who", ["rando", "governance", "guardian", "client", "provider"])
def test_only_the_arbiter(escrow, disputed, rando, deployer, guardian, client, staked_provider, snap, who):
    caller = {"rando": rando, "governance": deployer, "guardian": guardian, "client": client,
              "provider": staked_provider}[who]
    job_id = disputed()
    before = snap(job_id)
    for upheld in (True, False):
        with brownie.reverts(unauthorized(caller, "arbiter")):
            escrow.resolveDispute(job_id, upheld, {"from": caller})
    assert snap(job_id) == before


def test_caller_is_checked_before_the_job(escrow, rando):
    with brownie.reverts(unauthorized(rando, "arbiter")):
        escrow.resolveDispute(12345, True, {"from": rando})


def test_rejects_unknown_job(escrow, arbiter, snap):
    before = snap()
    with brownie.reverts(unknown_job(5)):
        escrow.resolveDispute(5, True, {"from": arbiter})
    assert snap() == before


def test_rejects_undisputed_job(escrow, settled_job, job, arbiter, snap):
    settled, _ = settled_job()
    running = job()
    before = snap(settled, running)
    with brownie.reverts(wrong_status(settled, SETTLED, DISPUTED)):
        escrow.resolveDispute(settled, True, {"from": arbiter})
    with brownie.reverts(wrong_status(running, 2, DISPUTED)):
        escrow.resolveDispute(running, False, {"from": arbiter})
    assert snap(settled, running) == before


@pytest.mark.parametrize("first", [True, False])
def test_rules_once(escrow, disputed, arbiter, snap, first):
    job_id = disputed()
    escrow.resolveDispute(job_id, first, {"from": arbiter})
    before = snap(job_id)
    for second in (True, False):
        with brownie.reverts(wrong_status(job_id, UPHELD if first else REJECTED, DISPUTED)):
            escrow.resolveDispute(job_id, second, {"from": arbiter})
    assert snap(job_id) == before
