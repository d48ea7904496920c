"""Signed HTTP requests to the oracle: result uploads (by the job's worker key), client input uploads
(by the client's account key) and peer requests (by a member of the on-chain oracle set).

Both are EIP-712 typed structures under the escrow's domain, so a signature made for one chain or one
escrow is worthless on another, and neither type can be confused with a receipt or an attestation:

    ResultUpload(uint256 jobId,bytes32 resultHash)
    InputUpload(bytes32 sha256,uint64 size,uint64 expires)
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
    "EXPIRES_HEADER",
    "INPUT_MAX_VALIDITY",
    "JOB_HEADER",
    "PEER_MAX_SKEW",
    "SIGNATURE_HEADER",
    "SIGNER_HEADER",
    "SIZE_HEADER",
    "TIMESTAMP_HEADER",
    "InputUploadAuth",
    "PeerRequestAuth",
    "input_upload_digest",
    "input_upload_headers",
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
"""The address that signed a peer request (an oracle) or an input upload (a client)."""
TIMESTAMP_HEADER = "x-gpusettle-timestamp"
"""Unix seconds when a peer request was signed."""
SIZE_HEADER = "x-gpusettle-size"
"""The exact byte size of an input upload (signed: the body must be exactly this long)."""
EXPIRES_HEADER = "x-gpusettle-expires"
"""Unix seconds after which an input upload's signature is refused."""
INPUT_MAX_VALIDITY = 3600
"""How far in the future an input upload's `expires` may lie, in seconds: a captured signature is
worthless after at most this long."""
PEER_MAX_SKEW = 120
"""How old (or how far in the future) a peer request's timestamp may be, in seconds: a captured request
cannot be replayed later than this."""

_UPLOAD_TYPEHASH = keccak256(b"ResultUpload(uint256 jobId,bytes32 resultHash)")
_INPUT_TYPEHASH = keccak256(b"InputUpload(bytes32 sha256,uint64 size,uint64 expires)")
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


def input_upload_digest(domain: Domain, sha256: str, size: int, expires: int) -> bytes:
    """What a client's account key signs to upload an input of `size` bytes hashing to `sha256` (64 hex
    digits, with or without 0x) until `expires` (Unix seconds)."""
    return _digest(
        domain,
        keccak256(_INPUT_TYPEHASH + _hash32(sha256) + size.to_bytes(32, "big") + expires.to_bytes(32, "big")),
    )


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


def input_upload_headers(domain: Domain, key: bytes, sha256: str, size: int, expires: int) -> dict[str, str]:
    """The headers of PUT /v1/inputs/<sha256>, signed with the client's account key."""
    digest = input_upload_digest(domain, sha256, size, expires)
    signature = sign_digest(digest, key)
    return {
        SIGNER_HEADER: recover(digest, signature),
        SIZE_HEADER: str(size),
        EXPIRES_HEADER: str(expires),
        SIGNATURE_HEADER: _signature_header(signature),
    }


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


_UINT64 = 2**64


@dataclass(frozen=True)
class InputUploadAuth:
    """An input upload's signer and terms, checked: the address recovered from the signature over
    (sha256, size, expires) under this escrow's domain."""

    signer: str
    size: int
    expires: int

    @classmethod
    def check(cls, domain: Domain, headers: dict[str, str], sha256: str, now: float) -> InputUploadAuth:
        """The recovered signer; InvalidSignatureError when the headers are missing, malformed or
        expired (or expire too far ahead), or when the signature does not recover the claimed signer
        (as one made for another chain, escrow, hash or size does not)."""
        raw_size = headers.get(SIZE_HEADER)
        raw_expires = headers.get(EXPIRES_HEADER)
        claimed = headers.get(SIGNER_HEADER)
        if not raw_size or not raw_expires or not claimed or not headers.get(SIGNATURE_HEADER):
            raise InvalidSignatureError(
                f"an input upload needs the {SIGNER_HEADER}, {SIZE_HEADER}, {EXPIRES_HEADER} and "
                f"{SIGNATURE_HEADER} headers",
                "the client's account key signs InputUpload(sha256, size, expires) "
                "(gpusettle.signed_requests.input_upload_headers; `gpusettle job create --spec` does it)",
            )
        for label, value in ((SIZE_HEADER, raw_size), (EXPIRES_HEADER, raw_expires)):
            if not value.isdigit() or len(value) > 20 or int(value) >= _UINT64:
                raise InvalidSignatureError(f"the {label} header {value[:40]!r} is not a uint64")
        size, expires = int(raw_size), int(raw_expires)
        if expires < now:
            raise InvalidSignatureError(
                f"the upload's signature expired at {expires}, {now - expires:.0f} s ago",
                "sign again with a later expiry (a captured signature is refused this way)",
            )
        if expires > now + INPUT_MAX_VALIDITY:
            raise InvalidSignatureError(
                f"the upload's signature expires at {expires}, {expires - now:.0f} s from this oracle's clock "
                f"(at most {INPUT_MAX_VALIDITY} s ahead are accepted)",
                "sign with an expiry within the hour; check the clocks",
            )
        signature = parse_signature(headers.get(SIGNATURE_HEADER))
        signer = recover(input_upload_digest(domain, sha256, size, expires), signature)
        if signer.lower() != claimed.lower():
            raise InvalidSignatureError(
                f"the upload is signed by {signer}, not by {claimed[:42]}",
                "sign this oracle's chain id and escrow, and the exact sha256, size and expiry sent",
            )
        return cls(signer, size, expires)
