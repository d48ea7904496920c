"""Local helpers and fixtures for the ComputeToken unit tests."""

import pytest
from brownie import accounts, chain, web3
from brownie.exceptions import decode_typed_error
from eth_abi import encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from tests.fixtures.contracts import E18

ZERO = "0x0000000000000000000000000000000000000000"
MAX_UINT256 = 2**256 - 1
HOLDER_KEY = "0x" + "7a" * 32
OTHER_KEY = "0x" + "7b" * 32
HOLDER_FUNDS = 1_000 * E18


def typed_error(signature, *args):
    """The revert string brownie 1.22 reports for the custom error `signature` with `args`: the revert data
    is ABI-encoded here as the EVM returns it and decoded by brownie's own decoder."""
    types = [t for t in signature[signature.index("(") + 1 : -1].split(",") if t]
    assert len(types) == len(args), f"{signature} takes {len(types)} arguments, got {len(args)}"
    values = [str(a) if t == "address" else a for a, t in zip(args, types)]
    data = keccak(text=signature)[:4] + encode(types, values)
    return decode_typed_error("0x" + data.hex())


def assert_event(tx, name, emitter=None, **values):
    """`tx` emitted exactly one `name` event (from `emitter`, if given) with exactly these values."""
    events = [e for e in tx.events if e.name == name and (emitter is None or e.address == emitter.address)]
    assert len(events) == 1, f"expected one {name}, got {len(events)}"
    assert dict(events[0]) == values, f"{name}: {dict(events[0])} != {values}"


def now():
    return chain[-1].timestamp


def next_block_at(ts):
    web3.provider.make_request("evm_setNextBlockTimestamp", [int(ts)])


def permit_data(token, owner, spender, value, nonce, deadline, chain_id=None, verifying=None, name=None):
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Permit": [
                {"name": "owner", "type": "address"},
                {"name": "spender", "type": "address"},
                {"name": "value", "type": "uint256"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ],
        },
        "primaryType": "Permit",
        "domain": {"name": name or token.name(), "version": "1", "chainId": chain.id if chain_id is None else chain_id,
                   "verifyingContract": str(verifying or token.address)},
        "message": {"owner": str(owner), "spender": str(spender), "value": value, "nonce": nonce,
                    "deadline": deadline},
    }


def sign_permit(token, key, owner, spender, value, deadline, nonce=None, **domain):
    """(v, r, s) of an EIP-2612 permit, signed with eth-account's sign_typed_data."""
    nonce = token.nonces(owner) if nonce is None else nonce
    signed = Account.sign_typed_data(key, full_message=permit_data(token, owner, spender, value, nonce, deadline,
                                                                  **domain))
    return signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")


def recover_permit(token, owner, spender, value, nonce, deadline, vrs):
    """Who the token will recover for this permit message and signature."""
    v, r, s = vrs
    signable = encode_typed_data(full_message=permit_data(token, owner, spender, value, nonce, deadline))
    return Account.recover_message(signable, vrs=(v, int.from_bytes(r, "big"), int.from_bytes(s, "big")))


@pytest.fixture(scope="module")
def holder(token, deployer):
    """An account whose key we hold, with ether for gas and HOLDER_FUNDS tokens."""
    acct = accounts.add(HOLDER_KEY)
    deployer.transfer(acct, "10 ether")
    token.transfer(acct, HOLDER_FUNDS, {"from": deployer})
    return acct
