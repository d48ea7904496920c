"""EIP-712 lease checkpoints and their oracle attestations for the contract tests, built with eth-account alone
(as tests/helpers/signing.py does for job receipts), so a digest mismatch cannot hide behind shared code."""

from __future__ import annotations

from dataclasses import astuple, dataclass

from eth_abi import encode
from eth_account import Account
from eth_utils import keccak

from tests.helpers.signing import compact

CHECKPOINT_FIELDS = [
    {"name": "leaseId", "type": "uint256"},
    {"name": "fromTime", "type": "uint64"},
    {"name": "toTime", "type": "uint64"},
    {"name": "upSeconds", "type": "uint64"},
    {"name": "downSeconds", "type": "uint64"},
    {"name": "heartbeatsRoot", "type": "bytes32"},
]
ATTESTATION_FIELDS = [
    {"name": "checkpointsHash", "type": "bytes32"},
    {"name": "oracleEpoch", "type": "uint64"},
]
CHECKPOINT_TYPEHASH = keccak(
    text="LeaseCheckpoint(uint256 leaseId,uint64 fromTime,uint64 toTime,uint64 upSeconds,uint64 downSeconds,"
    "bytes32 heartbeatsRoot)"
)
DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
ROOT = b"\x77" * 32


@dataclass
class Checkpoint:
    leaseId: int
    fromTime: int
    toTime: int
    upSeconds: int
    downSeconds: int
    heartbeatsRoot: bytes = ROOT

    def as_tuple(self) -> tuple:
        return astuple(self)

    def message(self) -> dict:
        return dict(zip([f["name"] for f in CHECKPOINT_FIELDS], self.as_tuple()))

    def struct_hash(self) -> bytes:
        return keccak(
            encode(
                ["bytes32", "uint256", "uint64", "uint64", "uint64", "uint64", "bytes32"],
                [CHECKPOINT_TYPEHASH, *self.as_tuple()],
            )
        )


def lease_domain(chain_id: int, lease_escrow_address: str) -> dict:
    return {"name": "gpusettle LeaseEscrow", "version": "1", "chainId": chain_id,
            "verifyingContract": str(lease_escrow_address)}


def checkpoints_hash(checkpoints: list[Checkpoint]) -> bytes:
    return keccak(b"".join(c.struct_hash() for c in checkpoints))


def checkpoint_typed_data(c: Checkpoint, dom: dict) -> dict:
    return {
        "types": {"EIP712Domain": DOMAIN_FIELDS, "LeaseCheckpoint": CHECKPOINT_FIELDS},
        "primaryType": "LeaseCheckpoint",
        "domain": dom,
        "message": c.message(),
    }


def sign_checkpoints(checkpoints: list[Checkpoint], epoch: int, keys: list[str], dom: dict,
                     digest_hash: bytes | None = None) -> list[tuple[bytes, bytes]]:
    """Attestation signatures by `keys` over CheckpointAttestation, sorted by signer address as the escrow needs."""
    message = {"checkpointsHash": digest_hash if digest_hash is not None else checkpoints_hash(checkpoints),
               "oracleEpoch": epoch}
    full = {
        "types": {"EIP712Domain": DOMAIN_FIELDS, "CheckpointAttestation": ATTESTATION_FIELDS},
        "primaryType": "CheckpointAttestation",
        "domain": dom,
        "message": message,
    }
    signed = []
    for key in keys:
        s = Account.sign_typed_data(key, full_message=full)
        signed.append((Account.from_key(key).address.lower(), compact(s.v, s.r, s.s)))
    signed.sort(key=lambda pair: int(pair[0], 16))
    return [sig for _, sig in signed]
