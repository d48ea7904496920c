"""The same index code on a real PostgreSQL server (pgserver ships the binaries; the fixture starts and
stops it): it ends equal to the SQLite index, rewinds a reorg, and serves the same queries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gpusettle.bench.market_world import MarketWorld
from gpusettle.index import queries
from gpusettle.index.db import Database

from .conftest import dump, follower, fresh_dump
from .test_reorg import _activity

pgserver = pytest.importorskip("pgserver", reason="pgserver (the test extra) is not installed")


@pytest.fixture(scope="module")
def pg_url(pg_server: Any) -> Iterator[str]:
    """The session's PostgreSQL server (tests/fixtures/postgres.py): it lives in a directory the server's
    own user can enter, which pytest's private tmp_path (0700, root's when run as root) is not."""
    yield str(pg_server.get_uri())


def _fresh_pg(pg_url: str, name: str) -> str:
    admin = Database(pg_url)
    admin.execute(f"DROP DATABASE IF EXISTS {name}")
    admin.execute(f"CREATE DATABASE {name}")
    admin.close()
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(pg_url)._replace(path=f"/{name}"))


def test_postgres_index_equals_sqlite_and_survives_a_reorg(
    market: MarketWorld, pg_url: str, tmp_path: Path
) -> None:
    url = _fresh_pg(pg_url, "idx_follow")
    on_pg = follower(market, url)
    on_pg.step()
    assert dump(on_pg.db) == fresh_dump(market, tmp_path / "a.db")
    lite = Database(tmp_path / "a.db")
    for q in (
        queries.OfferQuery(),
        queries.OfferQuery(gpu="A100", sort="price_per_gb"),
        queries.OfferQuery(sort="record"),
    ):
        assert queries.search_offers(on_pg.db, q) == queries.search_offers(lite, q)
    assert queries.stats(on_pg.db) == queries.stats(lite)
    assert queries.oracle(on_pg.db) == queries.oracle(lite)
    assert queries.job(on_pg.db, 1) == queries.job(lite, 1)
    # A depth-3 reorganisation, rewound on PostgreSQL.
    _activity(market, 7)
    on_pg.step()
    market.net.anvil.rpc("anvil_reorg", [3, []])
    _activity(market, 9)
    assert on_pg.step().rewound_to is not None
    assert dump(on_pg.db) == fresh_dump(market, tmp_path / "b.db")
