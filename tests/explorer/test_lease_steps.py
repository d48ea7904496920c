"""The lease page's timeline speaks every lease event the index keeps (no chain: the events' ABI)."""

from __future__ import annotations

from typing import Any

import pytest

from gpusettle.chain.abi import load_artifact
from gpusettle.explorer.lease_pages import _span, _step
from gpusettle.index.apply_leases import LEASE_HANDLERS


def _sample(kind: str) -> Any:
    if kind == "bool":
        return True
    if kind in ("address", "bytes32"):
        return "0x" + "ab" * (20 if kind == "address" else 32)
    return 1_000_000_000_000_000_000  # one token in base units; also a valid unix time


LEASE_EVENTS = {
    e["name"]: {i["name"]: _sample(i["type"]) for i in e["inputs"]}
    for e in load_artifact("LeaseEscrow").abi
    if e["type"] == "event" and ("leases", e["name"]) in LEASE_HANDLERS
    if any(i["name"] == "leaseId" for i in e["inputs"])
}


def test_the_index_keeps_the_lease_life_events() -> None:
    assert {
        "LeaseOpened",
        "CheckpointSettled",
        "LeaseReclaimed",
        "LeaseExpired",
        "CheckpointDisputed",
    } <= set(LEASE_EVENTS)


@pytest.mark.parametrize("name", sorted(LEASE_EVENTS))
def test_every_lease_event_has_a_timeline_step_in_words(name: str) -> None:
    heading, line = _step(name, LEASE_EVENTS[name], 18, "GPUC")
    assert heading != name and line, f"{name} has no step on the lease page; add it to _step"
    assert "None" not in heading + line, (heading, line)


def test_durations_read_as_a_person_says_them() -> None:
    assert [_span(s) for s in (0, 45, 60, 725, 3600, 12_000, 2 * 86_400 + 4 * 3600, -5)] == [
        "0 s",
        "45 s",
        "1 min 00 s",
        "12 min 05 s",
        "1 h 00 min",
        "3 h 20 min",
        "2 d 4 h",
        "0 s",
    ]


def test_a_time_past_the_calendar_is_shown_not_a_500() -> None:
    """A client may open a lease with any uint64 end time (or a job with any deadline): the page shows the
    number instead of failing on it."""
    from gpusettle.explorer.pages import _when

    assert _when(2**64 - 1) == f"unix time {2**64 - 1}"
    assert _when(1_700_000_000) == "2023-11-14 22:13 UTC"
