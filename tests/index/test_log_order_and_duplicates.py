"""Attack review of 2026-12-03 (failing at 499f7f0, passing from the commit that adds this file): the follower applies eth_getLogs entries exactly as the RPC returns them. It neither sorts them by
(blockNumber, logIndex) nor drops repeats, though load-balanced or buggy RPCs do both:
- a log answered twice is applied twice in memory, then the events insert hits its primary key: the chunk fails
  with IntegrityError on every retry and the index stops for good;
- logs answered out of order are applied out of order (a settlement before its job exists is dropped), and the
  index disagrees with the chain for good.
The safe behaviour is an index equal to a fresh index of the same chain. No node: an in-memory chain."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from gpusettle.index.db import Database
from gpusettle.index.follower import Follower

from .memchain import ADDRESSES, MemChain, job_accepted, job_created, job_settled, offer_added, staked

T = 1_800_000_000
TABLES = ("providers", "offers", "jobs", "settlements", "totals", "events")


@pytest.fixture(autouse=True)
def isolation() -> None:
    """No chain: an in-memory log source."""


def dump(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    return {t: sorted(db.query(f"SELECT * FROM {t}"), key=repr) for t in TABLES}


def market(chain: MemChain) -> MemChain:
    chain.add(T, staked(), offer_added())
    chain.add(T + 12, job_created(1), job_accepted(1))
    chain.add(T + 24, job_settled(1), job_created(2))
    return chain


class Duplicating(MemChain):
    def logs(self, addresses: Sequence[str], topics: Sequence[Any] | None, start: int, end: int) -> list[dict[str, Any]]:
        out = super().logs(addresses, topics, start, end)
        return out + out[-1:]  # the last log answered twice


class Reversed(MemChain):
    def logs(self, addresses: Sequence[str], topics: Sequence[Any] | None, start: int, end: int) -> list[dict[str, Any]]:
        return list(reversed(super().logs(addresses, topics, start, end)))


def _fresh(tmp_path: Path) -> dict[str, list[tuple[Any, ...]]]:
    f = Follower(Database(tmp_path / "fresh.db"), market(MemChain(stamps=True)), ADDRESSES, 1, confirmations=0)
    f.step()
    return dump(f.db)


def test_a_log_the_rpc_answers_twice_is_applied_once(tmp_path: Path) -> None:
    f = Follower(Database(tmp_path / "dup.db"), market(Duplicating(stamps=True)), ADDRESSES, 1, confirmations=0)
    f.step()  # IntegrityError today: UNIQUE constraint failed: events.block_number, events.log_index
    assert dump(f.db) == _fresh(tmp_path)


def test_logs_the_rpc_answers_out_of_order_are_applied_in_chain_order(tmp_path: Path) -> None:
    f = Follower(Database(tmp_path / "rev.db"), market(Reversed(stamps=True)), ADDRESSES, 1, confirmations=0)
    f.step()
    got, want = dump(f.db), _fresh(tmp_path)
    assert got["jobs"] == want["jobs"], "job 1 is not Settled: its JobSettled was applied before its JobCreated"
    assert got == want
