"""M-of-N attestations over batches of lease checkpoints.

The posting oracle signs CheckpointAttestation(checkpointsHash, oracleEpoch) under the LeaseEscrow
domain and, when the threshold is above one, asks its peers (POST /v1/cosign/checkpoints, signed
like /v1/cosign) to check every checkpoint against their own heartbeats and chain view
(`checkpoints.cosign_refusal`) and sign too. Signatures are checked, kept only from current members
of the oracle set, and sorted ascending by signer as the escrow requires.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx
from pydantic import BaseModel, ConfigDict, Field

from ..eip712 import CompactSignature, Domain, sign_digest
from ..leases.eip712 import checkpoint_attestation_digest, checkpoints_hash
from ..leases.models import Checkpoint
from .quorum import Attestation, ask_peer, gather_signatures

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
        body = CheckpointCosignRequest(epoch=epoch, checkpoints=list(checkpoints)).model_dump_json().encode()
        chosen = gather_signatures(
            digest=checkpoint_attestation_digest(batch_hash, epoch, self.lease_domain),
            epoch=epoch,
            oracles=oracles,
            threshold=threshold,
            own=(self.address, self.key),
            peers=self.peers,
            ask=lambda url: ask_peer(
                url,
                CHECKPOINT_COSIGN_PATH,
                body,
                self.peer_domain,
                self.key,
                self.address,
                self.timeout,
                self.transport,
            ),
        )
        return Attestation(
            receipts_hash=batch_hash,
            epoch=epoch,
            signers=tuple(s for s, _ in chosen),
            signatures=tuple(sig for _, sig in chosen),
        )
