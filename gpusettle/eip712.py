"""The one definition of gpusettle's EIP-712 types, shared by every signer and verifier.

The encoding is written out by hand (not through a generic typed-data encoder) because the oracle
verifies tens of thousands of receipts: eth-account's generic encoder and recovery take about 240 us
per receipt, this path about 40 us (see `python -m gpusettle.bench`). `typed_data()` produces the same data in the generic form, and the tests check
that both give the same digests, so the fast path cannot drift from the standard.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from coincurve import PrivateKey, PublicKey

from .errors import ConfigError, InvalidSignatureError, MalleableSignatureError
from .hashing import checksum_address, keccak256
from .models import JobReceipt, SignedReceipt

__all__ = [
    "ATTESTATION_TYPE",
    "ATTESTATION_TYPEHASH",
    "DOMAIN_NAME",
    "DOMAIN_VERSION",
    "RECEIPT_TYPE",
    "RECEIPT_TYPEHASH",
    "SECP256K1_N",
    "CompactSignature",
    "Domain",
    "ReceiptVerifier",
    "attestation_digest",
    "attestation_typed_data",
    "domain_separator",
    "from_compact",
    "receipt_digest",
    "receipt_struct_hash",
    "receipts_hash",
    "recover",
    "sign_digest",
    "to_compact",
    "typed_data",
]

DOMAIN_NAME = "gpusettle JobEscrow"
DOMAIN_VERSION = "1"

DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
RECEIPT_TYPE = (
    "JobReceipt(uint256 jobId,address provider,uint64 gpuSeconds,uint64 startTime,uint64 endTime,"
    "bytes32 resultHash,uint8 outcome)"
)
ATTESTATION_TYPE = "Attestation(bytes32 receiptsHash,uint64 oracleEpoch)"

DOMAIN_TYPEHASH = keccak256(DOMAIN_TYPE.encode())
RECEIPT_TYPEHASH = keccak256(RECEIPT_TYPE.encode())
ATTESTATION_TYPEHASH = keccak256(ATTESTATION_TYPE.encode())

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HALF_N = SECP256K1_N // 2
_TOP_BIT = 1 << 255
_S_MASK = _TOP_BIT - 1

# The generic form of the types, for eth-account, wallets and humans; it must say exactly what the
# *_TYPE strings above say.
_EIP712_TYPES: dict[str, list[dict[str, str]]] = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ],
    "JobReceipt": [
        {"name": "jobId", "type": "uint256"},
        {"name": "provider", "type": "address"},
        {"name": "gpuSeconds", "type": "uint64"},
        {"name": "startTime", "type": "uint64"},
        {"name": "endTime", "type": "uint64"},
        {"name": "resultHash", "type": "bytes32"},
        {"name": "outcome", "type": "uint8"},
    ],
    "Attestation": [
        {"name": "receiptsHash", "type": "bytes32"},
        {"name": "oracleEpoch", "type": "uint64"},
    ],
}


def _address_bytes(address: str) -> bytes:
    if not isinstance(address, str) or len(address) != 42 or not address.startswith("0x"):
        raise ValueError(f"{address!r} is not a 0x-prefixed 20-byte address")
    return bytes.fromhex(address[2:])


@dataclass(frozen=True, slots=True)
class Domain:
    """The EIP-712 domain of one JobEscrow deployment: it binds every signature to a chain and a contract."""

    chain_id: int
    verifying_contract: str
    name: str = DOMAIN_NAME
    version: str = DOMAIN_VERSION

    def __post_init__(self) -> None:
        if isinstance(self.chain_id, bool) or not isinstance(self.chain_id, int) or self.chain_id <= 0:
            raise ConfigError(
                f"the EIP-712 domain needs a positive chain id, got {self.chain_id!r}",
                "take the chain id from the connected node or the deployment record",
            )
        try:
            raw = _address_bytes(self.verifying_contract)
        except ValueError as exc:
            raise ConfigError(
                f"the EIP-712 domain needs the escrow's address as verifying contract: {exc}",
                "take the JobEscrow address from the deployment record",
            ) from None
        if raw == bytes(20):
            raise ConfigError(
                "the EIP-712 domain's verifying contract is the zero address",
                "take the JobEscrow address from the deployment record",
            )
        # Normalise so that equal domains compare equal whatever case the address was written in.
        object.__setattr__(self, "verifying_contract", checksum_address(raw))

    @classmethod
    def from_mapping(cls, domain: Mapping[str, Any]) -> Domain:
        """Build from an EIP-712 domain dict; it must hold chainId and verifyingContract (no salt)."""
        missing = [key for key in ("chainId", "verifyingContract") if domain.get(key) is None]
        if missing:
            raise ConfigError(
                f"the EIP-712 domain lacks {' and '.join(missing)}, so signatures could be replayed "
                "on other chains or deployments",
                "give both chainId and verifyingContract",
            )
        unknown = set(domain) - {"name", "version", "chainId", "verifyingContract"}
        if unknown:
            raise ConfigError(
                f"the EIP-712 domain has fields JobEscrow does not use: {sorted(unknown)}",
                "use exactly name, version, chainId and verifyingContract",
            )
        return cls(
            chain_id=domain["chainId"],
            verifying_contract=domain["verifyingContract"],
            name=domain.get("name", DOMAIN_NAME),
            version=domain.get("version", DOMAIN_VERSION),
        )

    def as_dict(self) -> dict[str, Any]:
        """The domain as an EIP-712 domain dict."""
        return {
            "name": self.name,
            "version": self.version,
            "chainId": self.chain_id,
            "verifyingContract": self.verifying_contract,
        }

    def separator(self) -> bytes:
        """The 32-byte domain separator."""
        return keccak256(
            DOMAIN_TYPEHASH
            + keccak256(self.name.encode())
            + keccak256(self.version.encode())
            + self.chain_id.to_bytes(32, "big")
            + bytes(12)
            + _address_bytes(self.verifying_contract)
        )


DomainLike = Domain | Mapping[str, Any]


def _as_domain(domain: DomainLike) -> Domain:
    return domain if isinstance(domain, Domain) else Domain.from_mapping(domain)


def domain_separator(chain_id: int, verifying_contract: str) -> bytes:
    """The domain separator of the JobEscrow at `verifying_contract` on `chain_id`."""
    return Domain(chain_id, verifying_contract).separator()


def receipt_struct_hash(receipt: JobReceipt) -> bytes:
    """hashStruct(JobReceipt): keccak256 of the typehash and the seven 32-byte encoded fields."""
    return keccak256(
        RECEIPT_TYPEHASH
        + receipt.jobId.to_bytes(32, "big")
        + bytes(12)
        + bytes.fromhex(receipt.provider[2:])
        + receipt.gpuSeconds.to_bytes(32, "big")
        + receipt.startTime.to_bytes(32, "big")
        + receipt.endTime.to_bytes(32, "big")
        + bytes.fromhex(receipt.resultHash[2:])
        + int(receipt.outcome).to_bytes(32, "big")
    )


def _digest(separator: bytes, struct_hash: bytes) -> bytes:
    return keccak256(b"\x19\x01" + separator + struct_hash)


def receipt_digest(receipt: JobReceipt, domain: DomainLike) -> bytes:
    """The EIP-712 digest a worker key signs for `receipt` (equals JobEscrow.receiptDigest)."""
    return _digest(_as_domain(domain).separator(), receipt_struct_hash(receipt))


def receipts_hash(receipts: Iterable[JobReceipt]) -> bytes:
    """keccak256 of the receipts' struct hashes concatenated in submission order."""
    hashes = [receipt_struct_hash(r) for r in receipts]
    if not hashes:
        raise ValueError("an attestation covers at least one receipt (the escrow rejects an empty batch)")
    return keccak256(b"".join(hashes))


