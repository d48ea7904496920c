"""A stand-in for the lease side of the chain (`LeaseChainView`): leases and offers in memory, a clock
the test moves, and every call the worker made, so its decisions can be checked without anvil."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from gpusettle.errors import GpusettleError
from gpusettle.worker.leasechain import AvailabilityClass, LeaseInfo, LeaseStatus, OfferState


@dataclass
class FakeLeaseChain:
    """In-memory leases and offers of one provider."""

    t: int = field(default_factory=lambda: int(time.time()))
    leases_by_id: dict[int, LeaseInfo] = field(default_factory=dict)
    offers_by_id: dict[int, OfferState] = field(default_factory=dict)
    calls: list[tuple[str, int]] = field(default_factory=list)
    refuse_accept: bool = False

    def open(
        self,
        lease_id: int,
        gpu_count: int,
        spec_hash: str,
        *,
        offer_id: int = 1,
        deposit_seconds: int = 3600,
        end_time: int = 0,
        klass: AvailabilityClass = AvailabilityClass.RECLAIMABLE,
        notice: int = 30,
    ) -> LeaseInfo:
        info = LeaseInfo(
            lease_id=lease_id,
            status=LeaseStatus.OPEN,
            offer_id=offer_id,
            gpu_count=gpu_count,
            spec_hash=spec_hash,
            accept_by=self.t + 600,
            started_at=0,
            end_time=end_time,
            billing_end=0,
            runway_end=self.t + deposit_seconds,
            availability_class=klass,
            notice_seconds=notice if klass == AvailabilityClass.RECLAIMABLE else 0,
        )
        self.leases_by_id[lease_id] = info
        return info

    def set(self, lease_id: int, **changes: object) -> None:
        self.leases_by_id[lease_id] = replace(self.leases_by_id[lease_id], **changes)  # type: ignore[arg-type]

    def close(self, lease_id: int) -> None:
        self.set(lease_id, billing_end=self.t)

    # -- LeaseChainView ---------------------------------------------------------------------------

    def now(self) -> int:
        return self.t

    def leases(self) -> list[LeaseInfo]:
        live = (LeaseStatus.OPEN, LeaseStatus.RUNNING, LeaseStatus.DISPUTED)
        return [i for i in self.leases_by_id.values() if i.status in live]

    def lease(self, lease_id: int) -> LeaseInfo:
        return self.leases_by_id[lease_id]

    def offers(self) -> list[OfferState]:
        return list(self.offers_by_id.values())

    def accept(self, lease_id: int) -> None:
        self.calls.append(("accept", lease_id))
        if self.refuse_accept:
            raise GpusettleError("LeaseEscrowCapacityExceeded", "none")
        self.set(lease_id, status=LeaseStatus.RUNNING, started_at=self.t)

    def decline(self, lease_id: int) -> None:
        self.calls.append(("decline", lease_id))
        self.set(lease_id, status=LeaseStatus.CANCELLED)

    def reclaim(self, lease_id: int) -> None:
        self.calls.append(("reclaim", lease_id))
        info = self.leases_by_id[lease_id]
        if info.availability_class == AvailabilityClass.DEDICATED:
            raise GpusettleError("LeaseEscrowNotReclaimable", "dedicated")
        self.set(lease_id, billing_end=self.t + info.notice_seconds)

    def pause_offer(self, offer_id: int) -> None:
        self.calls.append(("pause", offer_id))
        self.offers_by_id[offer_id] = replace(self.offers_by_id[offer_id], paused=True)

    def resume_offer(self, offer_id: int) -> None:
        self.calls.append(("resume", offer_id))
        self.offers_by_id[offer_id] = replace(self.offers_by_id[offer_id], paused=False)
