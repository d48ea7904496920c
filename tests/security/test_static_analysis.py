"""Static analysis as a test: `make audit` (tools/audit/run.sh) must pass, and must be able to fail.

Slither runs from its own venv, .venv-audit/ (tools/audit/requirements.txt), through the project's own
solc 0.8.28. The first run creates that venv (about 40 s, from PyPI); later runs take about 10 s.
If the venv cannot be created (no Python 3.11, no package index), these tests are skipped and say why:
then `make audit` cannot run on that machine either.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "tools" / "audit" / "run.sh"
AUDIT_PYTHON = ROOT / ".venv-audit" / "bin" / "python"
DRIVER = ROOT / "tools" / "audit" / "slither_run.py"

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def isolation() -> None:
    """No chain is used here: replace tests/fixtures' per-test chain snapshot."""


@pytest.fixture(scope="module")
def audit_env() -> None:
    """Bootstrap .venv-audit through run.sh itself (`--help` installs, then exits without analysing)."""
    if not (ROOT / "node_modules" / "@openzeppelin" / "contracts").is_dir():
        pytest.skip("node_modules is missing (npm ci / make setup has not run): the contracts cannot compile")
    proc = subprocess.run([str(RUN), "--help"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0 or not AUDIT_PYTHON.exists():
        pytest.skip(f"could not create .venv-audit for Slither (rc={proc.returncode}): {proc.stderr[-500:]}")


def test_audit_passes(audit_env: None, tmp_path: Path) -> None:
    """Zero high/medium findings left unexplained; ComputeToken passes slither-check-erc (ERC20, ERC2612)."""
    report = tmp_path / "slither.json"
    proc = subprocess.run([str(RUN), "--json", str(report)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, f"make audit failed (rc={proc.returncode}):\n{proc.stdout}\n{proc.stderr[-2000:]}"
    data = json.loads(report.read_text())
    assert data["failures"] == []
    assert data["counts"]["High"] == 0 and data["counts"]["Medium"] == 0


CANARY = """// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// Two planted problems the audit must refuse: a high finding left as is, and one suppressed without a reason.
contract AuditCanary {
    address private owner;
    // slither-disable-next-line uninitialized-state
    address private keeper;

    function ownerOf() external view returns (address) {
        return owner;
    }

    function keeperOf() external view returns (address) {
        return keeper;
    }
}
"""


def test_audit_fails_on_planted_findings(audit_env: None, tmp_path: Path) -> None:
    """The same audit, on a scratch copy of the sources plus a canary contract, exits 1 and names both."""
    for d in ("contracts", "interfaces"):
        shutil.copytree(ROOT / d, tmp_path / d)
    shutil.copy(ROOT / "brownie-config.yaml", tmp_path)
    os.symlink(ROOT / "node_modules", tmp_path / "node_modules")
    (tmp_path / "contracts" / "AuditCanary.sol").write_text(CANARY)
    report = tmp_path / "slither.json"
    proc = subprocess.run([str(AUDIT_PYTHON), str(DRIVER), "--root", str(tmp_path), "--no-erc", "--json", str(report)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stdout + proc.stderr[-2000:]
    failures = json.loads(report.read_text())["failures"]
    assert any("uninitialized-state at contracts/AuditCanary.sol:6" in f for f in failures), failures
    assert any("contracts/AuditCanary.sol:7" in f and "without a one-line reason" in f for f in failures), failures
