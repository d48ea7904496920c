"""The EIP-712 form of a hardware check: what oracle keys sign and HardwareRegistry.checkDigest computes."""

from __future__ import annotations

from ..eip712 import CompactSignature, Domain, sign_digest
from ..hashing import keccak256
from .models import HardwareCheck

__all__ = [
    "CHECK_TYPE",
    "CHECK_TYPEHASH",
    "REGISTRY_DOMAIN_NAME",
    "check_digest",
    "registry_domain",
    "sign_check",
]

REGISTRY_DOMAIN_NAME = "gpusettle HardwareRegistry"
CHECK_TYPE = (
    "HardwareCheck(uint256 offerId,bytes32 challengeId,uint64 checkedAt,bool passed,uint8 gpuCount,"
    "uint32 vramGb,uint32 elapsedMs,bytes32 resultRoot,uint64 oracleEpoch)"
)
CHECK_TYPEHASH = keccak256(CHECK_TYPE.encode())


def registry_domain(chain_id: int, registry: str) -> Domain:
    """The domain of the HardwareRegistry at `registry` on `chain_id`."""
    return Domain(chain_id, registry, name=REGISTRY_DOMAIN_NAME)


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def check_digest(check: HardwareCheck, epoch: int, domain: Domain) -> bytes:
    """The digest oracle keys sign for `check` under the oracle set's `epoch`."""
    struct_hash = keccak256(
        CHECK_TYPEHASH
        + _word(check.offerId)
        + bytes.fromhex(check.challengeId[2:])
        + _word(check.checkedAt)
        + _word(int(check.passed))
        + _word(check.gpuCount)
        + _word(check.vramGb)
        + _word(check.elapsedMs)
        + bytes.fromhex(check.resultRoot[2:])
        + _word(epoch)
    )
    return keccak256(b"\x19\x01" + domain.separator() + struct_hash)


def sign_check(check: HardwareCheck, epoch: int, domain: Domain, key: bytes) -> CompactSignature:
    """One oracle's signature over `check` (low s, EIP-2098)."""
    return sign_digest(check_digest(check, epoch, domain), key)
