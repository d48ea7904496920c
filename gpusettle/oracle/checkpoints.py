"""Building lease checkpoints, and the rule a peer oracle applies before it co-signs one.

On a schedule, and once billing has ended, the builder makes the next contiguous checkpoint of each
running lease: `[paidThrough, to)` where `to` is the billing end once it has passed, else the chain's
time less a settling lag (heartbeats of the last bucket may still be on their way), and only when at
least `every` seconds are due (a final checkpoint is built whatever its length). Up and down seconds
and the heartbeats root come from the uptime rule over this oracle's store. One checkpoint per lease
is in flight at a time: the next starts where the chain says the last one ended.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from ..leases.models import Checkpoint, LeaseStatus, LeaseTerms
from .heartbeats import lease_uptime
from .metrics import OracleMetrics
from .store import CHECKPOINT_BUILT, CHECKPOINT_POSTED, CHECKPOINT_SETTLED, Store

__all__ = ["CheckpointBuilder", "CheckpointSettings", "cosign_refusal"]

log = logging.getLogger("gpusettle.oracle.checkpoints")


@dataclass(frozen=True)
class CheckpointSettings:
    """When checkpoints are built and what peers accept."""

    every: int = 3600
    """Seconds of billing a regular checkpoint covers at least."""
    settle_lag: int = 45
    """Seconds a period's end stays behind the chain's clock (and behind the billing end for a final
    checkpoint), so late heartbeats of its last bucket still count."""
    up_tolerance: int = 0
    """Peers co-sign a checkpoint claiming at most this many up seconds more than they saw themselves."""


def next_period(
    lease: LeaseTerms, chain_now: int, settings: CheckpointSettings
) -> tuple[int, int, bool] | None:
    """(from, to, final) of the lease's next checkpoint if one is due now, else None."""
    start = lease.paidThrough or lease.startedAt
    end = lease.billing_end()
    horizon = chain_now - settings.settle_lag
    if end and end <= horizon:
        return (start, end, True) if end > start else None
    to = min(horizon, end) if end else horizon
    if to - start >= max(settings.every, 1):
        return start, to, False
    return None


class CheckpointBuilder:
    """Builds checkpoints into the store; call `step(leases, chain_now)` in a loop (one thread)."""

    def __init__(
        self,
        store: Store,
        interval: int,
        settings: CheckpointSettings | None = None,
        metrics: OracleMetrics | None = None,
    ) -> None:
        self.store = store
        self.interval = interval
        self.settings = settings or CheckpointSettings()
        self.metrics = metrics or OracleMetrics()

    def build(self, lease: LeaseTerms, start: int, end: int, final: bool) -> Checkpoint:
        """The checkpoint of `[start, end)` from the store's heartbeats and probes (stored, built)."""
        report = lease_uptime(self.store, lease.leaseId, self.interval, start, end)
        root = report.root()
        checkpoint = Checkpoint(
            leaseId=lease.leaseId,
            fromTime=start,
            toTime=end,
            upSeconds=report.up_seconds,
            downSeconds=report.down_seconds,
            heartbeatsRoot="0x" + root.hex(),
        )
        if self.store.add_checkpoint(
            lease.leaseId, start, end, report.up_seconds, report.down_seconds, root, final
        ):
            self.metrics.checkpoints.labels("built").inc()
            log.info(
                "lease %d: checkpoint [%d, %d) up %d down %d%s",
                lease.leaseId,
                start,
                end,
                report.up_seconds,
                report.down_seconds,
                " (final)" if final else "",
            )
        return checkpoint

    def step(self, leases: Sequence[LeaseTerms], chain_now: int) -> int:
        """Build what is due for each running lease; returns how many checkpoints were built."""
        built = 0
        for lease in leases:
            if lease.status != LeaseStatus.RUNNING:
                continue
            period = next_period(lease, chain_now, self.settings)
            if period is None:
                continue
            start, end, final = period
            waiting = [
                c
                for c in self.store.lease_checkpoints(lease.leaseId)
                if c.status in (CHECKPOINT_BUILT, CHECKPOINT_POSTED)
                or (c.status == CHECKPOINT_SETTLED and c.from_time >= start)
            ]
            if waiting:
                continue  # one in flight, or settled and the chain view not yet past it
            self.build(lease, start, end, final)
            built += 1
        return built


def cosign_refusal(
    checkpoint: Checkpoint,
    lease: LeaseTerms | None,
    chain_now: int,
    own_up_seconds: int,
    settings: CheckpointSettings,
) -> str | None:
    """Why this oracle will not co-sign `checkpoint`, or None. `own_up_seconds` is what its own store
    says of the same period: it never signs more up time than it saw (plus the tolerance)."""
    if lease is None:
        return f"lease {checkpoint.leaseId} does not exist"
    if lease.status != LeaseStatus.RUNNING:
        return f"lease {checkpoint.leaseId} is {lease.status.name.lower()}, not running"
    start = lease.paidThrough or lease.startedAt
    if checkpoint.fromTime != start:
        return f"the period starts at {checkpoint.fromTime}, the lease is paid through {start}"
    if checkpoint.toTime > chain_now:
        return f"the period ends at {checkpoint.toTime}, after the chain's time {chain_now}"
    end = lease.billing_end()
    if end and checkpoint.toTime > end:
        return f"the period ends at {checkpoint.toTime}, after the billing end {end}"
    if checkpoint.upSeconds > own_up_seconds + settings.up_tolerance:
        return f"it claims {checkpoint.upSeconds} s up; this oracle saw {own_up_seconds} s"
    return None
