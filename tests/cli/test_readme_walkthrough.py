"""The README's training walk-through, run command by command exactly as written, from a fresh GPUSETTLE_HOME.

Its marked blocks (`<!-- walkthrough: NAME -->` before a ```sh block) are this test's input: `stack`
(`gpusettle dev up --allow-command`, left running), then `train` (an encryption key, a job from
examples/numpy-training's readable spec with its inputs uploaded, the wait, the sealed results fetched and
decrypted). The commands run in a temporary directory that stands in for the checkout (the example is
copied there), so nothing is written into the checkout.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from tests.helpers.readme_shell import ROOT, Shell, readme_blocks, running_dev_up

EXAMPLE = "examples/numpy-training"
TRUE_WEIGHTS = [1.5, -2.0, 0.5, 0.25]
"""What examples/numpy-training/data.csv was drawn from (three slopes and the bias)."""


@pytest.fixture(scope="module")
def blocks() -> dict[str, list[str]]:
    return readme_blocks("walkthrough")


@pytest.fixture(scope="module")
def shell(tmp_path_factory: pytest.TempPathFactory, blocks: dict[str, list[str]]) -> Iterator[Shell]:
    """The README's `dev up` line, running until the module ends (then Ctrl-C)."""
    sh = Shell(tmp_path_factory.mktemp("walkthrough"), password="walk-through pw")
    shutil.copytree(ROOT / EXAMPLE, sh.tmp / EXAMPLE)
    [up] = blocks["stack"]
    yield from running_dev_up(sh, up)


def test_readme_walkthrough_blocks_are_there(blocks: dict[str, list[str]]) -> None:
    assert set(blocks) == {"stack", "train"}
    assert blocks["stack"] == ["gpusettle dev up --allow-command"]
    assert all(line.split()[0] in ("gpusettle", "cat", "python", "cd") for line in blocks["train"])
    assert any(f"--spec {EXAMPLE}/job.yaml" in line for line in blocks["train"])


def test_train_on_a_rented_slot_and_fetch_the_weights_decrypted(
    shell: Shell, blocks: dict[str, list[str]]
) -> None:
    dev_log = (shell.tmp / "dev-up.log").read_text()
    assert "sandboxed command jobs" in dev_log, dev_log
    outputs = [shell.run(line).stdout for line in blocks["train"]]

    job = shell.json("gpusettle job status --account client")
    assert job["status"] == "Settled", job
    results = shell.tmp / "training"
    weights = np.load(results / "out" / "weights.npy")
    assert np.allclose(weights, TRUE_WEIGHTS, atol=0.02), weights
    # The README's last line prints them, as it says.
    printed = [float(x) for x in outputs[-1].strip().strip("[]").split()]
    assert np.allclose(printed, TRUE_WEIGHTS, atol=0.02), outputs[-1]
    assert "final loss" in (results / "logs" / "stdout.log").read_text()

    # Only the client could read them: the oracle holds ciphertext, which the key store's key opens.
    got = shell.json(f"gpusettle job results --account client --out {shell.tmp / 'again'}")
    assert got["result"]["outcome"] == "COMPLETED"
    stored = httpx.get(f"http://127.0.0.1:{shell.oracle_port}/v1/results/{got['result_hash']}", timeout=30)
    assert stored.status_code == 200
    assert weights.tobytes() not in stored.content and b"final loss" not in stored.content
    # Nothing was written into the checkout.
    assert not (ROOT / "training").exists() and not (ROOT / EXAMPLE / "results").exists()
