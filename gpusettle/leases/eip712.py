"""LeaseEscrow's EIP-712 types: heartbeats (signed by worker keys, off-chain only), checkpoints and
the oracle set's attestation over a batch of them.

Written out by hand like gpusettle.eip712 (the oracle checks every heartbeat of every lease); the
`*_typed_data` functions give the same data in the generic form, and the tests compare both with
eth_account's encoder so the fast path cannot drift from the standard. Signing, recovery and the
EIP-2098 compact form are gpusettle.eip712's.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..eip712 import CompactSignature, Domain, from_compact, recover, sign_digest
from ..hashing import keccak256
from .models import Checkpoint, Heartbeat, WorkerEndpoint

__all__ = [
    "CHECKPOINT_ATTESTATION_TYPE",
    "CHECKPOINT_TYPE",
    "HEARTBEAT_TYPE",
    "LEASE_DOMAIN_NAME",
    "WORKER_ENDPOINT_TYPE",
    "HeartbeatVerifier",
    "checkpoint_attestation_digest",
    "checkpoint_attestation_typed_data",
    "checkpoint_digest",
    "checkpoint_struct_hash",
    "checkpoint_typed_data",
    "checkpoints_hash",
    "heartbeat_digest",
    "heartbeat_struct_hash",
    "heartbeat_typed_data",
    "lease_domain",
    "recover_heartbeat",
    "recover_worker_endpoint",
    "sign_heartbeat",
    "sign_worker_endpoint",
    "worker_endpoint_digest",
    "worker_endpoint_typed_data",
]

LEASE_DOMAIN_NAME = "gpusettle LeaseEscrow"

HEARTBEAT_TYPE = (
    "LeaseHeartbeat(uint256 leaseId,address provider,uint64 timestamp,uint64 sequence,bytes32 evidenceHash,"
    "bool serviceUp)"
)
CHECKPOINT_TYPE = (
    "LeaseCheckpoint(uint256 leaseId,uint64 fromTime,uint64 toTime,uint64 upSeconds,uint64 downSeconds,"
    "bytes32 heartbeatsRoot)"
)
CHECKPOINT_ATTESTATION_TYPE = "CheckpointAttestation(bytes32 checkpointsHash,uint64 oracleEpoch)"
WORKER_ENDPOINT_TYPE = "WorkerEndpoint(address provider,string url,uint64 issuedAt)"

HEARTBEAT_TYPEHASH = keccak256(HEARTBEAT_TYPE.encode())
CHECKPOINT_TYPEHASH = keccak256(CHECKPOINT_TYPE.encode())
CHECKPOINT_ATTESTATION_TYPEHASH = keccak256(CHECKPOINT_ATTESTATION_TYPE.encode())
WORKER_ENDPOINT_TYPEHASH = keccak256(WORKER_ENDPOINT_TYPE.encode())

_DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
_TYPES: dict[str, list[dict[str, str]]] = {
    "LeaseHeartbeat": [
        {"name": "leaseId", "type": "uint256"},
        {"name": "provider", "type": "address"},
        {"name": "timestamp", "type": "uint64"},
        {"name": "sequence", "type": "uint64"},
        {"name": "evidenceHash", "type": "bytes32"},
        {"name": "serviceUp", "type": "bool"},
    ],
    "LeaseCheckpoint": [
        {"name": "leaseId", "type": "uint256"},
        {"name": "fromTime", "type": "uint64"},
        {"name": "toTime", "type": "uint64"},
        {"name": "upSeconds", "type": "uint64"},
        {"name": "downSeconds", "type": "uint64"},
        {"name": "heartbeatsRoot", "type": "bytes32"},
    ],
    "CheckpointAttestation": [
        {"name": "checkpointsHash", "type": "bytes32"},
        {"name": "oracleEpoch", "type": "uint64"},
    ],
    "WorkerEndpoint": [
        {"name": "provider", "type": "address"},
        {"name": "url", "type": "string"},
        {"name": "issuedAt", "type": "uint64"},
    ],
}


def lease_domain(chain_id: int, lease_escrow: str) -> Domain:
    """The EIP-712 domain of the LeaseEscrow at `lease_escrow` on `chain_id`."""
    return Domain(chain_id, lease_escrow, name=LEASE_DOMAIN_NAME)


def _u(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _b32(value: str) -> bytes:
    return bytes.fromhex(value[2:])


def heartbeat_struct_hash(heartbeat: Heartbeat) -> bytes:
    """hashStruct(LeaseHeartbeat); also the heartbeat's Merkle leaf."""
    return keccak256(
        HEARTBEAT_TYPEHASH
        + _u(heartbeat.leaseId)
        + bytes(12)
        + bytes.fromhex(heartbeat.provider[2:])
        + _u(heartbeat.timestamp)
        + _u(heartbeat.sequence)
        + _b32(heartbeat.evidenceHash)
        + _u(int(heartbeat.serviceUp))
    )


