"""Shared fixtures for the Python package tests; no chain is needed for any of them."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def isolation() -> None:
    """Replace tests/fixtures' chain snapshot per test: these tests use no chain, and with brownie's
    plugin disabled (-p no:pytest-brownie) its fn_isolation fixture does not exist."""


@pytest.fixture
def fast_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    """Use the light KDF so keystore tests take milliseconds, not seconds."""
    monkeypatch.setenv("GPUSETTLE_KDF_FAST", "1")
