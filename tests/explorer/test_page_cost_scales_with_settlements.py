"""Attack review of 2026-12-03 (failing at 499f7f0, passing from the commit that adds this file): every HTML page (a lease, an offer, the job list, a job, a provider, the providers list) calls
`queries.stats` only to learn the token's decimals and symbol; `stats` groups *all* settlements by day twice
(`_days`, no index covers `time / 86400`). So viewing any page costs a full scan of the settlements table, and the
explorer serialises requests on one connection (one lock): with a few hundred thousand settlements each page view
holds it ~0.2 s, so a handful of requests per second from anyone stalls the explorer for everybody.

Measured deterministically: SQLite virtual-machine steps (progress handler) of one page view with 2,000 and with
20,000 settlements in the index. The safe behaviour: a page's cost does not grow with the settlement history."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from gpusettle.explorer.app import create_app
from gpusettle.index.db import Database
from gpusettle.index.schema import create
from tests.index.test_leases_apply import Chain, offer, open_lease


@pytest.fixture(autouse=True)
def isolation() -> None:
    """No chain: the index is built from synthetic events and rows."""


def _index(path: Path, settlements: int) -> None:
    db = Database(path)
    create(db)
    db.execute("INSERT INTO meta (key, value) VALUES ('last_block', '0')")
    chain = Chain(db)
    offer(chain)
    open_lease(chain, 1, gpus=1, deposit=10**18)
    with db.transaction():
        db.executemany(
            "INSERT INTO settlements VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (i, "0x" + "aa" * 20, i, 1_700_000_000 + 60 * i, f"0x{i:064x}", 100, "1000", "10", 1000.0, 0)
                for i in range(1, settlements + 1)
            ],
        )
    db.close()


def _steps(path: Path, url: str) -> int:
    app = create_app(path)
    count = [0]

    def tick() -> int:
        count[0] += 1
        return 0

    app.state.db._conn.set_progress_handler(tick, 1)
    with TestClient(app) as client:
        assert client.get(url).status_code == 200
    return count[0]


@pytest.fixture
def sizes(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    small, big = tmp_path / "small.db", tmp_path / "big.db"
    _index(small, 2_000)
    _index(big, 20_000)
    yield small, big


@pytest.mark.parametrize("url", ["/leases/1", "/offers/1", "/jobs", "/providers"])
def test_a_page_view_does_not_scan_the_whole_settlement_history(sizes: tuple[Path, Path], url: str) -> None:
    small, big = sizes
    few, many = _steps(small, url), _steps(big, url)
    assert many < 2 * few, f"{url}: {few:,} VM steps with 2,000 settlements, {many:,} with 20,000"
