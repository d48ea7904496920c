"""Explorer tests: a real chain with a small market and a few leases, its index, the explorer served by uvicorn, and a real
headless Chromium (Debian's package, driven by Playwright; installed with apt-get when missing).

Screenshots are kept as test artifacts under reports/explorer/ (the path is printed).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gpusettle.bench.market_world import MarketWorld, make_market
from gpusettle.demo_explore import ExplorerServer, index_chain

from .market_leases import MarketLeases, open_market_leases

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "reports" / "explorer"


@pytest.fixture(autouse=True)
def isolation() -> None:
    """No brownie chain snapshot: these tests run their own anvil."""


def ensure_chromium() -> str:
    """Debian's chromium, installed on first use (CI machines start without it)."""
    if not Path(CHROMIUM).exists():
        if shutil.which("apt-get") is None:
            pytest.fail("chromium is missing and apt-get is not available to install it (install chromium)")
        subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True, timeout=600)
        done = subprocess.run(
            ["apt-get", "-o", "DPkg::Lock::Timeout=600", "install", "-y", "-qq", "chromium"],
            check=False,
            capture_output=True,
            text=True,
            timeout=900,
        )
        if done.returncode != 0 or not Path(CHROMIUM).exists():
            pytest.fail(f"could not install chromium with apt-get: {done.stderr[-2000:]}")
    return CHROMIUM


@dataclass
class Site:
    """The explorer over a market's index."""

    world: MarketWorld
    url: str
    db_path: Path
    leases: MarketLeases


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("explorer")
    anvil, world = make_market(tmp)
    explorer: ExplorerServer | None = None
    try:
        leases = open_market_leases(world)
        db_path = tmp / "index.db"
        follower, _ = index_chain(world.net.gs, db_path)
        follower.db.close()
        explorer = ExplorerServer(db_path).start()
        yield Site(world, explorer.url.rstrip("/"), db_path, leases)
    finally:
        if explorer is not None:
            explorer.stop()
        anvil.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = ensure_chromium()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    print(f"\nexplorer screenshots: {ARTIFACTS}")
    return ARTIFACTS
