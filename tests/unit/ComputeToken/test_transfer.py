import brownie

from tests.fixtures.contracts import E18, SUPPLY

from .conftest import ZERO, assert_event, typed_error


def test_transfer_moves_tokens(token, deployer, rando):
    tx = token.transfer(rando, 10 * E18, {"from": deployer})
    assert tx.return_value is True
    assert_event(tx, "Transfer", token, **{"from": deployer, "to": rando, "value": 10 * E18})
    assert token.balanceOf(rando) == 10 * E18
    assert token.balanceOf(deployer) == SUPPLY - 10 * E18
    assert token.totalSupply() == SUPPLY


def test_transfer_zero(token, deployer, rando):
    tx = token.transfer(rando, 0, {"from": deployer})
    assert_event(tx, "Transfer", token, **{"from": deployer, "to": rando, "value": 0})
    assert token.balanceOf(rando) == 0


def test_transfer_to_self(token, deployer):
    token.transfer(deployer, 5, {"from": deployer})
    assert token.balanceOf(deployer) == SUPPLY


def test_transfer_whole_balance(token, deployer, rando):
    token.transfer(rando, SUPPLY, {"from": deployer})
    assert token.balanceOf(deployer) == 0
    assert token.balanceOf(rando) == SUPPLY


def test_transfer_more_than_balance_reverts(token, deployer, rando, client):
    token.transfer(rando, 3 * E18, {"from": deployer})
    with brownie.reverts(typed_error("ERC20InsufficientBalance(address,uint256,uint256)", rando, 3 * E18,
                                     3 * E18 + 1)):
        token.transfer(client, 3 * E18 + 1, {"from": rando})
    assert token.balanceOf(rando) == 3 * E18
    assert token.balanceOf(client) == 0


def test_transfer_from_empty_account_reverts(token, rando, client):
    with brownie.reverts(typed_error("ERC20InsufficientBalance(address,uint256,uint256)", rando, 0, 1)):
        token.transfer(client, 1, {"from": rando})


def test_transfer_to_zero_reverts(token, deployer):
    with brownie.reverts(typed_error("ERC20InvalidReceiver(address)", ZERO)):
        token.transfer(ZERO, 1, {"from": deployer})
    assert token.balanceOf(deployer) == SUPPLY
    assert token.totalSupply() == SUPPLY
