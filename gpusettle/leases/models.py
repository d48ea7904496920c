"""The lease data gpusettle signs, sends and checks, validated at the edges.

On-chain structures (`Heartbeat`'s signed fields, `Checkpoint`) keep the Solidity field names, so their
JSON reads like the contract's ABI and EIP-712 types. Every model forbids unknown fields.
"""

from __future__ import annotations

import json
from enum import IntEnum
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..hashing import keccak256
from ..models import Address, Bytes32Hex, Uint8, Uint32, Uint64, Uint256

__all__ = [
    "DEFAULT_HEARTBEAT_INTERVAL",
    "MAX_EVIDENCE_GPUS",
    "MAX_HEARTBEAT_BATCH",
    "MAX_WORKER_URL",
    "AvailabilityClass",
    "Checkpoint",
    "GpuEvidence",
    "Heartbeat",
    "HeartbeatBatch",
    "HeartbeatEvidence",
    "HeartbeatSubmission",
    "LeaseStatus",
    "LeaseTerms",
    "ProbeAnswer",
    "ProbeRequest",
    "WorkerEndpoint",
    "WorkerEndpointSubmission",
    "evidence_hash",
]

DEFAULT_HEARTBEAT_INTERVAL = 30
"""Seconds per heartbeat bucket: `sequence = timestamp // interval`."""
MAX_EVIDENCE_GPUS = 64
MAX_HEARTBEAT_BATCH = 32
"""Most heartbeats in one POST /v1/heartbeats/batch (a worker's leases of one bucket, for one oracle)."""

Uint16 = Annotated[int, Field(strict=True, ge=0, le=2**16 - 1)]


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"))
"""One encoder for every canonical form (json.dumps with options builds a new one per call: the oracle hashes
the evidence of every heartbeat it takes)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class LeaseStatus(IntEnum):
    """ILeaseEscrow.LeaseStatus."""

    NONE = 0
    """No such lease."""
    OPEN = 1
    """Opened by the client, not yet accepted."""
    RUNNING = 2
    """Accepted: billing runs from startedAt."""
    ENDED = 3
    """The final checkpoint landed or the expiry was claimed."""
    CANCELLED = 4
    """Cancelled, declined or expired before acceptance."""
    DISPUTED = 5
    """A checkpoint is under dispute."""


class AvailabilityClass(IntEnum):
    """How an offer's GPUs may be taken back by their owner."""

    DEDICATED = 0
    """Never taken back while the lease runs."""
    RECLAIMABLE = 1
    """Taken back with the offer's notice in seconds."""
    INTERRUPTIBLE = 2
    """Taken back at once (notice 0)."""


class GpuEvidence(_Model):
    """One GPU as the worker saw it when it signed a heartbeat."""

    uuid: str = Field(min_length=1, max_length=96)
    """The GPU's UUID (NVML), or the development slot's name."""
    util: int = Field(strict=True, ge=0, le=100)
    """Utilisation in percent."""
    memUsedMb: int = Field(strict=True, ge=0, le=2**32 - 1)
    """Memory in use, MiB."""


class HeartbeatEvidence(_Model):
    """What the worker observed behind one heartbeat; its canonical JSON hashes to `evidenceHash`."""

    gpus: list[GpuEvidence] = Field(max_length=MAX_EVIDENCE_GPUS)
    """The lease's GPUs."""
    pid: int | None = Field(strict=True, ge=0, le=2**31 - 1)
    """Process id of the lease's workload (null while it is not running). Required, so the canonical
    JSON of the evidence as sent and as validated are the same bytes."""
    alive: bool = Field(strict=True)
    """Whether the workload process was alive."""

    def canonical_json(self) -> bytes:
        """Sorted keys, no spaces: the bytes `evidenceHash` is the keccak256 of."""
        return _CANONICAL.encode(self.model_dump(mode="json")).encode()


def evidence_hash(evidence: HeartbeatEvidence | dict[str, Any]) -> str:
    """keccak256 of the evidence's canonical JSON, as 0x-hex (a dict is validated first)."""
    model = (
        evidence if isinstance(evidence, HeartbeatEvidence) else HeartbeatEvidence.model_validate(evidence)
    )
    return "0x" + keccak256(model.canonical_json()).hex()


