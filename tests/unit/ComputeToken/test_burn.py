"""burn and burnFrom: the only way the supply changes after deployment."""

import brownie

from tests.fixtures.contracts import E18, SUPPLY

from .conftest import MAX_UINT256, ZERO, assert_event, typed_error


def test_burn_reduces_supply(token, deployer):
    tx = token.burn(4 * E18, {"from": deployer})
    assert_event(tx, "Transfer", token, **{"from": deployer, "to": ZERO, "value": 4 * E18})
    assert token.totalSupply() == SUPPLY - 4 * E18
    assert token.balanceOf(deployer) == SUPPLY - 4 * E18
    assert token.balanceOf(ZERO) == 0


def test_burn_everything(token, deployer):
    token.burn(SUPPLY, {"from": deployer})
    assert token.totalSupply() == 0


def test_burn_zero(token, deployer):
    token.burn(0, {"from": deployer})
    assert token.totalSupply() == SUPPLY


def test_burn_more_than_balance_reverts(token, deployer, rando):
    token.transfer(rando, 5, {"from": deployer})
    with brownie.reverts(typed_error("ERC20InsufficientBalance(address,uint256,uint256)", rando, 5, 6)):
        token.burn(6, {"from": rando})
    assert token.totalSupply() == SUPPLY
    assert token.balanceOf(rando) == 5


def test_burn_from_spends_allowance(token, deployer, rando):
    token.approve(rando, 10 * E18, {"from": deployer})
    tx = token.burnFrom(deployer, 6 * E18, {"from": rando})
    assert_event(tx, "Transfer", token, **{"from": deployer, "to": ZERO, "value": 6 * E18})
    assert token.totalSupply() == SUPPLY - 6 * E18
    assert token.balanceOf(deployer) == SUPPLY - 6 * E18
    assert token.balanceOf(rando) == 0
    assert token.allowance(deployer, rando) == 4 * E18


def test_burn_from_with_infinite_allowance(token, deployer, rando):
    token.approve(rando, MAX_UINT256, {"from": deployer})
    token.burnFrom(deployer, E18, {"from": rando})
    assert token.allowance(deployer, rando) == MAX_UINT256
    assert token.totalSupply() == SUPPLY - E18


def test_burn_from_without_allowance_reverts(token, deployer, rando):
    with brownie.reverts(typed_error("ERC20InsufficientAllowance(address,uint256,uint256)", rando, 0, E18)):
        token.burnFrom(deployer, E18, {"from": rando})
    assert token.totalSupply() == SUPPLY


def test_burn_from_above_allowance_reverts(token, deployer, rando):
    token.approve(rando, E18, {"from": deployer})
    with brownie.reverts(typed_error("ERC20InsufficientAllowance(address,uint256,uint256)", rando, E18, E18 + 1)):
        token.burnFrom(deployer, E18 + 1, {"from": rando})
    assert token.totalSupply() == SUPPLY
    assert token.allowance(deployer, rando) == E18


def test_burn_from_above_balance_reverts(token, deployer, rando, client):
    token.transfer(client, 5, {"from": deployer})
    token.approve(rando, MAX_UINT256, {"from": client})
    with brownie.reverts(typed_error("ERC20InsufficientBalance(address,uint256,uint256)", client, 5, 6)):
        token.burnFrom(client, 6, {"from": rando})
    assert token.totalSupply() == SUPPLY


def test_transfers_never_change_supply(token, deployer, rando, client):
    token.transfer(rando, 9, {"from": deployer})
    token.approve(client, 4, {"from": rando})
    token.transferFrom(rando, client, 4, {"from": client})
    assert token.totalSupply() == SUPPLY
    assert token.balanceOf(deployer) + token.balanceOf(rando) + token.balanceOf(client) == SUPPLY
