"""Oracle tests: no brownie chain; tests that need a chain start their own anvil."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def isolation() -> None:
    """Replace tests/fixtures' chain snapshot per test: these tests use no brownie chain (and with
    -p no:pytest-brownie its fn_isolation fixture does not exist)."""
