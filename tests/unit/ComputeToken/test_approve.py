"""approve and transferFrom."""

import brownie

from tests.fixtures.contracts import E18, SUPPLY

from .conftest import MAX_UINT256, ZERO, assert_event, typed_error


def test_approve_sets_allowance(token, deployer, rando):
    tx = token.approve(rando, 7 * E18, {"from": deployer})
    assert tx.return_value is True
    assert_event(tx, "Approval", token, owner=deployer, spender=rando, value=7 * E18)
    assert token.allowance(deployer, rando) == 7 * E18
    assert token.allowance(rando, deployer) == 0


def test_approve_overwrites(token, deployer, rando):
    token.approve(rando, 7 * E18, {"from": deployer})
    token.approve(rando, 2, {"from": deployer})
    assert token.allowance(deployer, rando) == 2
    token.approve(rando, 0, {"from": deployer})
    assert token.allowance(deployer, rando) == 0


def test_approve_zero_spender_reverts(token, deployer):
    with brownie.reverts(typed_error("ERC20InvalidSpender(address)", ZERO)):
        token.approve(ZERO, 1, {"from": deployer})


def test_transfer_from_spends_allowance(token, deployer, rando, client):
    token.approve(rando, 7 * E18, {"from": deployer})
    tx = token.transferFrom(deployer, client, 5 * E18, {"from": rando})
    assert tx.return_value is True
    assert_event(tx, "Transfer", token, **{"from": deployer, "to": client, "value": 5 * E18})
    assert token.allowance(deployer, rando) == 2 * E18
    assert token.balanceOf(client) == 5 * E18
    assert token.balanceOf(deployer) == SUPPLY - 5 * E18


def test_infinite_allowance_is_not_spent(token, deployer, rando, client):
    token.approve(rando, MAX_UINT256, {"from": deployer})
    token.transferFrom(deployer, client, 5 * E18, {"from": rando})
    assert token.allowance(deployer, rando) == MAX_UINT256


def test_transfer_from_above_allowance_reverts(token, deployer, rando, client):
    token.approve(rando, 7 * E18, {"from": deployer})
    with brownie.reverts(typed_error("ERC20InsufficientAllowance(address,uint256,uint256)", rando, 7 * E18,
                                     7 * E18 + 1)):
        token.transferFrom(deployer, client, 7 * E18 + 1, {"from": rando})
    assert token.allowance(deployer, rando) == 7 * E18
    assert token.balanceOf(client) == 0


def test_transfer_from_without_allowance_reverts(token, deployer, rando):
    with brownie.reverts(typed_error("ERC20InsufficientAllowance(address,uint256,uint256)", rando, 0, 1)):
        token.transferFrom(deployer, rando, 1, {"from": rando})
    assert token.balanceOf(deployer) == SUPPLY


def test_transfer_from_above_balance_reverts(token, deployer, rando, client):
    token.transfer(client, 3, {"from": deployer})
    token.approve(rando, MAX_UINT256, {"from": client})
    with brownie.reverts(typed_error("ERC20InsufficientBalance(address,uint256,uint256)", client, 3, 4)):
        token.transferFrom(client, rando, 4, {"from": rando})
    assert token.balanceOf(client) == 3


def test_transfer_from_to_zero_reverts(token, deployer, rando):
    token.approve(rando, 10, {"from": deployer})
    with brownie.reverts(typed_error("ERC20InvalidReceiver(address)", ZERO)):
        token.transferFrom(deployer, ZERO, 1, {"from": rando})
    assert token.allowance(deployer, rando) == 10
