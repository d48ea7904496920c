"""The hand-written EIP-712 encoding against eth-account's generic one, and signature safety."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import SignableMessage, encode_defunct, encode_typed_data
from eth_hash.auto import keccak
from eth_keys.datatypes import PrivateKey, Signature
from hypothesis import given, settings
from hypothesis import strategies as st

from gpusettle.eip712 import (
    RECEIPT_TYPEHASH,
    SECP256K1_N,
    CompactSignature,
    Domain,
    ReceiptVerifier,
    attestation_digest,
    attestation_typed_data,
    domain_separator,
    from_compact,
    receipt_digest,
    receipt_struct_hash,
    receipts_hash,
    recover,
    sign_digest,
    to_compact,
    typed_data,
)
from gpusettle.errors import ConfigError, InvalidSignatureError, MalleableSignatureError
from gpusettle.models import JobReceipt, Outcome, SignedReceipt

ESCROW = "0x5FbDB2315678afecb367f032d93F642f64180aa3"  # first contract a fresh anvil/ganache account deploys
OTHER_ESCROW = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
U64 = 2**64 - 1


def eip191_digest(message: SignableMessage) -> bytes:
    """The EIP-191 digest of a SignableMessage, by the definition (keccak of 0x19 || version || header || body)."""
    return keccak(b"\x19" + message.version + message.header + message.body)


@st.composite
def receipts(draw: st.DrawFn) -> JobReceipt:
    start = draw(st.integers(0, U64))
    return JobReceipt(
        jobId=draw(st.integers(0, 2**256 - 1)),
        provider=Account.from_key(draw(private_keys)).address
        if draw(st.booleans())
        else "0x" + draw(st.binary(min_size=20, max_size=20)).hex(),
        gpuSeconds=draw(st.integers(0, U64)),
        startTime=start,
        endTime=draw(st.integers(start, U64)),
        resultHash="0x" + draw(st.binary(min_size=32, max_size=32)).hex(),
        outcome=Outcome(draw(st.integers(0, 2))),
    )


private_keys = st.integers(1, SECP256K1_N - 1).map(lambda k: k.to_bytes(32, "big"))
chain_ids = st.integers(1, 2**64)
addresses = st.binary(min_size=20, max_size=20).filter(any).map(lambda b: "0x" + b.hex())


def sample_receipt(**overrides: Any) -> JobReceipt:
    fields: dict[str, Any] = {
        "jobId": 1,
        "provider": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        "gpuSeconds": 7200,
        "startTime": 1_700_000_000,
        "endTime": 1_700_003_600,
        "resultHash": "0x" + keccak(b"result").hex(),
        "outcome": 0,
    }
    fields.update(overrides)
    return JobReceipt(**fields)


@settings(max_examples=200, deadline=None)
@given(receipt=receipts(), chain_id=chain_ids, contract=addresses)
def test_receipt_digest_matches_eth_account(receipt: JobReceipt, chain_id: int, contract: str) -> None:
    domain = Domain(chain_id, contract)
    message = encode_typed_data(full_message=typed_data(receipt, domain))
    assert message.header == domain_separator(chain_id, contract)
    assert message.body == receipt_struct_hash(receipt)
    assert receipt_digest(receipt, domain) == eip191_digest(message)
    assert ReceiptVerifier(chain_id, contract).digest(receipt) == eip191_digest(message)


@settings(max_examples=100, deadline=None)
@given(receipt=receipts())
def test_struct_hash_matches_abi_encoding(receipt: JobReceipt) -> None:
    # A second, independent encoder: Solidity's keccak256(abi.encode(TYPEHASH, fields...)).
    encoded = abi_encode(
        ["bytes32", "uint256", "address", "uint64", "uint64", "uint64", "bytes32", "uint8"],
        [
            RECEIPT_TYPEHASH,
            receipt.jobId,
            receipt.provider,
            receipt.gpuSeconds,
            receipt.startTime,
            receipt.endTime,
            bytes.fromhex(receipt.resultHash[2:]),
            int(receipt.outcome),
        ],
    )
    assert receipt_struct_hash(receipt) == keccak(encoded)


def test_typehash_is_the_interface_string() -> None:
    assert RECEIPT_TYPEHASH == keccak(
        b"JobReceipt(uint256 jobId,address provider,uint64 gpuSeconds,uint64 startTime,uint64 endTime,"
        b"bytes32 resultHash,uint8 outcome)"
    )


@settings(max_examples=50, deadline=None)
@given(
    batch=st.lists(receipts(), min_size=1, max_size=5),
    epoch=st.integers(0, U64),
    chain_id=chain_ids,
    contract=addresses,
)
def test_attestation_digest_matches_eth_account(
    batch: list[JobReceipt], epoch: int, chain_id: int, contract: str
) -> None:
    domain = Domain(chain_id, contract)
    batch_hash = receipts_hash(batch)
    assert batch_hash == keccak(b"".join(receipt_struct_hash(r) for r in batch))
    message = encode_typed_data(full_message=attestation_typed_data(batch_hash, epoch, domain))
    assert attestation_digest(batch_hash, epoch, domain) == eip191_digest(message)


def test_receipts_hash_depends_on_order_and_needs_a_receipt() -> None:
    a, b = sample_receipt(jobId=1), sample_receipt(jobId=2)
    assert receipts_hash([a, b]) != receipts_hash([b, a])
    with pytest.raises(ValueError, match="at least one receipt"):
        receipts_hash([])


@settings(max_examples=50, deadline=None)
@given(key=private_keys, receipt=receipts(), chain_id=chain_ids)
def test_eth_account_signatures_recover_through_fast_path(
    key: bytes, receipt: JobReceipt, chain_id: int
) -> None:
    signer = Account.from_key(key)
    signed = Account.sign_typed_data(key, full_message=typed_data(receipt, Domain(chain_id, ESCROW)))
    verifier = ReceiptVerifier(chain_id, ESCROW)
    assert verifier.verify(receipt, bytes(signed.signature)) == signer.address
    assert verifier.verify(receipt, to_compact(bytes(signed.signature))) == signer.address


@settings(max_examples=50, deadline=None)
@given(key=private_keys, digest=st.binary(min_size=32, max_size=32))
def test_sign_digest_is_low_s_and_agrees_with_eth_keys(key: bytes, digest: bytes) -> None:
    sig = sign_digest(digest, key)
    _, s, _ = sig.split()
    assert 0 < s <= SECP256K1_N // 2
    full = from_compact(sig)
    assert to_compact(full) == sig
    expected = PrivateKey(key).public_key.to_checksum_address()
    assert (
        Signature(full[:64] + bytes([full[64] - 27]))
        .recover_public_key_from_msg_hash(digest)
        .to_checksum_address()
        == expected
    )
    assert recover(digest, sig) == expected
    assert recover(digest, full) == expected


def test_eip2098_reference_vectors() -> None:
    # The two examples of EIP-2098 (private key 0x1234...1234 signing EIP-191 personal messages).
    key = "0x" + "1234567890" * 6 + "1234"
    vectors = [
        (
            "Hello World",
            "0x68a020a209d3d56c46f38cc50a33f704f4a9a10a59377f8dd762ac66910e9b90",
            "0x7e865ad05c4035ab5792787d4a0297a43617ae897930a6fe4d822b8faea52064",
        ),
        (
            "It's a small(er) world",
            "0x9328da16089fcba9bececa81663203989f2df5fe1faa6291a45381c81bd17f76",
            "0x939c6d6b623b42da56557e5e734a43dc83345ddfadec52cbe24d0cc64f550793",
        ),
    ]
    for text, r, vs in vectors:
        signed = Account.sign_message(encode_defunct(text=text), key)
        compact = to_compact(bytes(signed.signature))
        assert compact.hex() == (r, vs)
        assert sign_digest(bytes(signed.message_hash), key) == compact
        assert recover(bytes(signed.message_hash), compact) == Account.from_key(key).address


def malleate(signature: bytes) -> bytes:
    """The other valid signature of the same digest by the same key: (r, n - s, flipped v)."""
    s = int.from_bytes(signature[32:64], "big")
    return signature[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - signature[64]])


def test_high_s_signatures_are_rejected() -> None:
    signer = Account.create()
    receipt = sample_receipt(provider=signer.address)
    verifier = ReceiptVerifier(1, ESCROW)
    good = bytes(
        Account.sign_typed_data(signer.key, full_message=typed_data(receipt, verifier.domain)).signature
    )
    evil = malleate(good)
    # The attack is real: a plain ecrecover accepts the malleated signature for the same signer.
    plain = Signature(evil[:64] + bytes([evil[64] - 27]))
    assert (
        plain.recover_public_key_from_msg_hash(verifier.digest(receipt)).to_checksum_address()
        == signer.address
    )
    with pytest.raises(MalleableSignatureError):
        verifier.verify(receipt, evil)
    with pytest.raises(MalleableSignatureError):
        to_compact(evil)
    # In compact form a high s below 2**255 is representable, and must be refused too.
    r = good[:32]
    high_s = SECP256K1_N // 2 + 1
    with pytest.raises(MalleableSignatureError, match="malleable"):
        verifier.verify(receipt, CompactSignature(r, high_s.to_bytes(32, "big")))
    assert isinstance(MalleableSignatureError(1), InvalidSignatureError)


@pytest.mark.parametrize(
    ("r", "s", "v", "message"),
    [
        (0, 1, 27, "outside"),
        (SECP256K1_N, 1, 27, "outside"),
        (1, 0, 27, "s is zero"),
        (1, 1, 29, "v = 29"),
    ],
)
def test_out_of_range_signatures_rejected(r: int, s: int, v: int, message: str) -> None:
    sig = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v])
    with pytest.raises(InvalidSignatureError, match=message):
        recover(b"\x01" * 32, sig)


def test_malformed_signatures_rejected() -> None:
    with pytest.raises(InvalidSignatureError, match="65 bytes"):
        recover(b"\x01" * 32, b"\x00" * 64)
    with pytest.raises(InvalidSignatureError, match="32 bytes"):
        CompactSignature(b"\x01" * 31, b"\x01" * 32)
    with pytest.raises(InvalidSignatureError, match="not hex"):
        CompactSignature.from_hex("0xzz", "0x00")
    # A well-formed signature with an x coordinate that is not on the curve recovers nothing.
    not_on_curve = (5).to_bytes(32, "big")
    with pytest.raises(InvalidSignatureError, match="no public key"):
        recover(b"\x01" * 32, CompactSignature(not_on_curve, (1).to_bytes(32, "big")))


def test_other_chain_or_contract_recovers_someone_else() -> None:
    signer = Account.create()
    receipt = sample_receipt(provider=signer.address)
    sig = sign_digest(receipt_digest(receipt, Domain(31337, ESCROW)), signer.key)
    assert ReceiptVerifier(31337, ESCROW).verify(receipt, sig) == signer.address
    assert ReceiptVerifier(1, ESCROW).verify(receipt, sig) != signer.address
    assert ReceiptVerifier(31337, OTHER_ESCROW).verify(receipt, sig) != signer.address
    # Changing any signed field changes the signer too.
    assert ReceiptVerifier(31337, ESCROW).verify(
        sample_receipt(provider=signer.address, gpuSeconds=7201), sig
    ) != (signer.address)


def test_domain_requires_chain_id_and_contract() -> None:
    receipt = sample_receipt()
    with pytest.raises(ConfigError, match="chainId"):
        receipt_digest(receipt, {"name": "gpusettle JobEscrow", "version": "1", "verifyingContract": ESCROW})
    with pytest.raises(ConfigError, match="verifyingContract"):
        receipt_digest(receipt, {"name": "gpusettle JobEscrow", "version": "1", "chainId": 1})
    with pytest.raises(ConfigError, match="salt"):
        receipt_digest(receipt, {"chainId": 1, "verifyingContract": ESCROW, "salt": "0x00"})
    with pytest.raises(ConfigError, match="zero address"):
        Domain(1, "0x" + "00" * 20)
    with pytest.raises(ConfigError, match="positive chain id"):
        Domain(0, ESCROW)
    with pytest.raises(ConfigError, match="verifying contract"):
        Domain(1, "0x1234")
    as_dict = {
        "name": "gpusettle JobEscrow",
        "version": "1",
        "chainId": 5,
        "verifyingContract": ESCROW.lower(),
    }
    assert receipt_digest(receipt, as_dict) == receipt_digest(receipt, Domain(5, ESCROW))
    assert Domain.from_mapping(as_dict) == Domain(5, ESCROW)


def test_domain_name_and_version_are_bound() -> None:
    receipt = sample_receipt()
    assert receipt_digest(receipt, Domain(1, ESCROW, version="2")) != receipt_digest(
        receipt, Domain(1, ESCROW)
    )
    assert receipt_digest(receipt, Domain(1, ESCROW, name="other")) != receipt_digest(
        receipt, Domain(1, ESCROW)
    )
    assert typed_data(receipt, Domain(1, ESCROW))["domain"]["name"] == "gpusettle JobEscrow"


def test_verify_signed_receipt() -> None:
    signer = Account.create()
    receipt = sample_receipt(provider=signer.address)
    verifier = ReceiptVerifier(10, ESCROW)
    r, vs = sign_digest(verifier.digest(receipt), signer.key).hex()
    signed = SignedReceipt(receipt=receipt, r=r, vs=vs)
    assert (
        verifier.verify_signed(SignedReceipt.model_validate_json(signed.model_dump_json())) == signer.address
    )
