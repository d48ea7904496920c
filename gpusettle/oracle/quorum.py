"""Attestations: this oracle's signature over a batch, and its peers' co-signatures for M-of-N.

The posting oracle signs Attestation(receiptsHash, oracleEpoch) itself and, when the on-chain
threshold is above one, asks its peers (POST /v1/cosign) to verify every receipt of the batch
independently against their own view of the chain and sign too. It posts once M valid signatures of
current oracle-set members agree, sorted by signer address as the escrow requires.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..eip712 import CompactSignature, Domain, attestation_digest, receipts_hash, recover, sign_digest
from ..models import SignedReceipt

__all__ = ["Attestation", "QuorumError", "QuorumSigner", "peer_request"]

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


def peer_request(
    receipts: Sequence[SignedReceipt], epoch: int, specs: dict[str, str], results_url: str | None
) -> dict[str, Any]:
    """The body of POST /v1/cosign."""
    return {
        "epoch": epoch,
        "receipts": [json.loads(r.model_dump_json(exclude_none=True)) for r in receipts],
        "specs": specs,
        "results_url": results_url,
    }


@dataclass
class QuorumSigner:
    """Signs batches with this oracle's key and gathers peers' co-signatures."""

    domain: Domain
    key: bytes = field(repr=False)
    address: str
    peers: list[str] = field(default_factory=list)
    results_url: str | None = None
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
        digest = attestation_digest(rh, epoch, self.domain)
        members = {o.lower() for o in oracles}
        collected: dict[str, CompactSignature] = {}
        if self.address.lower() in members:
            collected[self.address] = self.sign(rh, epoch)
        rejected: dict[int, list[str]] = {}
        errors: list[str] = []
        if len(collected) < threshold and self.peers:
            body = peer_request(receipts, epoch, specs or {}, self.results_url)
            with concurrent.futures.ThreadPoolExecutor(max_workers=len(self.peers)) as pool:
                answers = list(pool.map(lambda url: self._ask(url, body), self.peers))
            for url, (answer, error) in zip(self.peers, answers, strict=True):
                if error is not None:
                    errors.append(f"{url}: {error}")
                    continue
                assert answer is not None
                if "rejected" in answer:
                    for job, reason in dict(answer["rejected"]).items():
                        rejected.setdefault(int(job), []).append(f"{url}: {reason}")
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
        chosen = sorted(collected.items(), key=lambda kv: int(kv[0], 16))[:threshold]
        return Attestation(
            receipts_hash=rh,
            epoch=epoch,
            signers=tuple(s for s, _ in chosen),
            signatures=tuple(sig for _, sig in chosen),
        )

    def _ask(self, url: str, body: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
        try:
            response = httpx.post(url.rstrip("/") + "/v1/cosign", json=body, timeout=self.timeout)
        except httpx.HTTPError as exc:
            return None, f"unreachable ({type(exc).__name__})"
        try:
            answer = response.json()
        except ValueError:
            return None, f"HTTP {response.status_code} without JSON"
        if response.status_code == 200 and isinstance(answer, dict):
            return answer, None
        if response.status_code == 409 and isinstance(answer, dict) and "rejected" in answer:
            return answer, None
        reason = answer.get("reason") if isinstance(answer, dict) else None
        return None, f"HTTP {response.status_code}: {reason or answer}"
