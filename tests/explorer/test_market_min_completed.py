"""Attack review of 2026-12-03 (failing at 499f7f0, passing from the commit that adds this file): the market page's `min_completed` has no upper bound, but the OfferQuery it is copied into does
(le=2**32-1). The second validation runs outside `parse`, so its ValidationError is not a BadQuery and the page
answers 500 instead of a 400 with the reason. No chain: synthetic events into a fresh index."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from gpusettle.explorer.app import create_app
from gpusettle.index.db import Database
from gpusettle.index.schema import create
from tests.index.test_leases_apply import Chain, offer


@pytest.fixture(autouse=True)
def isolation() -> None:
    """No chain: the index is built from synthetic events."""


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    path = tmp_path / "index.db"
    db = Database(path)
    create(db)
    db.execute("INSERT INTO meta (key, value) VALUES ('last_block', '0')")
    offer(Chain(db))
    db.close()
    yield TestClient(create_app(path), raise_server_exceptions=False)


@pytest.mark.parametrize("route", ["/", "/offers"])
@pytest.mark.parametrize("value", ["4294967296", "99999999999999999999999999"])
def test_a_huge_min_completed_is_a_400_with_the_reason_not_a_500(
    client: TestClient, route: str, value: str
) -> None:
    r = client.get(route, params={"min_completed": value})
    assert r.status_code == 400, f"{route}?min_completed={value} answered {r.status_code}"
    assert "min_completed" in r.text
