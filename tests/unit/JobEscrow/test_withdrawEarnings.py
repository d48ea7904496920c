"""withdrawEarnings: a provider pulls what settlements credited to it."""

import brownie
import pytest

from tests.fixtures.contracts import FEE_BPS, PRICE

from .conftest import BPS, PRICE2, err, expect_event


def payout(billed, price=PRICE):
    paid = billed * price
    return paid - paid * FEE_BPS // BPS


def nothing(who):
    return err("JobEscrowNothingToClaim(address)", who)


def test_provider_withdraws_all_credited_earnings(escrow, token, settled_job, staked_provider):
    settled_job(billed=1000)
    settled_job(billed=333)
    amount = payout(1000) + payout(333)
    assert escrow.providerRecord(staked_provider)["earnings"] == amount
    bal, eb, fees = token.balanceOf(staked_provider), token.balanceOf(escrow), escrow.accruedFees()
    tx = escrow.withdrawEarnings({"from": staked_provider})
    assert tx.return_value == amount
    expect_event(tx, "EarningsWithdrawn", provider=staked_provider, amount=amount)
    expect_event(tx, "Transfer", **{"from": escrow, "to": staked_provider, "value": amount})
    assert token.balanceOf(staked_provider) == bal + amount
    assert token.balanceOf(escrow) == eb - amount
    rec = escrow.providerRecord(staked_provider).dict()
    assert rec["earnings"] == 0
    assert rec["jobsCompleted"] == 2 and rec["gpuSecondsServed"] == 1333  # the record stays
    assert escrow.accruedFees() == fees


def test_earnings_after_a_withdrawal_accrue_again(escrow, token, settled_job, staked_provider):
    settled_job(billed=10)
    escrow.withdrawEarnings({"from": staked_provider})
    settled_job(billed=20)
    assert escrow.withdrawEarnings({"from": staked_provider}).return_value == payout(20)


def test_each_provider_withdraws_its_own(escrow, token, job, receipt, settle_args, settled_job, rando, provider2,
                                         staked_provider, offer2, worker2_key):
    settled_job(billed=1000)
    j2 = job(offer_id=offer2)
    escrow.settle(*settle_args(receipt(j2, gpu_seconds=500), key=worker2_key), {"from": rando})
    assert escrow.withdrawEarnings({"from": provider2}).return_value == payout(500, PRICE2)
    assert escrow.providerRecord(staked_provider)["earnings"] == payout(1000)
    assert escrow.withdrawEarnings({"from": staked_provider}).return_value == payout(1000)


def test_works_while_paused(escrow, token, settled_job, staked_provider, guardian):
    settled_job(billed=1000)
    escrow.pause({"from": guardian})
    bal = token.balanceOf(staked_provider)
    escrow.withdrawEarnings({"from": staked_provider})
    assert token.balanceOf(staked_provider) == bal + payout(1000)


def test_works_while_jailed(escrow, token, staking, settled_job, staked_provider, deployer):
    settled_job(billed=1000)
    staking.jail(staked_provider, {"from": deployer})
    assert escrow.withdrawEarnings({"from": staked_provider}).return_value == payout(1000)


@pytest.mark.parametrize("who", ["worker", "rando", "client", "treasury"])
def test_nobody_else_can_take_them(escrow, settled_job, staked_provider, worker, rando, client, treasury, snap,
                                   who):
    caller = {"worker": worker, "rando": rando, "client": client, "treasury": treasury}[who]
    settled_job(billed=1000)
    before = snap()
    with brownie.reverts(nothing(caller)):
        escrow.withdrawEarnings({"from": caller})
    assert snap() == before


def test_nothing_before_any_settlement(escrow, job, staked_provider, snap):
    job()
    before = snap()
    with brownie.reverts(nothing(staked_provider)):
        escrow.withdrawEarnings({"from": staked_provider})
    assert snap() == before


def test_nothing_twice(escrow, settled_job, staked_provider, snap):
    settled_job(billed=1000)
    escrow.withdrawEarnings({"from": staked_provider})
    before = snap()
    with brownie.reverts(nothing(staked_provider)):
        escrow.withdrawEarnings({"from": staked_provider})
    assert snap() == before


def test_failed_provider_receipt_earns_nothing(escrow, settled_job, staked_provider, snap):
    settled_job(billed=1000, outcome=2)
    before = snap()
    with brownie.reverts(nothing(staked_provider)):
        escrow.withdrawEarnings({"from": staked_provider})
    assert snap() == before
