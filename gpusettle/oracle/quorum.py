"""Attestations: this oracle's signature over a batch, and its peers' co-signatures for M-of-N.

The posting oracle signs Attestation(receiptsHash, oracleEpoch) itself and, when the on-chain
threshold is above one, asks its peers (POST /v1/cosign) to verify every receipt of the batch
independently against their own view of the chain and sign too. It posts once M valid signatures of
current oracle-set members agree, sorted by signer address as the escrow requires.

Peer requests are signed with the asking oracle's key (gpusettle.signed_requests) and name no URL: a
peer that lacks a spec or a result payload fetches it from its own configured peers, by hash, with a
size bound (`PeerFetcher`), never from an address taken from a request.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from ..eip712 import CompactSignature, Domain, attestation_digest, receipts_hash, recover, sign_digest
from ..hashing import keccak256
from ..models import SignedReceipt
from ..signed_requests import peer_request_headers
from .uploads import is_hex_name

__all__ = [
    "COSIGN_PATH",
    "Attestation",
    "CosignRequest",
    "PeerFetcher",
    "QuorumError",
    "QuorumSigner",
    "ask_peer",
    "gather_signatures",
    "peer_request",
]

COSIGN_PATH = "/v1/cosign"


class CosignRequest(BaseModel):
    """The body of POST /v1/cosign. It names no URL: what the peer lacks it fetches from its own peers."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    epoch: int = Field(strict=True, ge=0)
    """The oracle-set epoch the attestation is for."""
    receipts: list[dict[str, Any]] = Field(max_length=10_000)
    """The batch's signed receipts as receipt submissions (each checked on its own)."""
    specs: dict[str, str] = Field(default_factory=dict)
    """Job specs (canonical JSON) by specHash, for jobs the peer may not know; checked by hash."""


