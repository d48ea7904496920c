"""Attack review of 2026-12-03 (failing at 499f7f0, passing from the commit that adds this file): the follower caches block times by block *number* (`Follower._times`) and never forgets them on a
rewind. On a node whose logs carry no `blockTimestamp` (most hosted RPCs), events of a block that replaced another
at the same height after a reorg get the old block's time: jobs' created/ended times, settlements' times (earnings
per day), providers' first_time differ from a fresh index of the same chain. No node: an in-memory chain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gpusettle.index.db import Database
from gpusettle.index.follower import Follower

from .memchain import ADDRESSES, MemChain, job_accepted, job_created, job_settled, offer_added, staked

T = 1_800_000_000
DAY = 86_400
TABLES = ("providers", "offers", "jobs", "settlements", "settlement_txs", "events")


@pytest.fixture(autouse=True)
def isolation() -> None:
    """No chain: an in-memory log source."""


def dump(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    return {t: sorted(db.query(f"SELECT * FROM {t}"), key=repr) for t in TABLES}


def test_a_reorg_that_changes_block_times_leaves_the_index_as_a_fresh_one(tmp_path: Path) -> None:
    chain = MemChain(stamps=False)
    chain.add(T, staked())
    chain.add(T + 12, offer_added())
    chain.add(T + 24)
    chain.add(T + 36)
    # The old branch: the job opens, runs and settles on day 0.
    chain.add(T + 48, job_created(1))
    chain.add(T + 60, job_accepted(1))
    chain.add(T + 72, job_settled(1))

    f = Follower(Database(tmp_path / "followed.db"), chain, ADDRESSES, 1, confirmations=0)
    f.step()
    assert f.last_block == 7

    # A reorg from block 5: the same transactions land again, in blocks of other times (a day later).
    chain.reorg(keep=4)
    chain.add(T + DAY + 48, job_created(1))
    chain.add(T + DAY + 60, job_accepted(1))
    chain.add(T + DAY + 72, job_settled(1))
    chain.add(T + DAY + 84)
    r = f.step()
    assert r.rewound_to is not None and f.last_block == 8

    fresh = Follower(Database(tmp_path / "fresh.db"), chain, ADDRESSES, 1, confirmations=0)
    fresh.step()
    got, want = dump(f.db), dump(fresh.db)
    assert got["jobs"] == want["jobs"], "jobs' created/ended times are the replaced blocks'"
    assert got == want
