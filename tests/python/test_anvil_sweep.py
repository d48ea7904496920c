"""tools/anvil_sweep.sh removes only the anvil state directories that appeared during a run: one an older anvil
still writes to (newer than any start time) stays."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "anvil_sweep.sh"


def test_only_directories_new_since_the_start_are_removed(tmp_path: Path) -> None:
    cache = tmp_path / "home" / ".foundry" / "anvil" / "tmp"
    old = cache / "anvil-state-old"
    old.mkdir(parents=True)
    env = {**os.environ, "HOME": str(tmp_path / "home")}
    listing = tmp_path / "list"
    subprocess.run([str(SCRIPT), "start", str(listing)], env=env, check=True)
    (old / "later").write_text("an older anvil goes on writing")
    (cache / "anvil-state-new").mkdir()
    (cache / "not-anvil").mkdir()
    subprocess.run([str(SCRIPT), "end", str(listing)], env=env, check=True)
    assert sorted(p.name for p in cache.iterdir()) == ["anvil-state-old", "not-anvil"]
    assert not listing.exists()
    bad = subprocess.run([str(SCRIPT), "sideways", str(listing)], env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "usage" in bad.stderr
