"""Local helpers and fixtures for the ComputeToken unit tests."""

import pytest
from brownie import accounts, chain, web3
from eth_account import Account
from eth_account.messages import encode_typed_data

from tests.fixtures.contracts import E18
from tests.helpers.permit import permit_typed_data, sign_permit  # noqa: F401 - used by the tests
from tests.helpers.revert import assert_event, typed_error  # noqa: F401 - used by the tests

ZERO = "0x0000000000000000000000000000000000000000"
MAX_UINT256 = 2**256 - 1
HOLDER_KEY = "0x" + "7a" * 32
OTHER_KEY = "0x" + "7b" * 32
HOLDER_FUNDS = 1_000 * E18


def now():
    return chain[-1].timestamp


def next_block_at(ts):
    web3.provider.make_request("evm_setNextBlockTimestamp", [int(ts)])


permit_data = permit_typed_data


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