def _check_bytes32(value: bytes, what: str) -> bytes:
    if not isinstance(value, bytes | bytearray) or len(value) != 32:
        raise ValueError(f"{what} must be 32 bytes, got {value!r}")
    return bytes(value)


def attestation_digest(receipts_hash: bytes, epoch: int, domain: DomainLike) -> bytes:
    """The EIP-712 digest oracle keys sign for a batch (equals JobEscrow.attestationDigest)."""
    if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 <= epoch < 2**64:
        raise ValueError(f"oracle epoch must be a uint64, got {epoch!r}")
    struct_hash = keccak256(
        ATTESTATION_TYPEHASH + _check_bytes32(receipts_hash, "receiptsHash") + epoch.to_bytes(32, "big")
    )
    return _digest(_as_domain(domain).separator(), struct_hash)


def typed_data(receipt: JobReceipt, domain: DomainLike) -> dict[str, Any]:
    """The full EIP-712 message for `receipt`, for eth_account's `encode_typed_data(full_message=...)`
    or a wallet's eth_signTypedData_v4."""
    return {
        "types": {"EIP712Domain": _EIP712_TYPES["EIP712Domain"], "JobReceipt": _EIP712_TYPES["JobReceipt"]},
        "primaryType": "JobReceipt",
        "domain": _as_domain(domain).as_dict(),
        "message": {
            "jobId": receipt.jobId,
            "provider": receipt.provider,
            "gpuSeconds": receipt.gpuSeconds,
            "startTime": receipt.startTime,
            "endTime": receipt.endTime,
            "resultHash": receipt.resultHash,
            "outcome": int(receipt.outcome),
        },
    }


