"""Sandbox tests run client programs in the real bubblewrap sandbox; no chain."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


@pytest.fixture(autouse=True)
def isolation() -> None:
    """No brownie chain snapshot: these tests use no chain."""


@pytest.fixture(scope="session", autouse=True)
def bwrap() -> str:
    """bubblewrap, installed with apt-get when it is missing (as `make setup` does)."""
    found = shutil.which("bwrap")
    if found is None and os.geteuid() == 0:
        for step in (
            ["apt-get", "update"],
            ["apt-get", "-o", "DPkg::Lock::Timeout=600", "install", "-y", "bubblewrap"],
        ):
            subprocess.run(step, check=False, capture_output=True, timeout=900)
        found = shutil.which("bwrap")
    assert found is not None, "bubblewrap is required: apt-get install bubblewrap"
    return found
