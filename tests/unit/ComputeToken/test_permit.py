"""EIP-2612 permit, signed with eth-account's sign_typed_data by a key held here."""

import brownie
from brownie import chain
from eth_account import Account
from eth_account.messages import encode_typed_data

from tests.fixtures.contracts import E18

from .conftest import (
    HOLDER_KEY,
    OTHER_KEY,
    ZERO,
    assert_event,
    next_block_at,
    now,
    permit_data,
    recover_permit,
    sign_permit,
    typed_error,
)

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
VALUE = 42 * E18


def test_domain_separator_matches_eip712(token):
    signable = encode_typed_data(full_message=permit_data(token, ZERO, ZERO, 0, 0, 0))
    assert token.DOMAIN_SEPARATOR() == "0x" + signable.header.hex().removeprefix("0x")
    domain = token.eip712Domain()
    assert (domain[1], domain[2], domain[3], domain[4]) == ("gpusettle Compute", "1", chain.id, token.address)


def test_valid_permit_sets_allowance(token, holder, rando, client):
    deadline = now() + 3600
    v, r, s = sign_permit(token, HOLDER_KEY, holder, client, VALUE, deadline)

    tx = token.permit(holder, client, VALUE, deadline, v, r, s, {"from": rando})  # anyone may relay it

    assert_event(tx, "Approval", token, owner=holder, spender=client, value=VALUE)
    assert token.allowance(holder, client) == VALUE
    assert token.nonces(holder) == 1
    token.transferFrom(holder, client, VALUE, {"from": client})
    assert token.balanceOf(client) == VALUE


def test_permit_overwrites_allowance(token, holder, client):
    token.approve(client, 5, {"from": holder})
    deadline = now() + 3600
    token.permit(holder, client, 1, deadline, *sign_permit(token, HOLDER_KEY, holder, client, 1, deadline),
                 {"from": client})
    assert token.allowance(holder, client) == 1


def test_consecutive_permits_use_consecutive_nonces(token, holder, client, rando):
    deadline = now() + 3600
    token.permit(holder, client, 1, deadline, *sign_permit(token, HOLDER_KEY, holder, client, 1, deadline),
                 {"from": rando})
    token.permit(holder, rando, 2, deadline, *sign_permit(token, HOLDER_KEY, holder, rando, 2, deadline, nonce=1),
                 {"from": rando})
    assert token.nonces(holder) == 2
    assert (token.allowance(holder, client), token.allowance(holder, rando)) == (1, 2)


def test_permit_at_deadline_is_valid(token, holder, client):
    deadline = now() + 100
    vrs = sign_permit(token, HOLDER_KEY, holder, client, VALUE, deadline)
    next_block_at(deadline)
    token.permit(holder, client, VALUE, deadline, *vrs, {"from": client})
    assert token.allowance(holder, client) == VALUE


def test_expired_permit_reverts(token, holder, client):
    deadline = now() + 100
    vrs = sign_permit(token, HOLDER_KEY, holder, client, VALUE, deadline)
    next_block_at(deadline + 1)
    with brownie.reverts(typed_error("ERC2612ExpiredSignature(uint256)", deadline)):
        token.permit(holder, client, VALUE, deadline, *vrs, {"from": client})
    assert token.allowance(holder, client) == 0
    assert token.nonces(holder) == 0


def test_wrong_signer_reverts(token, holder, client):
    deadline = now() + 3600
    vrs = sign_permit(token, OTHER_KEY, holder, client, VALUE, deadline)
    other = Account.from_key(OTHER_KEY).address
    with brownie.reverts(typed_error("ERC2612InvalidSigner(address,address)", other, holder)):
        token.permit(holder, client, VALUE, deadline, *vrs, {"from": client})
    assert token.allowance(holder, client) == 0
    assert token.nonces(holder) == 0