def attestation_typed_data(receipts_hash: bytes, epoch: int, domain: DomainLike) -> dict[str, Any]:
    """The full EIP-712 message for an attestation, as `typed_data` gives for a receipt."""
    return {
        "types": {"EIP712Domain": _EIP712_TYPES["EIP712Domain"], "Attestation": _EIP712_TYPES["Attestation"]},
        "primaryType": "Attestation",
        "domain": _as_domain(domain).as_dict(),
        "message": {
            "receiptsHash": "0x" + _check_bytes32(receipts_hash, "receiptsHash").hex(),
            "oracleEpoch": epoch,
        },
    }


@dataclass(frozen=True, slots=True)
class CompactSignature:
    """An EIP-2098 compact signature: `vs` holds the y-parity in its top bit and a low s below it."""

    r: bytes
    vs: bytes

    def __post_init__(self) -> None:
        for name, value in (("r", self.r), ("vs", self.vs)):
            if not isinstance(value, bytes | bytearray) or len(value) != 32:
                raise InvalidSignatureError(f"{name} must be 32 bytes, got {value!r}")

    @classmethod
    def from_hex(cls, r: str, vs: str) -> CompactSignature:
        """From 0x-prefixed hex strings (as stored in a SignedReceipt)."""
        try:
            return cls(bytes.fromhex(r.removeprefix("0x")), bytes.fromhex(vs.removeprefix("0x")))
        except ValueError:
            raise InvalidSignatureError(f"r {r!r} or vs {vs!r} is not hex") from None

    def hex(self) -> tuple[str, str]:
        """(r, vs) as 0x-prefixed hex strings."""
        return "0x" + self.r.hex(), "0x" + self.vs.hex()

    def as_tuple(self) -> tuple[bytes, bytes]:
        """(r, vs) as the ABI tuple IJobEscrow.Signature."""
        return bytes(self.r), bytes(self.vs)

    def split(self) -> tuple[int, int, int]:
        """(r, s, y_parity) as integers."""
        vs = int.from_bytes(self.vs, "big")
        return int.from_bytes(self.r, "big"), vs & _S_MASK, vs >> 255


def _check_rs(r: int, s: int) -> None:
    if not 0 < r < SECP256K1_N:
        raise InvalidSignatureError(f"r = {r:#x} is outside 1..n-1")
    if s == 0:
        raise InvalidSignatureError("s is zero")
    if s > _HALF_N:
        raise MalleableSignatureError(s)


