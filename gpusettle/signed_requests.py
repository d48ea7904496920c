"""Signed HTTP requests to the oracle: result uploads (by the job's worker key) and peer requests (by a
member of the on-chain oracle set).

Both are EIP-712 typed structures under the escrow's domain, so a signature made for one chain or one
escrow is worthless on another, and neither type can be confused with a receipt or an attestation:

    ResultUpload(uint256 jobId,bytes32 resultHash)
    PeerRequest(string method,string path,uint256 timestamp,bytes32 bodyHash)

The signature travels in headers (`X-Gpusettle-Signature: 0x<r><vs>`, EIP-2098 compact, 64 bytes), so
the body stays the plain payload or JSON document.
"""

from __future__ import annotations

from dataclasses import dataclass

from .eip712 import CompactSignature, Domain, recover, sign_digest
from .errors import InvalidSignatureError
from .hashing import keccak256

__all__ = [
    "JOB_HEADER",
    "PEER_MAX_SKEW",
    "SIGNATURE_HEADER",
    "SIGNER_HEADER",
    "TIMESTAMP_HEADER",
    "PeerRequestAuth",
    "parse_signature",
    "peer_request_digest",
    "peer_request_headers",
    "result_upload_digest",
    "result_upload_headers",
]

JOB_HEADER = "x-gpusettle-job"
"""The job id a result upload belongs to."""
SIGNATURE_HEADER = "x-gpusettle-signature"
"""0x + r (32 bytes) + vs (32 bytes), hex."""
SIGNER_HEADER = "x-gpusettle-signer"
"""The oracle address that signed a peer request."""
TIMESTAMP_HEADER = "x-gpusettle-timestamp"
"""Unix seconds when a peer request was signed."""
PEER_MAX_SKEW = 120
"""How old (or how far in the future) a peer request's timestamp may be, in seconds: a captured request
cannot be replayed later than this."""

_UPLOAD_TYPEHASH = keccak256(b"ResultUpload(uint256 jobId,bytes32 resultHash)")
_PEER_TYPEHASH = keccak256(b"PeerRequest(string method,string path,uint256 timestamp,bytes32 bodyHash)")


def _digest(domain: Domain, struct_hash: bytes) -> bytes:
    return keccak256(b"\x19\x01" + domain.separator() + struct_hash)


def _hash32(value: str) -> bytes:
    raw = bytes.fromhex(value.removeprefix("0x"))
    if len(raw) != 32:
        raise ValueError(f"{value!r} is not 32 bytes")
    return raw


def result_upload_digest(domain: Domain, job_id: int, result_hash: str) -> bytes:
    """What the worker key signs to upload `result_hash` for `job_id`."""
    return _digest(domain, keccak256(_UPLOAD_TYPEHASH + job_id.to_bytes(32, "big") + _hash32(result_hash)))


def peer_request_digest(domain: Domain, method: str, path: str, timestamp: int, body: bytes) -> bytes:
    """What an oracle signs to send `body` to a peer's `method path` at `timestamp`."""
    return _digest(
        domain,
        keccak256(
            _PEER_TYPEHASH
            + keccak256(method.upper().encode())
            + keccak256(path.encode())
            + timestamp.to_bytes(32, "big")
            + keccak256(body)
        ),
    )


def _signature_header(signature: CompactSignature) -> str:
    return "0x" + signature.r.hex() + signature.vs.hex()


def parse_signature(value: str | None) -> CompactSignature:
    """The compact signature in a header; InvalidSignatureError when it is missing or malformed."""
    if not value:
        raise InvalidSignatureError(f"the {SIGNATURE_HEADER} header is missing")
    text = value.strip().removeprefix("0x")
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise InvalidSignatureError(f"the {SIGNATURE_HEADER} header is not hex") from None
    if len(raw) != 64:
        raise InvalidSignatureError(
            f"the {SIGNATURE_HEADER} header holds {len(raw)} bytes, not 64 (r and vs)"
        )
    return CompactSignature(raw[:32], raw[32:])


def result_upload_headers(domain: Domain, key: bytes, job_id: int, result_hash: str) -> dict[str, str]:
    """The headers of PUT /v1/results/<result_hash> for `job_id`, signed with the worker key."""
    signature = sign_digest(result_upload_digest(domain, job_id, result_hash), key)
    return {JOB_HEADER: str(job_id), SIGNATURE_HEADER: _signature_header(signature)}


def peer_request_headers(
    domain: Domain, key: bytes, address: str, method: str, path: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The headers that sign a peer request with this oracle's key."""
    signature = sign_digest(peer_request_digest(domain, method, path, timestamp, body), key)
    return {
        SIGNER_HEADER: address,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: _signature_header(signature),
    }


@dataclass(frozen=True)
class PeerRequestAuth:
    """A peer request's signer, checked: the address recovered from the signature over the request."""

    signer: str

    @classmethod
    def check(
        cls,
        domain: Domain,
        headers: dict[str, str],
        method: str,
        path: str,
        body: bytes,
        now: float,
    ) -> PeerRequestAuth:
        """The recovered signer; InvalidSignatureError when the headers are missing, stale or do not
        match the claimed signer."""
        claimed = headers.get(SIGNER_HEADER)
        stamp = headers.get(TIMESTAMP_HEADER)
        if not claimed or not stamp:
            raise InvalidSignatureError(
                f"a peer request needs the {SIGNER_HEADER}, {TIMESTAMP_HEADER} and {SIGNATURE_HEADER} headers",
                "peers sign their requests with their oracle key (an oracle of this escrow's oracle set)",
            )
        if not stamp.isdigit():
            raise InvalidSignatureError(f"the {TIMESTAMP_HEADER} header {stamp[:40]!r} is not Unix seconds")
        timestamp = int(stamp)
        if abs(now - timestamp) > PEER_MAX_SKEW:
            raise InvalidSignatureError(
                f"the request was signed at {timestamp}, {now - timestamp:.0f} s from this oracle's clock "
                f"(at most {PEER_MAX_SKEW} s are accepted)",
                "check both oracles' clocks; a replayed request is refused this way",
            )
        signature = parse_signature(headers.get(SIGNATURE_HEADER))
        signer = recover(peer_request_digest(domain, method, path, timestamp, body), signature)
        if signer.lower() != claimed.lower():
            raise InvalidSignatureError(
                f"the request is signed by {signer}, not by {claimed[:42]}",
                "sign the exact method, path, timestamp and body sent",
            )
        return cls(signer)