class PeerFetcher:
    """Specs and result payloads from the configured peers only, by hash, size-bounded and checked."""

    def __init__(
        self,
        peers: Sequence[str],
        max_result: int,
        max_spec: int = 256 * 1024,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.peers = [p.rstrip("/") for p in peers]
        self.max_result = max_result
        self.max_spec = max_spec
        self.http = httpx.Client(timeout=timeout, transport=transport, follow_redirects=False)

    def _get_from(self, base: str, path: str, limit: int) -> bytes | None:
        """The body `base` answers 200 with, or None (an error, another status, more than `limit` bytes)."""
        try:
            with self.http.stream("GET", base + path) as response:
                if response.status_code != 200:
                    return None
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > limit:
                        log.warning("peer %s sent more than %d bytes for %s; ignored", base, limit, path)
                        return None
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.HTTPError as exc:
            log.info("peer %s: cannot fetch %s (%s)", base, path, type(exc).__name__)
            return None

    def result(self, result_hash: str) -> bytes | None:
        """The payload hashing to `result_hash` from the first peer that has it."""
        name = result_hash.lower()
        if not is_hex_name(name, "0x"):
            return None
        for base in self.peers:
            body = self._get_from(base, f"/v1/results/{name}", self.max_result)
            if body is not None and "0x" + keccak256(body).hex() == name:
                return body
        return None

    def spec(self, spec_hash: str) -> str | None:
        """A spec's canonical JSON from the first peer that has it (the caller checks its hash)."""
        name = spec_hash.lower()
        if not is_hex_name(name, "0x"):
            return None
        for base in self.peers:
            body = self._get_from(base, f"/v1/specs/{name}", self.max_spec)
            if body is None:
                continue
            try:
                return body.decode("utf-8")
            except UnicodeDecodeError:
                continue
        return None

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()


log = logging.getLogger(__name__)


class QuorumError(Exception):
    """Not enough oracles signed; `rejected` maps job ids to the reasons peers gave."""

    def __init__(self, message: str, rejected: dict[int, list[str]] | None = None) -> None:
        super().__init__(message)
        self.rejected = rejected or {}


@dataclass(frozen=True)
class Attestation:
    """Signatures over one batch, sorted by signer address, ready for settleBatch."""

    receipts_hash: bytes
    epoch: int
    signers: tuple[str, ...]
    signatures: tuple[CompactSignature, ...]

    def as_tuples(self) -> list[tuple[bytes, bytes]]:
        """The escrow's Signature[] argument."""
        return [s.as_tuple() for s in self.signatures]


def peer_request(receipts: Sequence[SignedReceipt], epoch: int, specs: dict[str, str]) -> CosignRequest:
    """The body of POST /v1/cosign."""
    return CosignRequest(
        epoch=epoch,
        receipts=[json.loads(r.model_dump_json(exclude_none=True)) for r in receipts],
        specs=specs,
    )


@dataclass
class QuorumSigner:
    """Signs batches with this oracle's key and gathers peers' co-signatures."""

    domain: Domain
    key: bytes = field(repr=False)
    address: str
    peers: list[str] = field(default_factory=list)
    timeout: float = 30.0

    def sign(self, receipts_hash_: bytes, epoch: int) -> CompactSignature:
        """This oracle's attestation signature."""
        return sign_digest(attestation_digest(receipts_hash_, epoch, self.domain), self.key)

    def attest(
        self,
        receipts: Sequence[SignedReceipt],
        epoch: int,
        oracles: Sequence[str],
        threshold: int,
        specs: dict[str, str] | None = None,
    ) -> Attestation:
        """M signatures over `receipts`, or QuorumError. `oracles` is the current on-chain set."""
        rh = receipts_hash(r.receipt for r in receipts)
        body = peer_request(receipts, epoch, specs or {}).model_dump_json().encode()
        chosen = gather_signatures(
            digest=attestation_digest(rh, epoch, self.domain),
            epoch=epoch,
            oracles=oracles,
            threshold=threshold,
            own=(self.address, self.key),
            peers=self.peers,
            ask=lambda url: ask_peer(
                url, COSIGN_PATH, body, self.domain, self.key, self.address, self.timeout
            ),
        )
        return Attestation(
            receipts_hash=rh,
            epoch=epoch,
            signers=tuple(s for s, _ in chosen),
            signatures=tuple(sig for _, sig in chosen),
        )


PeerAnswer = tuple[dict[str, Any] | None, str | None]
"""A peer's JSON answer (a signature, or {"rejected": {id: reason}}), or why there is none."""


def ask_peer(
    url: str,
    path: str,
    body: bytes,
    peer_domain: Domain,
    key: bytes,
    address: str,
    timeout: float,
    transport: httpx.BaseTransport | None = None,
) -> PeerAnswer:
    """POST a co-signing request to one peer, signed with this oracle's key (gpusettle.signed_requests)."""
    headers = peer_request_headers(peer_domain, key, address, "POST", path, int(time.time()), body)
    headers["content-type"] = "application/json"
    try:
        with httpx.Client(timeout=timeout, transport=transport) as client:
            response = client.post(url.rstrip("/") + path, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return None, f"unreachable ({type(exc).__name__})"
    try:
        answer = response.json()
    except ValueError:
        return None, f"HTTP {response.status_code} without JSON"
    if isinstance(answer, dict) and (
        response.status_code == 200 or (response.status_code == 409 and "rejected" in answer)
    ):
        return answer, None
    reason = answer.get("reason") if isinstance(answer, dict) else None
    return None, f"HTTP {response.status_code}: {reason or answer}"


def gather_signatures(
    *,
    digest: bytes,
    epoch: int,
    oracles: Sequence[str],
    threshold: int,
    own: tuple[str, bytes],
    peers: Sequence[str],
    ask: Callable[[str], PeerAnswer],
) -> list[tuple[str, CompactSignature]]:
    """`threshold` signatures over `digest` by distinct members of `oracles`, sorted by signer as the contracts
    require: this oracle's own (`own` = address, key) when it is a member, then its peers' (asked in parallel
    with `ask(url)` only while short), each recovered and checked for membership. Short of the threshold:
    QuorumError, with `rejected` mapping the ids the peers refused to their reasons."""
    members = {o.lower() for o in oracles}
    collected: dict[str, CompactSignature] = {}
    address, key = own
    if address.lower() in members:
        collected[address] = sign_digest(digest, key)
    rejected: dict[int, list[str]] = {}
    errors: list[str] = []
    if len(collected) < threshold and peers:
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(peers)) as pool:
            answers = list(pool.map(ask, peers))
        for url, (answer, error) in zip(peers, answers, strict=True):
            if error is not None or answer is None:
                errors.append(f"{url}: {error}")
                continue
            if "rejected" in answer:
                for item, reason in dict(answer["rejected"]).items():
                    rejected.setdefault(int(item), []).append(f"{url}: {reason}")
                continue
            try:
                sig = CompactSignature.from_hex(str(answer["r"]), str(answer["vs"]))
                signer = recover(digest, sig)
            except (KeyError, ValueError, TypeError) as exc:
                errors.append(f"{url}: unusable signature ({exc})")
                continue
            except Exception as exc:  # noqa: BLE001 - InvalidSignatureError and friends
                errors.append(f"{url}: invalid signature ({exc})")
                continue
            if signer.lower() not in members:
                errors.append(f"{url}: signer {signer} is not in the oracle set of epoch {epoch}")
                continue
            collected[signer] = sig
    if len(collected) < threshold:
        detail = "; ".join(errors) or "no peer agreed"
        raise QuorumError(
            f"only {len(collected)} of the {threshold} oracle signatures needed ({detail})", rejected
        )
    return sorted(collected.items(), key=lambda kv: int(kv[0], 16))[:threshold]