def checkpoint_struct_hash(checkpoint: Checkpoint) -> bytes:
    """hashStruct(LeaseCheckpoint)."""
    return keccak256(
        CHECKPOINT_TYPEHASH
        + _u(checkpoint.leaseId)
        + _u(checkpoint.fromTime)
        + _u(checkpoint.toTime)
        + _u(checkpoint.upSeconds)
        + _u(checkpoint.downSeconds)
        + _b32(checkpoint.heartbeatsRoot)
    )


def _digest(domain: Domain, struct_hash: bytes) -> bytes:
    return keccak256(b"\x19\x01" + domain.separator() + struct_hash)


def heartbeat_digest(heartbeat: Heartbeat, domain: Domain) -> bytes:
    """The digest a worker key signs for `heartbeat`."""
    return _digest(domain, heartbeat_struct_hash(heartbeat))


def checkpoint_digest(checkpoint: Checkpoint, domain: Domain) -> bytes:
    """The digest of one checkpoint (equals LeaseEscrow.checkpointDigest)."""
    return _digest(domain, checkpoint_struct_hash(checkpoint))


def checkpoints_hash(checkpoints: Iterable[Checkpoint]) -> bytes:
    """keccak256 of the checkpoints' struct hashes concatenated in submission order."""
    hashes = [checkpoint_struct_hash(c) for c in checkpoints]
    if not hashes:
        raise ValueError("an attestation covers at least one checkpoint")
    return keccak256(b"".join(hashes))


def checkpoint_attestation_digest(checkpoints_hash_: bytes, epoch: int, domain: Domain) -> bytes:
    """The digest oracle keys sign for a batch (equals LeaseEscrow.attestationDigest)."""
    if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 <= epoch < 2**64:
        raise ValueError(f"oracle epoch must be a uint64, got {epoch!r}")
    if len(checkpoints_hash_) != 32:
        raise ValueError("checkpointsHash must be 32 bytes")
    return _digest(domain, keccak256(CHECKPOINT_ATTESTATION_TYPEHASH + bytes(checkpoints_hash_) + _u(epoch)))


def sign_heartbeat(heartbeat: Heartbeat, domain: Domain, private_key: bytes | str) -> str:
    """The worker key's signature of `heartbeat`: 65 bytes r || s || v (v 27 or 28) as 0x-hex, the
    form POST /v1/heartbeats takes."""
    return "0x" + from_compact(sign_digest(heartbeat_digest(heartbeat, domain), private_key)).hex()


def recover_heartbeat(heartbeat: Heartbeat, signature: bytes | str | CompactSignature, domain: Domain) -> str:
    """The checksummed address that signed `heartbeat`; InvalidSignatureError when none can."""
    sig = bytes.fromhex(signature.removeprefix("0x")) if isinstance(signature, str) else signature
    return recover(heartbeat_digest(heartbeat, domain), sig)


