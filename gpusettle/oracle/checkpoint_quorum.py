"""M-of-N attestations over batches of lease checkpoints.

The posting oracle signs CheckpointAttestation(checkpointsHash, oracleEpoch) under the LeaseEscrow
domain and, when the threshold is above one, asks its peers (POST /v1/cosign/checkpoints, signed
like /v1/cosign) to check every checkpoint against their own heartbeats and chain view
(`checkpoints.cosign_refusal`) and sign too. Signatures are checked, kept only from current members
of the oracle set, and sorted ascending by signer as the escrow requires.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from ..eip712 import CompactSignature, Domain, recover, sign_digest
from ..leases.eip712 import checkpoint_attestation_digest, checkpoints_hash
from ..leases.models import Checkpoint
from ..signed_requests import peer_request_headers
from .quorum import Attestation, QuorumError

__all__ = ["CHECKPOINT_COSIGN_PATH", "CheckpointCosignRequest", "CheckpointQuorum"]

CHECKPOINT_COSIGN_PATH = "/v1/cosign/checkpoints"


class CheckpointCosignRequest(BaseModel):
    """The body of POST /v1/cosign/checkpoints."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    epoch: int = Field(strict=True, ge=0)
    """The oracle-set epoch the attestation is for."""
    checkpoints: list[Checkpoint] = Field(min_length=1, max_length=1000)
    """The batch in submission order."""


@dataclass
class CheckpointQuorum:
    """Signs checkpoint batches with this oracle's key and gathers its peers' co-signatures."""

    lease_domain: Domain
    """The LeaseEscrow's domain: what attestations are signed under."""
    peer_domain: Domain
    """The domain peer requests are authenticated under (the JobEscrow's, as /v1/cosign)."""
    key: bytes = field(repr=False)
    address: str
    peers: list[str] = field(default_factory=list)
    timeout: float = 30.0
    transport: httpx.BaseTransport | None = None

    def sign(self, checkpoints: Sequence[Checkpoint], epoch: int) -> CompactSignature:
        """This oracle's signature over the batch."""
        return sign_digest(
            checkpoint_attestation_digest(checkpoints_hash(checkpoints), epoch, self.lease_domain), self.key
        )

    def attest(
        self, checkpoints: Sequence[Checkpoint], epoch: int, oracles: Sequence[str], threshold: int
    ) -> Attestation:
        """M signatures over `checkpoints`, or QuorumError (`rejected` keyed by lease id)."""
        batch_hash = checkpoints_hash(checkpoints)
        digest = checkpoint_attestation_digest(batch_hash, epoch, self.lease_domain)
        members = {o.lower() for o in oracles}
        collected: dict[str, CompactSignature] = {}
        if self.address.lower() in members:
            collected[self.address] = sign_digest(digest, self.key)
        rejected: dict[int, list[str]] = {}
        errors: list[str] = []
        if len(collected) < threshold and self.peers:
            body = (
                CheckpointCosignRequest(epoch=epoch, checkpoints=list(checkpoints)).model_dump_json().encode()
            )
            with concurrent.futures.ThreadPoolExecutor(max_workers=len(self.peers)) as pool:
                answers = list(pool.map(lambda url: self._ask(url, body), self.peers))
            for url, (answer, error) in zip(self.peers, answers, strict=True):
                if error is not None or answer is None:
                    errors.append(f"{url}: {error}")
                    continue
                if "rejected" in answer:
                    for lease, reason in dict(answer["rejected"]).items():
                        rejected.setdefault(int(lease), []).append(f"{url}: {reason}")
                    continue
                try:
                    sig = CompactSignature.from_hex(str(answer["r"]), str(answer["vs"]))
                    signer = recover(digest, sig)
                except Exception as exc:  # noqa: BLE001 - any unusable answer is that peer's failure
                    errors.append(f"{url}: unusable signature ({exc})")
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
            receipts_hash=batch_hash,
            epoch=epoch,
            signers=tuple(s for s, _ in chosen),
            signatures=tuple(sig for _, sig in chosen),
        )

    def _ask(self, url: str, body: bytes) -> tuple[dict[str, Any] | None, str | None]:
        headers = peer_request_headers(
            self.peer_domain, self.key, self.address, "POST", CHECKPOINT_COSIGN_PATH, int(time.time()), body
        )
        headers["content-type"] = "application/json"
        try:
            with httpx.Client(timeout=self.timeout, transport=self.transport) as client:
                response = client.post(
                    url.rstrip("/") + CHECKPOINT_COSIGN_PATH, content=body, headers=headers
                )
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
