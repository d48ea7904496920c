"""withdrawFees: anyone sends the accrued protocol fees to the current treasury."""

import brownie

from tests.fixtures.contracts import FEE_BPS, PRICE

from .conftest import BPS, err, expect_event, now, warp


def fee(billed, price=PRICE):
    return billed * price * FEE_BPS // BPS


def nothing(who):
    return err("JobEscrowNothingToClaim(address)", who)


def test_anyone_sends_fees_to_the_treasury(escrow, token, settled_job, rando, treasury, staked_provider):
    settled_job(billed=1000)
    settled_job(billed=77)
    amount = fee(1000) + fee(77)
    assert escrow.accruedFees() == amount
    tb, rb, eb = token.balanceOf(treasury), token.balanceOf(rando), token.balanceOf(escrow)
    earnings = escrow.providerRecord(staked_provider)["earnings"]
    tx = escrow.withdrawFees({"from": rando})
    assert tx.return_value == amount
    expect_event(tx, "FeesWithdrawn", treasury=treasury, amount=amount)
    expect_event(tx, "Transfer", **{"from": escrow, "to": treasury, "value": amount})
    assert token.balanceOf(treasury) == tb + amount
    assert token.balanceOf(rando) == rb
    assert token.balanceOf(escrow) == eb - amount
    assert escrow.accruedFees() == 0
    assert escrow.providerRecord(staked_provider)["earnings"] == earnings


def test_fees_go_to_the_current_treasury(escrow, token, settled_job, rando, treasury, deployer, client2):
    settled_job(billed=1000)
    escrow.setRole(0, client2, {"from": deployer})
    tb, nb = token.balanceOf(treasury), token.balanceOf(client2)
    tx = escrow.withdrawFees({"from": treasury})
    expect_event(tx, "FeesWithdrawn", treasury=client2, amount=fee(1000))
    assert token.balanceOf(treasury) == tb
    assert token.balanceOf(client2) == nb + fee(1000)


def test_works_while_paused(escrow, token, settled_job, rando, treasury, guardian):
    settled_job(billed=1000)
    escrow.pause({"from": guardian})
    tb = token.balanceOf(treasury)
    escrow.withdrawFees({"from": rando})
    assert token.balanceOf(treasury) == tb + fee(1000)


def test_nothing_before_any_fee(escrow, rando, treasury, snap):
    before = snap()
    with brownie.reverts(nothing(treasury)):  # names the treasury, not the caller
        escrow.withdrawFees({"from": rando})
    assert snap() == before


def test_nothing_twice_and_names_the_current_treasury(escrow, settled_job, rando, deployer, client2, snap):
    settled_job(billed=1000)
    escrow.withdrawFees({"from": rando})
    escrow.setRole(0, client2, {"from": deployer})
    before = snap()
    with brownie.reverts(nothing(client2)):
        escrow.withdrawFees({"from": rando})
    assert snap() == before


def test_zero_fee_settlements_accrue_nothing(escrow, settled_job, rando, treasury, deployer, snap):
    escrow.setParameter(0, 0, {"from": deployer})
    warp(now() + 1)  # a fee applies to jobs accepted from the next second on
    settled_job(billed=1000)
    before = snap()
    with brownie.reverts(nothing(treasury)):
        escrow.withdrawFees({"from": rando})
    assert snap() == before


def test_fees_accrue_again_after_withdrawal(escrow, settled_job, rando):
    settled_job(billed=1000)
    escrow.withdrawFees({"from": rando})
    settled_job(billed=400)
    assert escrow.withdrawFees({"from": rando}).return_value == fee(400)
