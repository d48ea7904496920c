"""The install tests build their own virtual environment and run their own anvil; no brownie chain."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def isolation() -> None:
    """No brownie chain snapshot: these tests run their own anvil."""
