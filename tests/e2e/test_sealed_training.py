"""The README walk-through, end to end through anvil, the oracle and a worker running real processes:
a client makes an encryption key, opens a job from the readable spec in examples/numpy-training
(its local inputs uploaded to the oracle's /v1/inputs, signed by the client's account key), the worker trains the model in its sandbox and
seals the weights to the client, and `gpusettle job results` fetches, checks and decrypts them. The
oracle holds only ciphertext."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from nacl.public import PrivateKey

from gpusettle.models import CommandWorkload, InputFile, JobSpec, Outcome
from gpusettle.signed_requests import input_upload_headers
from tests.e2e.conftest import World, settled_everywhere, wait_until

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "numpy-training"


def gpusettle(world: World, home: Path, *args: str) -> dict[str, Any]:
    env = world.net.child_env(GPUSETTLE_HOME=str(home))
    assert world.net.record_path is not None
    common = ["--rpc-url", world.url, "--deployments-dir", str(world.net.record_path.parent), "--json"]
    done = subprocess.run(
        [sys.executable, "-m", "gpusettle.cli", *args, *common],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"gpusettle {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr
    return dict(json.loads(done.stdout))


def test_train_on_a_rented_slot_and_fetch_the_weights_decrypted(world: World, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "keystores").symlink_to(world.net.keystore_dir)
    oracle, url = world.start_oracle("oracle-sealed")
    worker = world.start_worker(url, "--allow-command", name="worker-sealed")
    key = gpusettle(world, home, "wallet", "encryption-key", "client", "--new")
    assert key["public_key"].startswith("0x") and len(key["public_key"]) == 66

    workdir = tmp_path / "project"
    shutil.copytree(EXAMPLE, workdir)
    created = gpusettle(
        world,
        home,
        "job",
        "create",
        "--offer",
        str(world.offer_id),
        "--gpu-seconds",
        "600",
        "--spec",
        str(workdir / "job.yaml"),
        "--publish",
        url,
        "-a",
        "client",
        "-y",
    )
    job_id = int(created["job_id"])
    published = JobSpec.model_validate_json(
        httpx.get(f"{url}/v1/specs/{world.net.gs.job(job_id).spec_hash}", timeout=10).content
    )
    assert isinstance(published.workload, CommandWorkload) and published.workload.inputs
    assert all(i.url.startswith(f"{url}/v1/inputs/") for i in published.workload.inputs)
    wait_until(lambda: settled_everywhere(world, url, job_id), 120, "the training job to settle", world)
    (event,) = world.net.gs.events("escrow", "JobSettled", jobId=job_id)
    assert int(event.args["outcome"]) == 0, worker.tail()

    out = tmp_path / "results"
    got = gpusettle(
        world, home, "job", "results", str(job_id), "--oracle", url, "--out", str(out), "-a", "client"
    )
    assert got["result"]["outcome"] == "COMPLETED"
    weights = np.load(out / "out" / "weights.npy")
    assert np.allclose(weights, [1.5, -2.0, 0.5, 0.25], atol=0.02)
    assert "final loss" in (out / "logs" / "stdout.log").read_text()

    # The oracle's copy is ciphertext: the weights' bytes are not in it.
    stored = httpx.get(f"{url}/v1/results/{got['result_hash']}", timeout=30).content
    assert weights.tobytes() not in stored and b"final loss" not in stored
    worker.stop()
    oracle.stop()


def test_a_wrong_input_hash_fails_the_job_before_any_gpu_time_is_billed(world: World, tmp_path: Path) -> None:
    oracle, url = world.start_oracle("oracle-badhash")
    worker = world.start_worker(url, "--allow-command", name="worker-badhash")
    blob = b"the real input"
    name = hashlib.sha256(blob).hexdigest()
    # Uploaded as `job create --spec` does: signed by a client key (a throwaway one here).
    headers = input_upload_headers(
        world.verifier().domain, os.urandom(32), name, len(blob), int(time.time()) + 600
    )
    assert httpx.put(f"{url}/v1/inputs/{name}", content=blob, headers=headers, timeout=10).status_code == 201
    item = InputFile(url=f"{url}/v1/inputs/{name}", sha256="00" * 32, path="data.bin", size=len(blob))
    key = "0x" + bytes(PrivateKey.generate().public_key).hex()
    spec = JobSpec(
        workload=CommandWorkload(kind="command", argv=["/bin/true"], inputs=[item], encrypt_to=key)
    )
    assert (
        httpx.put(f"{url}/v1/specs/{spec.spec_hash()}", content=spec.canonical_json(), timeout=10).status_code
        == 201
    )
    (job_id,) = world.open(1, max_gpu_seconds=600, spec_hash=bytes.fromhex(spec.spec_hash()[2:]))
    wait_until(lambda: settled_everywhere(world, url, job_id), 120, "the bad-input job to settle", world)
    (event,) = world.net.gs.events("escrow", "JobSettled", jobId=job_id)
    assert int(event.args["outcome"]) == int(Outcome.FAILED_CLIENT) and int(event.args["gpuSeconds"]) == 0
    log = worker.log_path.read_text()
    assert f"job {job_id}: fails before it starts: input data.bin" in log and "sha256" in log
    worker.stop()
    oracle.stop()
