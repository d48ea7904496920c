"""Oracle tests: no brownie chain; tests that need a chain start their own anvil."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gpusettle.oracle.store import SQLiteStore


@pytest.fixture(autouse=True)
def isolation() -> None:
    """Replace tests/fixtures' chain snapshot per test: these tests use no brownie chain (and with
    -p no:pytest-brownie its fn_isolation fixture does not exist)."""


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    """A SQLite store of the oracle's in the test's directory, closed after it."""
    s = SQLiteStore(tmp_path / "oracle.sqlite")
    yield s
    s.close()