def to_compact(signature: bytes) -> CompactSignature:
    """Convert a 65-byte r || s || v signature (v in 0, 1, 27, 28) to EIP-2098 form.

    A high-s signature is refused rather than normalised: it came from a non-EIP-2 signer or was
    tampered with, and the caller should know.
    """
    if not isinstance(signature, bytes | bytearray) or len(signature) != 65:
        raise InvalidSignatureError(f"expected 65 bytes r || s || v, got {len(signature)} bytes")
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    v = signature[64]
    if v in (27, 28):
        v -= 27
    if v not in (0, 1):
        raise InvalidSignatureError(f"v = {signature[64]} is not 0, 1, 27 or 28")
    _check_rs(r, s)
    return CompactSignature(bytes(signature[:32]), (s | (v << 255)).to_bytes(32, "big"))


def from_compact(signature: CompactSignature) -> bytes:
    """The 65-byte r || s || v form (v = 27 or 28) of a compact signature, as eth-account returns it."""
    r, s, parity = signature.split()
    _check_rs(r, s)
    return signature.r + s.to_bytes(32, "big") + bytes([27 + parity])


def sign_digest(digest: bytes, private_key: bytes | str) -> CompactSignature:
    """Sign a 32-byte digest; libsecp256k1 always produces low s, so the result is never malleable."""
    _check_bytes32(digest, "digest")
    key = (
        bytes.fromhex(private_key.removeprefix("0x")) if isinstance(private_key, str) else bytes(private_key)
    )
    try:
        raw = PrivateKey(key).sign_recoverable(digest, hasher=None)
    except ValueError:
        raise ValueError("the private key must be 32 bytes between 1 and n-1") from None
    s = int.from_bytes(raw[32:64], "big")
    return CompactSignature(raw[:32], (s | (raw[64] << 255)).to_bytes(32, "big"))


def recover(digest: bytes, signature: CompactSignature | bytes) -> str:
    """The checksummed address that signed `digest`; raises InvalidSignatureError (or its subclass
    MalleableSignatureError for s > n/2) instead of returning some unrelated address."""
    compact = signature if isinstance(signature, CompactSignature) else to_compact(signature)
    r, s, parity = compact.split()
    _check_rs(r, s)
    try:
        public = PublicKey.from_signature_and_message(
            bytes(compact.r) + s.to_bytes(32, "big") + bytes([parity]),
            _check_bytes32(digest, "digest"),
            hasher=None,
        )
    except ValueError:
        raise InvalidSignatureError("no public key matches this signature and digest") from None
    return _address_of(public.format(compressed=False)[1:])


@lru_cache(maxsize=4096)
def _address_of(public_key: bytes) -> str:
    """The checksummed address of a 64-byte public key; cached, as the oracle recovers the same few
    worker keys over and over."""
    return checksum_address(keccak256(public_key)[12:])


class ReceiptVerifier:
    """Recovers receipt signers for one JobEscrow deployment, with its domain separator computed once."""

    def __init__(self, chain_id: int, verifying_contract: str) -> None:
        self.domain = Domain(chain_id, verifying_contract)
        self._prefix = b"\x19\x01" + self.domain.separator()

    @property
    def separator(self) -> bytes:
        """The cached domain separator."""
        return self._prefix[2:]

    def digest(self, receipt: JobReceipt) -> bytes:
        """The EIP-712 digest of `receipt` under this verifier's domain."""
        return keccak256(self._prefix + receipt_struct_hash(receipt))

    def digest_of(self, struct_hash: bytes) -> bytes:
        """The EIP-712 digest of a receipt whose struct hash the caller has already computed (intake
        stores the struct hash too, so it hashes the receipt once)."""
        return keccak256(self._prefix + struct_hash)

    def verify(self, receipt: JobReceipt, signature: CompactSignature | bytes) -> str:
        """The checksummed address that signed `receipt`; compare it with the provider's worker key."""
        return recover(self.digest(receipt), signature)

    def verify_signed(self, signed: SignedReceipt) -> str:
        """The address that signed a SignedReceipt's receipt."""
        return self.verify(signed.receipt, CompactSignature.from_hex(signed.r, signed.vs))
