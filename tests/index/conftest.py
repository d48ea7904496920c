"""Index tests: a private anvil with a small real market (providers, offers, jobs in every state).

These tests use no brownie chain: the autouse `isolation` fixture of tests/fixtures is replaced here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gpusettle.bench.market_world import MarketWorld, make_market
from gpusettle.chain.logs import LogReader, RpcLogSource
from gpusettle.index.db import Database
from gpusettle.index.follower import Follower

# Derived tables compared between an index that followed the chain and a fresh one.
TABLES = (
    "providers",
    "offers",
    "jobs",
    "settlements",
    "disputes",
    "oracle_sets",
    "leases",
    "lease_checkpoints",
    "events",
)


@pytest.fixture(autouse=True)
def isolation() -> None:
    """No brownie chain snapshot: these tests run their own anvil."""


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MarketWorld]:
    anvil, world = make_market(tmp_path_factory.mktemp("market"))
    try:
        yield world
    finally:
        anvil.stop()


def follower(world: MarketWorld, db_path: Path | str, *, url: str | None = None, **kw: Any) -> Follower:
    """A follower of the world's deployment (through `url`, e.g. a proxy, when given)."""
    gs = world.net.gs
    w3 = gs.chain.w3
    if url is not None:
        from web3 import HTTPProvider, Web3

        w3 = Web3(HTTPProvider(url))
    kw.setdefault("confirmations", 0)
    kw.setdefault("reader", LogReader())
    return Follower(
        Database(db_path), RpcLogSource(w3), gs.record.addresses, gs.record.deploy_block, chain_id=31337, **kw
    )


def dump(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every derived row, in a stable order."""
    out = {}
    for table in TABLES:
        rows = db.query(f"SELECT * FROM {table}")
        out[table] = sorted(rows, key=repr)
    return out


def fresh_dump(world: MarketWorld, path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Index the chain as it is now from scratch and dump it."""
    f = follower(world, path)
    f.step()
    return dump(f.db)
