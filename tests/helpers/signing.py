"""EIP-712 receipts and attestations for the contract tests, built with eth-account alone.

The contract tests sign with eth-account's own `sign_typed_data` (not the gpusettle package), so a
digest mismatch between the contracts and the standard tooling cannot hide behind shared code.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass

from eth_abi import encode
from eth_account import Account
from eth_account.messages import encode_typed_data
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


def malleate(sig: tuple[bytes, bytes]) -> tuple[bytes, bytes]:
    """The other valid (r, s') for the same message: s' = n - s with the parity flipped."""
    r, vs = sig
    vs_int = int.from_bytes(vs, "big")
    parity, s = vs_int >> 255, vs_int & ((1 << 255) - 1)
    s2 = SECP256K1_N - s
    return (r, (((s2 & ((1 << 255) - 1)) | ((1 - parity) << 255))).to_bytes(32, "big"))


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
