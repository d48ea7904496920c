"""Constructor: the whole fixed supply is minted once to the recipient; there is no way to mint later."""

import brownie
from eth_abi import encode
from eth_utils import keccak

from tests.fixtures.contracts import E18, SUPPLY

from .conftest import ZERO, assert_event, typed_error

GENESIS = "ComputeTokenInvalidGenesis(address,uint256)"


def test_metadata(token):
    assert token.name() == "gpusettle Compute"
    assert token.symbol() == "GPUC"
    assert token.decimals() == 18


def test_whole_supply_goes_to_recipient(ComputeToken, deployer, rando):
    t = ComputeToken.deploy("T", "T", rando, 123 * E18, {"from": deployer})
    assert t.totalSupply() == 123 * E18
    assert t.balanceOf(rando) == 123 * E18
    assert t.balanceOf(deployer) == 0
    assert_event(t.tx, "Transfer", t, **{"from": ZERO, "to": rando, "value": 123 * E18})


def test_fixture_token_supply(token, deployer):
    assert token.totalSupply() == SUPPLY
    assert token.balanceOf(deployer) == SUPPLY


def test_supply_of_one_base_unit(ComputeToken, deployer):
    t = ComputeToken.deploy("T", "T", deployer, 1, {"from": deployer})
    assert t.totalSupply() == 1


def test_abi_has_no_mint(token):
    names = {item["name"] for item in token.abi if item["type"] == "function"}
    assert not [n for n in names if "mint" in n.lower()]
    assert names == {
        # ERC-20
        "name", "symbol", "decimals", "totalSupply", "balanceOf", "transfer", "allowance", "approve",
        "transferFrom",
        # ERC20Burnable
        "burn", "burnFrom",
        # EIP-2612 and EIP-5267
        "permit", "nonces", "DOMAIN_SEPARATOR", "eip712Domain",
    }


def test_no_hidden_mint_selector(token, deployer, rando):
    """Calling mint(address,uint256) or mint(uint256) at the token does nothing but revert."""
    for sig, args in (("mint(address,uint256)", ["address", "uint256"]), ("mint(uint256)", ["uint256"])):
        values = [str(rando), 10**18] if len(args) == 2 else [10**18]
        data = keccak(text=sig)[:4] + encode(args, values)
        with brownie.reverts():
            deployer.transfer(token, 0, data=data)
    assert token.totalSupply() == SUPPLY
    assert token.balanceOf(rando) == 0


def test_zero_recipient_reverts(ComputeToken, deployer):
    with brownie.reverts(typed_error(GENESIS, ZERO, 5 * E18)):
        ComputeToken.deploy("T", "T", ZERO, 5 * E18, {"from": deployer})


def test_zero_supply_reverts(ComputeToken, deployer, rando):
    with brownie.reverts(typed_error(GENESIS, rando, 0)):
        ComputeToken.deploy("T", "T", rando, 0, {"from": deployer})


def test_zero_recipient_and_supply_reverts(ComputeToken, deployer):
    with brownie.reverts(typed_error(GENESIS, ZERO, 0)):
        ComputeToken.deploy("T", "T", ZERO, 0, {"from": deployer})
