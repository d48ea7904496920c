"""keccak256 and EIP-55 checksums on the fastest backend installed.

Receipt verification hashes three times per receipt, so the backend matters: pysha3's C keccak takes
about 1 us per call where eth-hash's pycryptodome wrapper takes about 4 us. Both ship with
eth-brownie's dependency tree; the fallbacks keep gpusettle working without them.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["KECCAK_BACKEND", "checksum_address", "keccak256"]


def _pick_keccak() -> tuple[Callable[[bytes], bytes], str]:
    try:
        from sha3 import keccak_256  # safe-pysha3, pulled in by cchecksum
    except ImportError:
        from eth_hash.auto import keccak

        return keccak, "eth-hash"

    def pysha3_keccak(data: bytes) -> bytes:
        digest: bytes = keccak_256(data).digest()
        return digest

    return pysha3_keccak, "pysha3"


def _pick_checksum() -> Callable[[bytes], str]:
    try:
        from cchecksum import to_checksum_address as c_checksum
    except ImportError:
        from eth_utils.address import to_checksum_address

        def python_checksum(raw: bytes) -> str:
            return to_checksum_address(raw)

        return python_checksum

    def fast_checksum(raw: bytes) -> str:
        result: str = c_checksum(raw)
        return result

    return fast_checksum


keccak256: Callable[[bytes], bytes]
"""keccak256 (Ethereum's pre-standard SHA-3) of `data`, 32 bytes."""
KECCAK_BACKEND: str
"""Which implementation `keccak256` uses, for benchmark reports."""
keccak256, KECCAK_BACKEND = _pick_keccak()

checksum_address: Callable[[bytes], str] = _pick_checksum()
"""The EIP-55 checksummed form of a 20-byte address."""
