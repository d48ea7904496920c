"""Lease EIP-712 digests against independent computations (eth_account's generic encoder, eth_abi),
plus fixed known answers so a change to the types cannot pass unnoticed."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_hash.auto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from gpusettle.errors import InvalidSignatureError
from gpusettle.leases.eip712 import (
    CHECKPOINT_TYPE,
    HEARTBEAT_TYPE,
    HeartbeatVerifier,
    checkpoint_attestation_digest,
    checkpoint_attestation_typed_data,
    checkpoint_digest,
    checkpoint_struct_hash,
    checkpoint_typed_data,
    checkpoints_hash,
    heartbeat_digest,
    heartbeat_struct_hash,
    heartbeat_typed_data,
    lease_domain,
    recover_heartbeat,
    recover_worker_endpoint,
    sign_heartbeat,
    sign_worker_endpoint,
    worker_endpoint_digest,
    worker_endpoint_typed_data,
)
from gpusettle.leases.models import Checkpoint, Heartbeat, WorkerEndpoint

DOMAIN = lease_domain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
KEY = "0x" + "11" * 32
SIGNER = Account.from_key(KEY).address

HEARTBEAT = Heartbeat(
    leaseId=7,
    provider="0x00000000000000000000000000000000000000a1",
    timestamp=1_700_000_015,
    sequence=1_700_000_015 // 30,
    evidenceHash="0x" + "ab" * 32,
    serviceUp=True,
)
CHECKPOINT = Checkpoint(
    leaseId=7,
    fromTime=1_700_000_000,
    toTime=1_700_000_600,
    upSeconds=570,
    downSeconds=30,
    heartbeatsRoot="0x" + "cd" * 32,
)

# Computed once with eth_account.messages.encode_typed_data (see the tests below, which recompute them).
KNOWN_HEARTBEAT_DIGEST = "0x9fe4dfdb9fec256182b787449665968ba2ccab2c344689d5a4c6609ff796864c"
KNOWN_CHECKPOINT_DIGEST = "0x58015698d43213ff2c749a1bcc7c84c850007a0c9417d91526c8dfed0ee90090"


def _eth_account_digest(message: dict[str, Any]) -> bytes:
    signable: SignableMessage = encode_typed_data(full_message=message)
    return bytes(keccak(b"\x19" + signable.version + signable.header + signable.body))


def test_domain_is_leaseescrows() -> None:
    assert DOMAIN.name == "gpusettle LeaseEscrow" and DOMAIN.version == "1"


def test_heartbeat_digest_matches_eth_account() -> None:
    assert heartbeat_digest(HEARTBEAT, DOMAIN) == _eth_account_digest(heartbeat_typed_data(HEARTBEAT, DOMAIN))


def test_checkpoint_digest_matches_eth_account() -> None:
    assert checkpoint_digest(CHECKPOINT, DOMAIN) == _eth_account_digest(
        checkpoint_typed_data(CHECKPOINT, DOMAIN)
    )


def test_known_answers() -> None:
    assert "0x" + heartbeat_digest(HEARTBEAT, DOMAIN).hex() == KNOWN_HEARTBEAT_DIGEST
    assert "0x" + checkpoint_digest(CHECKPOINT, DOMAIN).hex() == KNOWN_CHECKPOINT_DIGEST


def test_struct_hashes_match_abi_encoding() -> None:
    hb = abi_encode(
        ["bytes32", "uint256", "address", "uint64", "uint64", "bytes32", "bool"],
        [
            keccak(HEARTBEAT_TYPE.encode()),
            HEARTBEAT.leaseId,
            HEARTBEAT.provider,
            HEARTBEAT.timestamp,
            HEARTBEAT.sequence,
            bytes.fromhex(HEARTBEAT.evidenceHash[2:]),
            HEARTBEAT.serviceUp,
        ],
    )
    assert heartbeat_struct_hash(HEARTBEAT) == keccak(hb)
    cp = abi_encode(
        ["bytes32", "uint256", "uint64", "uint64", "uint64", "uint64", "bytes32"],
        [keccak(CHECKPOINT_TYPE.encode()), *CHECKPOINT.as_tuple()],
    )
    assert checkpoint_struct_hash(CHECKPOINT) == keccak(cp)


def test_attestation_digest_matches_eth_account() -> None:
    batch = checkpoints_hash([CHECKPOINT, CHECKPOINT.model_copy(update={"leaseId": 8})])
    assert batch == keccak(
        checkpoint_struct_hash(CHECKPOINT)
        + checkpoint_struct_hash(CHECKPOINT.model_copy(update={"leaseId": 8}))
    )
    assert checkpoint_attestation_digest(batch, 3, DOMAIN) == _eth_account_digest(
        checkpoint_attestation_typed_data(batch, 3, DOMAIN)
    )
    with pytest.raises(ValueError, match="at least one"):
        checkpoints_hash([])


def test_sign_and_recover_heartbeat_agrees_with_eth_account() -> None:
    signature = sign_heartbeat(HEARTBEAT, DOMAIN, KEY)
    assert len(bytes.fromhex(signature[2:])) == 65
    assert recover_heartbeat(HEARTBEAT, signature, DOMAIN) == SIGNER
    theirs = Account.sign_typed_data(KEY, full_message=heartbeat_typed_data(HEARTBEAT, DOMAIN))
    assert recover_heartbeat(HEARTBEAT, bytes(theirs.signature), DOMAIN) == SIGNER
    signer, struct_hash = HeartbeatVerifier(DOMAIN).verify(HEARTBEAT, bytes.fromhex(signature[2:]))
    assert signer == SIGNER and struct_hash == heartbeat_struct_hash(HEARTBEAT)


def test_tampered_heartbeat_recovers_someone_else() -> None:
    signature = sign_heartbeat(HEARTBEAT, DOMAIN, KEY)
    flipped = HEARTBEAT.model_copy(update={"serviceUp": False})
    assert recover_heartbeat(flipped, signature, DOMAIN) != SIGNER
    other_domain = lease_domain(1, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
    assert recover_heartbeat(HEARTBEAT, signature, other_domain) != SIGNER
    with pytest.raises(InvalidSignatureError):
        recover_heartbeat(HEARTBEAT, "0x" + "00" * 65, DOMAIN)


@settings(max_examples=40, deadline=None)
@given(
    lease=st.integers(1, 2**256 - 1),
    ts=st.integers(0, 2**64 - 1),
    up=st.booleans(),
    ev=st.binary(min_size=32, max_size=32),
)
def test_any_heartbeat_matches_eth_account(lease: int, ts: int, up: bool, ev: bytes) -> None:
    beat = Heartbeat(
        leaseId=lease,
        provider=SIGNER,
        timestamp=ts,
        sequence=ts // 30,
        evidenceHash="0x" + ev.hex(),
        serviceUp=up,
    )
    assert heartbeat_digest(beat, DOMAIN) == _eth_account_digest(heartbeat_typed_data(beat, DOMAIN))


ENDPOINT = WorkerEndpoint(
    provider="0x00000000000000000000000000000000000000a1",
    url="https://gpu-box.example.org:8800",
    issuedAt=1_700_000_000,
)


@settings(max_examples=50, deadline=None)
@given(url=st.text(min_size=1, max_size=256), issued=st.integers(0, 2**64 - 1))
def test_worker_endpoint_digest_matches_eth_account(url: str, issued: int) -> None:
    endpoint = WorkerEndpoint(provider=ENDPOINT.provider, url=url, issuedAt=issued)
    assert worker_endpoint_digest(endpoint, DOMAIN) == _eth_account_digest(
        worker_endpoint_typed_data(endpoint, DOMAIN)
    )


def test_worker_endpoint_signature_recovers_and_binds_every_field() -> None:
    signature = sign_worker_endpoint(ENDPOINT, DOMAIN, KEY)
    theirs = Account.sign_typed_data(KEY, full_message=worker_endpoint_typed_data(ENDPOINT, DOMAIN))
    assert signature == "0x" + bytes(theirs.signature).hex()
    assert recover_worker_endpoint(ENDPOINT, signature, DOMAIN) == SIGNER
    for changed in (
        ENDPOINT.model_copy(update={"url": "https://gpu-box.example.org:8801"}),
        ENDPOINT.model_copy(update={"issuedAt": ENDPOINT.issuedAt + 1}),
        ENDPOINT.model_copy(update={"provider": "0x00000000000000000000000000000000000000a2"}),
    ):
        assert recover_worker_endpoint(changed, signature, DOMAIN) != SIGNER
    other_chain = lease_domain(1, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
    assert recover_worker_endpoint(ENDPOINT, signature, other_chain) != SIGNER