class Heartbeat(_Model):
    """LeaseHeartbeat exactly as the worker key signs it under EIP-712 (off-chain only)."""

    leaseId: Uint256 = Field(description="LeaseEscrow lease id.")
    """LeaseEscrow lease id (ids start at 1)."""
    provider: Address = Field(description="The provider's staking wallet.")
    """The provider's staking wallet that owns the lease (not the worker key)."""
    timestamp: Uint64 = Field(description="Unix seconds when the worker observed the lease.")
    """Unix seconds when the worker observed the lease."""
    sequence: Uint64 = Field(description="timestamp // heartbeat interval.")
    """The bucket the heartbeat counts for: `timestamp // interval`; at most one per (lease, sequence)."""
    evidenceHash: Bytes32Hex = Field(description="keccak256 of the evidence's canonical JSON.")
    """keccak256 of the GPU evidence's canonical JSON (sorted keys, no spaces)."""
    serviceUp: bool = Field(strict=True, description="Whether the lease's service was up.")
    """Whether the lease's workload was up and serving: only then does the bucket count as up."""

    def bucket_matches(self, interval: int) -> bool:
        """Whether `sequence` is the bucket `timestamp` falls in for `interval`."""
        return self.sequence == self.timestamp // interval


class HeartbeatSubmission(_Model):
    """The body of POST /v1/heartbeats: the LeaseHeartbeat fields, the evidence and the signature."""

    leaseId: Uint256
    """LeaseEscrow lease id."""
    provider: Address
    """The provider's staking wallet."""
    timestamp: Uint64
    """Unix seconds of the observation."""
    sequence: Uint64
    """timestamp // heartbeat interval."""
    evidenceHash: Bytes32Hex
    """keccak256 of `evidence`'s canonical JSON."""
    serviceUp: bool = Field(strict=True)
    """Whether the workload was up."""
    evidence: HeartbeatEvidence
    """The observation itself (checked against evidenceHash)."""
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$")
    """The worker key's signature of the heartbeat digest: 65 bytes r || s || v as 0x-hex."""

    def heartbeat(self) -> Heartbeat:
        """The signed part (its fields were validated with this submission)."""
        return Heartbeat.model_construct(
            leaseId=self.leaseId,
            provider=self.provider,
            timestamp=self.timestamp,
            sequence=self.sequence,
            evidenceHash=self.evidenceHash,
            serviceUp=self.serviceUp,
        )


class HeartbeatBatch(_Model):
    """The body of POST /v1/heartbeats/batch: several heartbeats (a worker's leases of one bucket) in one
    request; each is checked and answered on its own."""

    heartbeats: list[HeartbeatSubmission] = Field(min_length=1, max_length=MAX_HEARTBEAT_BATCH)
    """One to MAX_HEARTBEAT_BATCH heartbeats, each as POST /v1/heartbeats takes it."""


MAX_WORKER_URL = 256
"""Longest worker URL an oracle takes from an announcement."""


class WorkerEndpoint(_Model):
    """WorkerEndpoint exactly as the worker key signs it under EIP-712 (off-chain only): where the
    oracles reach the provider's worker to probe its leases and challenge its hardware."""

    provider: Address
    """The provider's staking wallet (the worker key must be its current one)."""
    url: str = Field(min_length=1, max_length=MAX_WORKER_URL)
    """The worker's probe server as the oracles reach it, e.g. https://gpu-box.example.org:8800."""
    issuedAt: Uint64
    """Unix seconds when the worker signed it; a later announcement replaces an earlier one."""


class WorkerEndpointSubmission(WorkerEndpoint):
    """The body of POST /v1/workers/endpoint: the WorkerEndpoint fields and the worker key's signature."""

    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$")
    """The worker key's signature of the WorkerEndpoint digest: 65 bytes r || s || v as 0x-hex."""

    def endpoint(self) -> WorkerEndpoint:
        """The signed part."""
        return WorkerEndpoint(provider=self.provider, url=self.url, issuedAt=self.issuedAt)


