"""The heartbeats Merkle root and the uptime rule: examples and properties (hypothesis)."""

from __future__ import annotations

import pytest
from eth_hash.auto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from gpusettle.leases.eip712 import heartbeat_struct_hash
from gpusettle.leases.merkle import ZERO_ROOT, merkle_proof, merkle_root, verify_proof
from gpusettle.leases.models import Heartbeat
from gpusettle.leases.uptime import build_checkpoint, uptime

PROVIDER = "0x00000000000000000000000000000000000000A1"
I = 30


def beat(ts: int, up: bool = True, lease: int = 1, seq: int | None = None) -> Heartbeat:
    return Heartbeat(
        leaseId=lease,
        provider=PROVIDER,
        timestamp=ts,
        sequence=ts // I if seq is None else seq,
        evidenceHash="0x" + "00" * 32,
        serviceUp=up,
    )


def _pair(a: bytes, b: bytes) -> bytes:
    return bytes(keccak(min(a, b) + max(a, b)))


def test_merkle_small_trees_by_hand() -> None:
    a, b, c = (bytes([i]) * 32 for i in (1, 2, 3))
    assert merkle_root([]) == ZERO_ROOT
    assert merkle_root([a]) == a
    assert merkle_root([a, b]) == merkle_root([b, a]) == _pair(a, b)
    assert merkle_root([a, b, c]) == _pair(_pair(a, b), c)
    with pytest.raises(ValueError, match="32 bytes"):
        merkle_root([b"short"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=40), st.data())
def test_merkle_every_leaf_proves_and_a_stranger_does_not(leaves: list[bytes], data: st.DataObject) -> None:
    root = merkle_root(leaves)
    index = data.draw(st.integers(0, len(leaves) - 1))
    assert verify_proof(merkle_proof(leaves, index), root, leaves[index])
    stranger = data.draw(st.binary(min_size=32, max_size=32).filter(lambda x: x not in leaves))
    assert not verify_proof(merkle_proof(leaves, index), root, stranger)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(min_size=32, max_size=32), min_size=2, max_size=20, unique=True))
def test_merkle_root_commits_to_every_leaf(leaves: list[bytes]) -> None:
    root = merkle_root(leaves)
    changed = list(leaves)
    changed[-1] = bytes(32) if changed[-1] != bytes(32) else b"\x01" * 32
    assert merkle_root(changed) != root


def test_uptime_examples() -> None:
    # Period [100, 220): buckets 3 [90,120) 4 [120,150) 5 [150,180) 6 [180,210) 7 [210,240).
    beats = [beat(95), beat(125), beat(155, up=False), beat(185), beat(215)]
    got = uptime(beats, failed_probes={6}, interval=I, start=100, end=220)
    # up: bucket 3 -> 20 s, bucket 4 -> 30 s, bucket 7 -> 10 s; bucket 5 serviceUp=false, bucket 6 probe failed.
    assert (got.up_seconds, got.down_seconds) == (60, 60)
    assert got.up_buckets == (3, 4, 7)
    assert [h.sequence for h in got.heartbeats] == [3, 4, 5, 6, 7]


def test_uptime_ignores_outside_duplicates_and_mislabelled() -> None:
    beats = [beat(10), beat(125), beat(126, up=False), beat(400), beat(130, seq=99)]
    got = uptime(beats, (), I, 120, 150)
    assert (got.up_seconds, got.down_seconds) == (30, 0)
    assert [h.timestamp for h in got.heartbeats] == [125]
    assert uptime([], (), I, 5, 5).up_seconds == 0
    with pytest.raises(ValueError):
        uptime([], (), 0, 0, 1)
    with pytest.raises(ValueError):
        uptime([], (), I, 10, 5)


def test_build_checkpoint_root_and_sums() -> None:
    beats = [beat(125), beat(155), beat(160, lease=2)]
    cp = build_checkpoint(1, beats, (), I, 120, 180)
    assert (cp.upSeconds, cp.downSeconds) == (60, 0)
    assert cp.heartbeatsRoot == "0x" + merkle_root([heartbeat_struct_hash(b) for b in beats[:2]]).hex()
    empty = build_checkpoint(3, beats, (), I, 120, 180)
    assert (empty.upSeconds, empty.downSeconds, empty.heartbeatsRoot) == (0, 60, "0x" + "00" * 32)


@settings(max_examples=200, deadline=None)
@given(
    start=st.integers(0, 10_000),
    length=st.integers(0, 3_000),
    interval=st.integers(1, 120),
    stamps=st.lists(st.tuples(st.integers(0, 14_000), st.booleans()), max_size=80),
    failed=st.sets(st.integers(0, 14_000)),
)
def test_uptime_sums_exactly_and_matches_a_second_by_second_count(
    start: int, length: int, interval: int, stamps: list[tuple[int, bool]], failed: set[int]
) -> None:
    end = start + length
    beats = [
        Heartbeat(
            leaseId=1,
            provider=PROVIDER,
            timestamp=t,
            sequence=t // interval,
            evidenceHash="0x" + "00" * 32,
            serviceUp=up,
        )
        for t, up in stamps
    ]
    got = uptime(beats, failed, interval, start, end)
    assert got.up_seconds + got.down_seconds == length
    assert 0 <= got.up_seconds <= length
    # An independent model: second by second, is its bucket's first heartbeat up and unprobed?
    first: dict[int, bool] = {}
    for t, up in sorted(stamps, key=lambda s: (s[0], not s[1])):
        first.setdefault(t // interval, up)
    model = sum(1 for s in range(start, end) if first.get(s // interval) and (s // interval) not in failed)
    assert got.up_seconds == model
