"""Local fixtures and helpers for the ProviderStaking unit tests."""

import pytest
from brownie import accounts, chain, web3
from brownie.exceptions import decode_typed_error
from eth_abi import encode
from eth_utils import keccak

from tests.fixtures.contracts import E18, PROVIDER_STAKE

ZERO = "0x0000000000000000000000000000000000000000"
DAY = 24 * 3600
HOUR = 3600
MAX_UINT256 = 2**256 - 1
MAX_UINT64 = 2**64 - 1


def _arg(value, abi_type):
    if abi_type == "address":
        return str(value)
    if abi_type.startswith("bytes") and isinstance(value, str) and not value.startswith("0x"):
        return value.encode().ljust(int(abi_type[5:]), b"\x00")
    return value


def typed_error(signature, *args):
    """The revert string brownie 1.22 reports for the custom error `signature` with `args`.

    The revert data is ABI-encoded here exactly as the EVM returns it and then decoded by brownie's
    own decoder, so `brownie.reverts(typed_error(...))` compares the selector and every argument.
    """
    types = [t for t in signature[signature.index("(") + 1 : -1].split(",") if t]
    assert len(types) == len(args), f"{signature} takes {len(types)} arguments, got {len(args)}"
    data = keccak(text=signature)[:4] + encode(types, [_arg(a, t) for a, t in zip(args, types)])
    return decode_typed_error("0x" + data.hex())


def unauthorized(caller, role):
    return typed_error("Unauthorized(address,bytes32)", caller, role)


def assert_event(tx, name, emitter=None, **values):
    """`tx` emitted exactly one `name` event (from `emitter`, if given) with exactly these values."""
    events = [e for e in tx.events if e.name == name and (emitter is None or e.address == emitter.address)]
    assert len(events) == 1, f"expected one {name}, got {len(events)}"
    assert dict(events[0]) == values, f"{name}: {dict(events[0])} != {values}"


def assert_no_event(tx, name):
    assert name not in tx.events, f"unexpected {name}: {tx.events[name]}"


def ints(values):
    """A brownie ReturnValue of integers as a plain tuple (ReturnValue == tuple raises on some types)."""
    return tuple(int(v) for v in values)


def now():
    return chain[-1].timestamp


def next_block_at(ts):
    """The next block (the next transaction) gets timestamp `ts` exactly."""
    web3.provider.make_request("evm_setNextBlockTimestamp", [int(ts)])


def stake_of(staking, who):
    """stakeOf as a plain (bonded, unbonding, releaseAt, jailed) tuple, comparable with ==."""
    bonded, unbonding, release_at, jailed = staking.stakeOf(who)
    return (int(bonded), int(unbonding), int(release_at), bool(jailed))


@pytest.fixture(scope="module")
def escrow_signer(escrow):
    """The deployed JobEscrow, impersonated so slash/jail can be called as the escrow itself."""
    web3.provider.make_request("anvil_setBalance", [escrow.address, hex(10 * E18)])
    return accounts.at(escrow.address, force=True)


@pytest.fixture
def bonded(funded, token, staking, escrow, provider2):
    """`provider2` with PROVIDER_STAKE bonded, an unlimited allowance, no worker and no offer (escrow wired).

    Function-scoped, so it is undone after each test (module-scoped chain state outlives fn_isolation).
    """
    token.approve(staking, MAX_UINT256, {"from": provider2})
    staking.stake(PROVIDER_STAKE, {"from": provider2})
    return provider2


@pytest.fixture(scope="module")
def bare_staking(ProviderStaking, token, deployer):
    """A ProviderStaking with no escrow named (1 token minimum, 2-hour unbonding)."""
    return ProviderStaking.deploy(token, deployer, E18, 2 * HOUR, {"from": deployer})


@pytest.fixture
def disputed_job(staked_provider, escrow, create_job, make_receipt, settle, client):
    """A settled job on offer 1 that the client has disputed: one open dispute against the provider."""
    job_id = create_job(max_gpu_seconds=3600)
    settle(make_receipt(job_id, gpu_seconds=1000))
    escrow.dispute(job_id, b"\x01" * 32, {"from": client})
    assert escrow.unstakeBlockers(staked_provider)[1] == 1
    return job_id


PERMIT_KEY = "0x" + "5e" * 32
OTHER_KEY = "0x" + "6f" * 32
PERMIT_FUNDS = 1_000 * E18


def permit_typed_data(token, owner, spender, value, nonce, deadline):
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
        "domain": {"name": token.name(), "version": "1", "chainId": chain.id, "verifyingContract": token.address},
        "message": {"owner": str(owner), "spender": str(spender), "value": value, "nonce": nonce,
                    "deadline": deadline},
    }


def sign_permit(token, key, owner, spender, value, deadline, nonce=None):
    """(v, r, s) of an EIP-2612 permit signed with eth-account by `key` (owner defaults to its address)."""
    from eth_account import Account

    nonce = token.nonces(owner) if nonce is None else nonce
    signed = Account.sign_typed_data(key, full_message=permit_typed_data(token, owner, spender, value, nonce, deadline))
    return signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")


@pytest.fixture(scope="module")
def permit_provider(token, deployer):
    """A provider whose key we hold, with ether for gas and PERMIT_FUNDS tokens, and no allowance."""
    acct = accounts.add(PERMIT_KEY)
    deployer.transfer(acct, "10 ether")
    token.transfer(acct, PERMIT_FUNDS, {"from": deployer})
    return acct
