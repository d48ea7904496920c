"""A closed stdout (`gpusettle ... | head -1`) ends the command quietly, as it ends other Unix tools."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize(
    "args",
    [["--help"], ["wallet", "list"], ["job", "spec", "init", "--help"], ["market", "stats", "--help"]],
)
def test_closed_stdout_is_no_bug(args: list[str], tmp_path: Path) -> None:
    # The reader is gone before the command writes its first byte: every write fails with EPIPE.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "gpusettle.cli", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            env={**os.environ, "GPUSETTLE_HOME": str(tmp_path)},
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    stderr = done.stderr.decode()
    assert stderr == "", stderr
    assert done.returncode == 1  # click's own status for a broken pipe; no `error:` line
