"""Shared fixtures for the Python package tests; no chain is needed for any of them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# `brownie test` and a bare `pytest` do not always put the repository root on sys.path.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)


@pytest.fixture(autouse=True)
def isolation() -> None:
    """Replace tests/fixtures' chain snapshot per test: these tests use no chain, and with brownie's
    plugin disabled (-p no:pytest-brownie) its fn_isolation fixture does not exist."""


@pytest.fixture
def fast_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    """Use the light KDF so keystore tests take milliseconds, not seconds."""
    monkeypatch.setenv("GPUSETTLE_KDF_FAST", "1")
