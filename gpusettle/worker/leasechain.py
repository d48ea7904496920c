"""What the worker needs to know and do on-chain about leases, as one small typed protocol.

The lease supervisor, the heartbeats and the availability controller talk to the chain only through a
`LeaseChainView`, so they are tested against a fake and bound to `LeaseEscrow` / `ProviderStaking`
(the lease interface of issue 11: `getLease`, `acceptLease`, `declineLease`, `reclaimLease`,
`pauseOffer`, `resumeOffer`, `runwayEnd`) by one adapter. Every method answers for the one provider
this worker serves.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

__all__ = [
    "AvailabilityClass",
    "LeaseChainView",
    "LeaseInfo",
    "LeaseStatus",
    "OfferState",
    "stop_reason",
]


class LeaseStatus(IntEnum):
    """ILeaseEscrow.LeaseStatus."""

    NONE = 0
    OPEN = 1
    RUNNING = 2
    ENDED = 3
    CANCELLED = 4
    DISPUTED = 5


class AvailabilityClass(IntEnum):
    """An offer's (and a lease's locked) availability class."""

    DEDICATED = 0
    RECLAIMABLE = 1
    INTERRUPTIBLE = 2


@dataclass(frozen=True)
class LeaseInfo:
    """One lease as `getLease` returns it (the fields the worker uses)."""

    lease_id: int
    status: LeaseStatus
    offer_id: int
    gpu_count: int
    spec_hash: str
    """0x + 64 hex digits: keccak256 of the workload spec's canonical JSON."""
    accept_by: int
    started_at: int
    end_time: int
    """0: open-ended."""
    billing_end: int
    """0 while running and not yet fixed by a close, a reclaim or the end time."""
    runway_end: int
    """When the deposit not yet covered by a checkpoint runs out."""
    availability_class: AvailabilityClass
    notice_seconds: int


@dataclass(frozen=True)
class OfferState:
    """One of the provider's offers, as the availability controller needs it."""

    offer_id: int
    gpu_count: int
    availability_class: AvailabilityClass
    notice_seconds: int
    paused: bool
    active: bool = True


class LeaseChainView(Protocol):
    """The chain as the lease side of the worker sees it (one provider)."""

    def now(self) -> int:
        """The chain's time (the latest block's timestamp)."""
        ...

    def leases(self) -> list[LeaseInfo]:
        """This provider's leases that are Open, Running or Disputed."""
        ...

    def lease(self, lease_id: int) -> LeaseInfo:
        """One lease, whatever its status."""
        ...

    def offers(self) -> list[OfferState]:
        """This provider's active offers."""
        ...

    def accept(self, lease_id: int) -> None:
        """acceptLease (GpusettleError when refused)."""
        ...

    def decline(self, lease_id: int) -> None:
        """declineLease."""
        ...

    def reclaim(self, lease_id: int) -> None:
        """reclaimLease: billing ends after the lease's notice."""
        ...

    def pause_offer(self, offer_id: int) -> None:
        """pauseOffer: no new job or lease on it."""
        ...

    def resume_offer(self, offer_id: int) -> None:
        """resumeOffer."""
        ...


def stop_reason(info: LeaseInfo, now: int) -> str | None:
    """Why the lease's service must stop now, or None while it is to run: the lease is no longer
    running on-chain, or the earliest of its billing end (close or reclaim), end time and runway end
    has come."""
    if info.status not in (LeaseStatus.RUNNING, LeaseStatus.DISPUTED):
        return f"the lease is {info.status.name.lower()} on-chain"
    ends = [(info.runway_end, "runway end: the deposit is used up")]
    if info.end_time:
        ends.append((info.end_time, "end time reached"))
    if info.billing_end:
        ends.append((info.billing_end, "billing ended (closed by the client, or reclaimed)"))
    at, why = min(ends)
    return f"{why} at {at}" if now >= at else None
