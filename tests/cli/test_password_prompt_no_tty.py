"""A hidden password prompt without a terminal (a pipe) says plainly that the input may be echoed, and prints no
Python warning with a file path and a line of code (a newcomer saw getpass's GetPassWarning)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_a_piped_password_prompt_prints_no_python_warning(tmp_path: Path) -> None:
    env = {**os.environ, "GPUSETTLE_HOME": str(tmp_path), "GPUSETTLE_KDF_FAST": "1"}
    env.pop("GPUSETTLE_PASSWORD", None)
    env.pop("GPUSETTLE_PASSWORD_FILE", None)
    out = subprocess.run(
        [sys.executable, "-m", "gpusettle.cli", "wallet", "new", "alice"],
        input="a long password\na long password\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    assert "created alice" in text
    assert "GetPassWarning" not in text and "getpass.py" not in text