def test_replayed_permit_reverts(token, holder, client):
    deadline = now() + 3600
    vrs = sign_permit(token, HOLDER_KEY, holder, client, VALUE, deadline)
    token.permit(holder, client, VALUE, deadline, *vrs, {"from": client})
    token.transferFrom(holder, client, VALUE, {"from": client})

    # The nonce moved on, so the same signature now recovers to an unrelated address.
    recovered = recover_permit(token, holder, client, VALUE, 1, deadline, vrs)
    assert recovered != holder
    with brownie.reverts(typed_error("ERC2612InvalidSigner(address,address)", recovered, holder)):
        token.permit(holder, client, VALUE, deadline, *vrs, {"from": client})
    assert token.allowance(holder, client) == 0
    assert token.nonces(holder) == 1


def test_tampered_value_reverts(token, holder, client):
    deadline = now() + 3600
    vrs = sign_permit(token, HOLDER_KEY, holder, client, VALUE, deadline)
    recovered = recover_permit(token, holder, client, VALUE + 1, 0, deadline, vrs)
    with brownie.reverts(typed_error("ERC2612InvalidSigner(address,address)", recovered, holder)):
        token.permit(holder, client, VALUE + 1, deadline, *vrs, {"from": client})
    assert token.allowance(holder, client) == 0


def test_permit_for_another_spender_reverts(token, holder, client, rando):
    deadline = now() + 3600
    vrs = sign_permit(token, HOLDER_KEY, holder, client, VALUE, deadline)
    recovered = recover_permit(token, holder, rando, VALUE, 0, deadline, vrs)
    with brownie.reverts(typed_error("ERC2612InvalidSigner(address,address)", recovered, holder)):
        token.permit(holder, rando, VALUE, deadline, *vrs, {"from": rando})
    assert token.allowance(holder, rando) == 0


def test_permit_for_another_chain_reverts(token, holder, client):
    deadline = now() + 3600
    vrs = sign_permit(token, HOLDER_KEY, holder, client, VALUE, deadline, chain_id=chain.id + 1)
    recovered = recover_permit(token, holder, client, VALUE, 0, deadline, vrs)
    with brownie.reverts(typed_error("ERC2612InvalidSigner(address,address)", recovered, holder)):
        token.permit(holder, client, VALUE, deadline, *vrs, {"from": client})


def test_permit_for_another_token_reverts(token, holder, client, rando):
    deadline = now() + 3600
    vrs = sign_permit(token, HOLDER_KEY, holder, client, VALUE, deadline, verifying=rando.address)
    recovered = recover_permit(token, holder, client, VALUE, 0, deadline, vrs)
    with brownie.reverts(typed_error("ERC2612InvalidSigner(address,address)", recovered, holder)):
        token.permit(holder, client, VALUE, deadline, *vrs, {"from": client})


def test_malleated_signature_reverts(token, holder, client):
    """The high-s twin of a valid signature is rejected, so a permit signature is not malleable."""
    deadline = now() + 3600
    v, r, s = sign_permit(token, HOLDER_KEY, holder, client, VALUE, deadline)
    s_high = (SECP256K1_N - int.from_bytes(s, "big")).to_bytes(32, "big")
    v_flip = 55 - v  # 27 <-> 28
    with brownie.reverts(typed_error("ECDSAInvalidSignatureS(bytes32)", s_high)):
        token.permit(holder, client, VALUE, deadline, v_flip, r, s_high, {"from": client})
    assert token.nonces(holder) == 0
    # The original still works.
    token.permit(holder, client, VALUE, deadline, v, r, s, {"from": client})
    assert token.allowance(holder, client) == VALUE


def test_invalid_v_reverts(token, holder, client):
    deadline = now() + 3600
    v, r, s = sign_permit(token, HOLDER_KEY, holder, client, VALUE, deadline)
    with brownie.reverts(typed_error("ECDSAInvalidSignature()")):
        token.permit(holder, client, VALUE, deadline, 29, r, s, {"from": client})


def test_permit_with_zero_spender_reverts(token, holder):
    deadline = now() + 3600
    vrs = sign_permit(token, HOLDER_KEY, holder, ZERO, VALUE, deadline)
    with brownie.reverts(typed_error("ERC20InvalidSpender(address)", ZERO)):
        token.permit(holder, ZERO, VALUE, deadline, *vrs, {"from": holder})
    assert token.nonces(holder) == 0
