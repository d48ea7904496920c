"""EIP-712 receipts and attestations for the contract tests, built with eth-account alone.

The contract tests sign with eth-account's own `sign_typed_data` (not the gpusettle package), so a
digest mismatch between the contracts and the standard tooling cannot hide behind shared code.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass

from eth_abi import encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_keys import keys
from eth_utils import keccak

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

RECEIPT_FIELDS = [
    {"name": "jobId", "type": "uint256"},
    {"name": "provider", "type": "address"},
    {"name": "gpuSeconds", "type": "uint64"},
    {"name": "startTime", "type": "uint64"},
    {"name": "endTime", "type": "uint64"},
    {"name": "resultHash", "type": "bytes32"},
    {"name": "outcome", "type": "uint8"},
]
ATTESTATION_FIELDS = [
    {"name": "receiptsHash", "type": "bytes32"},
    {"name": "oracleEpoch", "type": "uint64"},
]
RECEIPT_TYPEHASH = keccak(
    text="JobReceipt(uint256 jobId,address provider,uint64 gpuSeconds,uint64 startTime,"
    "uint64 endTime,bytes32 resultHash,uint8 outcome)"
)

COMPLETED, FAILED_CLIENT, FAILED_PROVIDER = 0, 1, 2


@dataclass
class Receipt:
    jobId: int
    provider: str
    gpuSeconds: int
    startTime: int
    endTime: int
    resultHash: bytes
    outcome: int = COMPLETED

    def as_tuple(self) -> tuple:
        return astuple(self)

    def message(self) -> dict:
        return {
            "jobId": self.jobId,
            "provider": str(self.provider),
            "gpuSeconds": self.gpuSeconds,
            "startTime": self.startTime,
            "endTime": self.endTime,
            "resultHash": self.resultHash,
            "outcome": self.outcome,
        }

    def struct_hash(self) -> bytes:
        return keccak(
            encode(
                ["bytes32", "uint256", "address", "uint64", "uint64", "uint64", "bytes32", "uint8"],
                [RECEIPT_TYPEHASH, self.jobId, str(self.provider), self.gpuSeconds, self.startTime,
                 self.endTime, self.resultHash, self.outcome],
            )
        )


def domain(chain_id: int, escrow_address: str) -> dict:
    return {"name": "gpusettle JobEscrow", "version": "1", "chainId": chain_id,
            "verifyingContract": str(escrow_address)}


def receipt_typed_data(receipt: Receipt, dom: dict) -> dict:
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "JobReceipt": RECEIPT_FIELDS,
        },
        "primaryType": "JobReceipt",
        "domain": dom,
        "message": receipt.message(),
    }


def receipt_digest(receipt: Receipt, dom: dict) -> bytes:
    signable = encode_typed_data(full_message=receipt_typed_data(receipt, dom))
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


def compact(v: int, r: int, s: int) -> tuple[bytes, bytes]:
    """EIP-2098: the y-parity goes into the top bit of s."""
    return (r.to_bytes(32, "big"), (s | ((v - 27) << 255)).to_bytes(32, "big"))


def malleable_pair(digest):
    """A canonical low-s EIP-2098 signature over `digest`, its malleated twin `(r, n - s)` with the y-parity
    flipped, and the address both recover to.

    The twin of an ordinary signature almost never fits EIP-2098: n - s is above 2^255 unless s is within ~2^127
    of n/2, and `vs` has 255 bits for s (masking s's top bit off instead would give an unrelated signature, not
    the twin). So the pair is built around a chosen high s in (n/2, 2^255):
    both halves recover to the same address, which the test then names as the worker or oracle.
    """
    seed = Account._sign_hash(b"\x00" * 32, "0x" + "31" * 32)
    r = seed.r  # a valid x coordinate
    s_high = SECP256K1_N // 2 + 1 + 0x1234
    assert s_high < 2**255
    signer = keys.Signature(vrs=(0, r, s_high)).recover_public_key_from_msg_hash(bytes(digest)).to_checksum_address()
    twin = keys.Signature(vrs=(1, r, SECP256K1_N - s_high)).recover_public_key_from_msg_hash(bytes(digest))
    assert twin.to_checksum_address() == signer
    r_b = r.to_bytes(32, "big")
    high = (r_b, s_high.to_bytes(32, "big"))
    low = (r_b, ((SECP256K1_N - s_high) | (1 << 255)).to_bytes(32, "big"))
    return low, high, signer


def sign_receipt(receipt: Receipt, key: str, dom: dict) -> tuple[bytes, bytes]:
    signed = Account.sign_typed_data(key, full_message=receipt_typed_data(receipt, dom))
    return compact(signed.v, signed.r, signed.s)


def receipts_hash(receipts: list[Receipt]) -> bytes:
    return keccak(b"".join(r.struct_hash() for r in receipts))


def sign_attestation(receipts: list[Receipt], epoch: int, keys: list[str], dom: dict) -> list[tuple[bytes, bytes]]:
    """Attestation signatures by `keys`, sorted by signer address as the escrow requires."""
    message = {"receiptsHash": receipts_hash(receipts), "oracleEpoch": epoch}
    full = {
        "types": {
            "EIP712Domain": receipt_typed_data(receipts[0], dom)["types"]["EIP712Domain"],
            "Attestation": ATTESTATION_FIELDS,
        },
        "primaryType": "Attestation",
        "domain": dom,
        "message": message,
    }
    signed = []
    for key in keys:
        s = Account.sign_typed_data(key, full_message=full)
        signed.append((Account.from_key(key).address.lower(), compact(s.v, s.r, s.s)))
    signed.sort(key=lambda pair: int(pair[0], 16))
    return [sig for _, sig in signed]