def worker_endpoint_digest(endpoint: WorkerEndpoint, domain: Domain) -> bytes:
    """The digest a worker key signs to announce where the oracles reach it."""
    return _digest(
        domain,
        keccak256(
            WORKER_ENDPOINT_TYPEHASH
            + bytes(12)
            + bytes.fromhex(endpoint.provider[2:])
            + keccak256(endpoint.url.encode())
            + _u(endpoint.issuedAt)
        ),
    )


def sign_worker_endpoint(endpoint: WorkerEndpoint, domain: Domain, private_key: bytes | str) -> str:
    """The worker key's signature of `endpoint` (65 bytes as 0x-hex)."""
    return "0x" + from_compact(sign_digest(worker_endpoint_digest(endpoint, domain), private_key)).hex()


def recover_worker_endpoint(endpoint: WorkerEndpoint, signature: bytes | str, domain: Domain) -> str:
    """The checksummed address that signed `endpoint`; InvalidSignatureError when none can."""
    sig = bytes.fromhex(signature.removeprefix("0x")) if isinstance(signature, str) else signature
    return recover(worker_endpoint_digest(endpoint, domain), sig)


class HeartbeatVerifier:
    """Recovers heartbeat signers for one LeaseEscrow, its domain separator computed once."""

    def __init__(self, domain: Domain) -> None:
        self.domain = domain
        self._prefix = b"\x19\x01" + domain.separator()

    def digest(self, heartbeat: Heartbeat) -> tuple[bytes, bytes]:
        """(struct hash, digest) of `heartbeat`."""
        struct_hash = heartbeat_struct_hash(heartbeat)
        return struct_hash, keccak256(self._prefix + struct_hash)

    def verify(self, heartbeat: Heartbeat, signature: bytes) -> tuple[str, bytes]:
        """(signer, struct hash); InvalidSignatureError (or MalleableSignatureError) for a bad signature."""
        struct_hash, digest = self.digest(heartbeat)
        return recover(digest, signature), struct_hash


def heartbeat_typed_data(heartbeat: Heartbeat, domain: Domain) -> dict[str, Any]:
    """The full EIP-712 message, for eth_account's encode_typed_data(full_message=...) or a wallet."""
    return {
        "types": {"EIP712Domain": _DOMAIN_FIELDS, "LeaseHeartbeat": _TYPES["LeaseHeartbeat"]},
        "primaryType": "LeaseHeartbeat",
        "domain": domain.as_dict(),
        "message": heartbeat.model_dump(mode="json"),
    }


def worker_endpoint_typed_data(endpoint: WorkerEndpoint, domain: Domain) -> dict[str, Any]:
    """The full EIP-712 message of a worker endpoint announcement."""
    return {
        "types": {"EIP712Domain": _DOMAIN_FIELDS, "WorkerEndpoint": _TYPES["WorkerEndpoint"]},
        "primaryType": "WorkerEndpoint",
        "domain": domain.as_dict(),
        "message": endpoint.model_dump(mode="json"),
    }


def checkpoint_typed_data(checkpoint: Checkpoint, domain: Domain) -> dict[str, Any]:
    """The full EIP-712 message of a checkpoint."""
    return {
        "types": {"EIP712Domain": _DOMAIN_FIELDS, "LeaseCheckpoint": _TYPES["LeaseCheckpoint"]},
        "primaryType": "LeaseCheckpoint",
        "domain": domain.as_dict(),
        "message": checkpoint.model_dump(mode="json"),
    }


def checkpoint_attestation_typed_data(checkpoints_hash_: bytes, epoch: int, domain: Domain) -> dict[str, Any]:
    """The full EIP-712 message of an attestation over a batch of checkpoints."""
    return {
        "types": {"EIP712Domain": _DOMAIN_FIELDS, "CheckpointAttestation": _TYPES["CheckpointAttestation"]},
        "primaryType": "CheckpointAttestation",
        "domain": domain.as_dict(),
        "message": {"checkpointsHash": "0x" + bytes(checkpoints_hash_).hex(), "oracleEpoch": epoch},
    }
