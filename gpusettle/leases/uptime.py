"""The uptime rule of a lease period, pure: heartbeats and failed probes in, up and down seconds out.

Time is cut into buckets `[k x interval, (k+1) x interval)`; a heartbeat's sequence names its bucket.
A bucket is *up* when it holds a heartbeat with serviceUp and no failed probe; everything else is
down. For a period `[start, end)` the up seconds are the lengths of the up buckets' overlaps with the
period, and down is the rest, so `up + down == end - start` exactly (integers, no rounding).

The heartbeats a period *counts* (the leaves of its heartbeatsRoot) are those whose bucket overlaps
the period, one per sequence, in sequence order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .eip712 import heartbeat_struct_hash
from .merkle import merkle_root
from .models import Checkpoint, Heartbeat

__all__ = ["Uptime", "build_checkpoint", "uptime"]


@dataclass(frozen=True)
class Uptime:
    """Up and down seconds of one period and the heartbeats behind them."""

    start: int
    end: int
    up_seconds: int
    down_seconds: int
    heartbeats: tuple[Heartbeat, ...]
    """The heartbeats the period counts, one per sequence, in sequence order."""
    up_buckets: tuple[int, ...]
    """Sequences of the buckets counted up."""

    def root(self) -> bytes:
        """The heartbeatsRoot: the Merkle root of the counted heartbeats' struct hashes."""
        return merkle_root([heartbeat_struct_hash(h) for h in self.heartbeats])


def _overlap(sequence: int, interval: int, start: int, end: int) -> int:
    lo = max(sequence * interval, start)
    hi = min((sequence + 1) * interval, end)
    return max(0, hi - lo)


def uptime(
    heartbeats: Iterable[Heartbeat],
    failed_probes: Iterable[int],
    interval: int,
    start: int,
    end: int,
) -> Uptime:
    """Up and down seconds of `[start, end)`. `failed_probes` are the sequences of buckets in which a
    probe went unanswered or was answered wrongly. A heartbeat whose sequence is not its timestamp's
    bucket is ignored (intake refuses such heartbeats); of two with one sequence the earlier counts."""
    if interval <= 0:
        raise ValueError(f"the heartbeat interval must be positive, got {interval}")
    if end < start:
        raise ValueError(f"the period ends ({end}) before it starts ({start})")
    failed = set(failed_probes)
    chosen: dict[int, Heartbeat] = {}
    for beat in sorted(heartbeats, key=lambda h: (h.sequence, h.timestamp, not h.serviceUp)):
        if not beat.bucket_matches(interval) or beat.sequence in chosen:
            continue
        if _overlap(beat.sequence, interval, start, end) == 0:
            continue
        chosen[beat.sequence] = beat
    up_buckets = tuple(s for s, beat in sorted(chosen.items()) if beat.serviceUp and s not in failed)
    up = sum(_overlap(s, interval, start, end) for s in up_buckets)
    return Uptime(
        start=start,
        end=end,
        up_seconds=up,
        down_seconds=(end - start) - up,
        heartbeats=tuple(chosen[s] for s in sorted(chosen)),
        up_buckets=up_buckets,
    )


def build_checkpoint(
    lease_id: int,
    heartbeats: Iterable[Heartbeat],
    failed_probes: Iterable[int],
    interval: int,
    start: int,
    end: int,
) -> Checkpoint:
    """The checkpoint of `[start, end)` (end > start) for `lease_id` under the uptime rule."""
    result = uptime((h for h in heartbeats if h.leaseId == lease_id), failed_probes, interval, start, end)
    return Checkpoint(
        leaseId=lease_id,
        fromTime=start,
        toTime=end,
        upSeconds=result.up_seconds,
        downSeconds=result.down_seconds,
        heartbeatsRoot="0x" + result.root().hex(),
    )