class Checkpoint(_Model):
    """ILeaseEscrow.Checkpoint: one settled period `[fromTime, toTime)` of a lease."""

    leaseId: Uint256 = Field(description="LeaseEscrow lease id.")
    """LeaseEscrow lease id."""
    fromTime: Uint64 = Field(description="Start of the period: the lease's paidThrough.")
    """Start of the period (unix seconds); must equal the lease's paidThrough (startedAt at first)."""
    toTime: Uint64 = Field(description="End of the period, exclusive.")
    """End of the period (exclusive); at most the billing end and the block time."""
    upSeconds: Uint64 = Field(description="Seconds of the period the lease was up.")
    """Seconds of the period the lease was up: paid `up x rate` to the provider (less the fee)."""
    downSeconds: Uint64 = Field(description="Seconds of the period the lease was down.")
    """Seconds of the period the lease was down: refunded to the client at the end."""
    heartbeatsRoot: Bytes32Hex = Field(description="Merkle root of the heartbeats the period counts.")
    """Sorted-pair keccak Merkle root of the heartbeats' struct hashes in sequence order; zero when none."""

    @model_validator(mode="after")
    def _period_adds_up(self) -> Self:
        if self.toTime <= self.fromTime:
            raise ValueError(f"toTime {self.toTime} must be after fromTime {self.fromTime}")
        if self.upSeconds + self.downSeconds != self.toTime - self.fromTime:
            raise ValueError(
                f"up {self.upSeconds} + down {self.downSeconds} must equal the period's "
                f"{self.toTime - self.fromTime} seconds"
            )
        return self

    def as_tuple(self) -> tuple[int, int, int, int, int, bytes]:
        """The ABI tuple ILeaseEscrow.Checkpoint."""
        return (
            self.leaseId,
            self.fromTime,
            self.toTime,
            self.upSeconds,
            self.downSeconds,
            bytes.fromhex(self.heartbeatsRoot[2:]),
        )


class LeaseTerms(_Model):
    """A lease as LeaseEscrow.getLease reports it: what the oracle checks heartbeats and builds
    checkpoints against."""

    leaseId: Uint256
    """LeaseEscrow lease id."""
    status: LeaseStatus
    """Where the lease is in its life."""
    client: Address
    """Who opened and pays for the lease."""
    provider: Address
    """The provider's staking wallet."""
    offerId: Uint256
    """The offer leased."""
    gpuCount: Uint8
    """GPUs reserved on the offer."""
    ratePerSecond: Uint256
    """gpuCount x price per GPU-second, in token base units."""
    deposit: Uint256
    """Prepaid deposit (with top-ups)."""
    paidThrough: Uint64
    """End of the last settled checkpoint (startedAt before the first)."""
    startedAt: Uint64
    """When the provider accepted: billing starts here."""
    endTime: Uint64 = 0
    """The client's end time; 0 = open-ended."""
    billingEnd: Uint64 = 0
    """When billing ended or will end, once fixed by close, reclaim or end time; 0 while not fixed."""
    runwayEnd: Uint64 = 0
    """When the deposit not yet covered by a checkpoint runs out at the lease's rate."""
    availabilityClass: AvailabilityClass = AvailabilityClass.DEDICATED
    """Dedicated, reclaimable or interruptible, fixed at opening."""
    noticeSeconds: Uint32 = 0
    """The reclaim notice locked at opening."""
    uptimeGuaranteeBps: Uint16 = 0
    """Guaranteed uptime in basis points; less costs the provider a penalty from the collateral."""

    def billing_end(self) -> int:
        """Where billing stops as known now: the fixed billing end, else the earlier of the end time and
        the runway end (0 for either means not set)."""
        candidates = [t for t in (self.billingEnd, self.endTime, self.runwayEnd) if t]
        return min(candidates) if candidates else 0


class ProbeRequest(_Model):
    """The body of the worker's POST /v1/probe: compute a seeded matmul on the lease's GPUs."""

    leaseId: Uint256
    """The lease whose GPUs compute the product."""
    seed: Uint64
    """Seed of A and B (gpusettle.workloads.matmul.generate_inputs, float32)."""
    n: int = Field(strict=True, ge=1, le=1024)
    """Matrix size: A, B and C are n x n."""


class ProbeAnswer(_Model):
    """The worker's answer to a probe: the product and its checksum. The oracle checks the checksum
    against the product and the product against A and B with Freivalds, without a matmul of its own."""

    leaseId: Uint256
    """The lease probed."""
    seed: Uint64
    """The seed asked for."""
    n: int = Field(strict=True, ge=1, le=1024)
    """The size asked for."""
    checksum: Bytes32Hex
    """keccak256 of `result`'s bytes (the .npy payload of C, float32)."""
    result: str = Field(max_length=8 * 1024 * 1024)
    """C = A x B as .npy bytes (gpusettle.workloads.matmul.encode_result), base64."""
