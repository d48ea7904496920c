"""EIP-712 hardware checks and their oracle attestations for the contract tests, signed with eth-account alone (as
tests/helpers/signing.py does for receipts), so a digest mismatch cannot hide behind the package's own encoder."""

from __future__ import annotations

from dataclasses import astuple, dataclass

from eth_account import Account

from tests.helpers.signing import compact

CHECK_FIELDS = [
    {"name": "offerId", "type": "uint256"},
    {"name": "challengeId", "type": "bytes32"},
    {"name": "checkedAt", "type": "uint64"},
    {"name": "passed", "type": "bool"},
    {"name": "gpuCount", "type": "uint8"},
    {"name": "vramGb", "type": "uint32"},
    {"name": "elapsedMs", "type": "uint32"},
    {"name": "resultRoot", "type": "bytes32"},
    {"name": "oracleEpoch", "type": "uint64"},
]
DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


@dataclass
class Check:
    offerId: int
    checkedAt: int
    passed: bool = True
    gpuCount: int = 4
    vramGb: int = 80
    elapsedMs: int = 1_500
    challengeId: bytes = b"\x42" * 32
    resultRoot: bytes = b"\x77" * 32

    def as_tuple(self) -> tuple:
        return (self.offerId, self.challengeId, self.checkedAt, self.passed, self.gpuCount, self.vramGb,
                self.elapsedMs, self.resultRoot)

    def typed_data(self, epoch: int, dom: dict) -> dict:
        message = dict(zip([f["name"] for f in CHECK_FIELDS], [*self.as_tuple(), epoch]))
        return {"types": {"EIP712Domain": DOMAIN_FIELDS, "HardwareCheck": CHECK_FIELDS},
                "primaryType": "HardwareCheck", "domain": dom, "message": message}


def hardware_domain(chain_id: int, registry_address: str) -> dict:
    return {"name": "gpusettle HardwareRegistry", "version": "1", "chainId": chain_id,
            "verifyingContract": str(registry_address)}


def sign_check(check: Check, epoch: int, keys: list[str], dom: dict) -> list[tuple[bytes, bytes]]:
    """Signatures by `keys`, sorted by signer address as the registry needs."""
    signed = []
    for key in keys:
        s = Account.sign_typed_data(key, full_message=check.typed_data(epoch, dom))
        signed.append((Account.from_key(key).address.lower(), compact(s.v, s.r, s.s)))
    signed.sort(key=lambda pair: int(pair[0], 16))
    return [sig for _, sig in signed]


__all__ = ["Check", "astuple", "hardware_domain", "sign_check"]
