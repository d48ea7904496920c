"""EIP-2612 permits for the compute token, signed with eth-account alone."""

from brownie import chain
from eth_account import Account


def permit_typed_data(token, owner, spender, value, nonce, deadline, chain_id=None, verifying=None, name=None):
    """The full EIP-712 message; the domain can be bent (chain id, token address, name) to test rejections."""
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
    """(v, r, s) of an EIP-2612 permit signed by `key`; `nonce` defaults to the owner's current one."""
    nonce = token.nonces(owner) if nonce is None else nonce
    signed = Account.sign_typed_data(key, full_message=permit_typed_data(token, owner, spender, value, nonce,
                                                                         deadline, **domain))
    return signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")
