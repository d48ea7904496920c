"""The worker survives kill -9: a job it was running is not run again (it gets a FailedProvider receipt,
so nothing is billed), and a receipt it had signed but not delivered is delivered after the restart,
without running the job again. Each job settles once."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import httpx

from gpusettle.devnet import FastSender, free_port
from gpusettle.models import CommandWorkload, JobSpec
from tests.e2e.conftest import PORTS, PRICE, World, wait_until


def publish(url: str, spec: JobSpec) -> bytes:
    assert httpx.put(f"{url}/v1/specs/{spec.spec_hash()}", content=spec.canonical_json()).status_code == 201
    return bytes.fromhex(spec.spec_hash()[2:])


def starts(marker: Path) -> int:
    return len(marker.read_text().splitlines()) if marker.exists() else 0


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_killed_mid_job_is_not_run_again_and_not_billed(world: World, tmp_path: Path) -> None:
    gs = world.net.gs
    oracle, url = world.start_oracle()
    marker = tmp_path / "starts.txt"
    pids = tmp_path / "pids.txt"
    # The job's process and a child of it (as a training script's data loader would be); neither may
    # survive the worker's crash once the worker is back.
    code = (
        f"import os, subprocess, sys, time; open({str(marker)!r}, 'a').write('started\\n'); "
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}'); time.sleep(60)"
    )
    spec = JobSpec(workload=CommandWorkload(kind="command", argv=[sys.executable, "-c", code]))
    worker = world.start_worker(url, "--allow-command", "--unsandboxed")
    (job_id,) = world.open(1, spec_hash=publish(url, spec))
    wait_until(lambda: starts(marker) == 1 and pids.exists(), 60, "the job to start", world)
    job_pids = [int(p) for p in pids.read_text().split()]
    worker.kill9()
    client_before = gs.token_balance(world.client.address)
    worker = world.start_worker(url, "--allow-command", "--unsandboxed")
    wait_until(lambda: gs.job(job_id).status == "Settled", 60, "the interrupted job to settle", world)
    # Once the worker has seen the settlement the job is final in its state: it can never run again.
    settled_line = f"job {job_id} settled"
    wait_until(lambda: settled_line in worker.log_path.read_text(), 30, "the worker to see it settled", world)
    assert starts(marker) == 1  # never started again
    assert not [p for p in job_pids if alive(p)], "the interrupted job's processes outlived the worker"
    (event,) = gs.events("escrow", "JobSettled", jobId=job_id)
    assert int(event.args["outcome"]) == 2 and int(event.args["gpuSeconds"]) == 0  # FailedProvider: unpaid
    # ... and it costs the provider the timeout slash (issue 8, lower finding 7): paid to the client at once, or held
    # for it (claimHeldSlash) while one of the provider's settlements can still be disputed.
    (slashed,) = gs.events("escrow", "FailedProviderSlashed", jobId=job_id)
    slash = int(slashed.args["amount"])
    assert slash > 0
    paid_now = 0 if gs.events("escrow", "TimeoutSlashHeld", jobId=job_id) else slash
    sender = FastSender(gs, world.client)
    sender.call(gs.escrow, "claimRefunds", [job_id])
    sender.wait()
    # the whole deposit back, and the slash unless held
    assert gs.token_balance(world.client.address) == client_before + 3600 * PRICE + paid_now
    assert "the run was lost and is not billed" in worker.log_path.read_text()
    worker.stop()
    oracle.stop()


def test_signed_receipt_is_delivered_after_a_restart_without_rerunning(world: World, tmp_path: Path) -> None:
    gs = world.net.gs
    port = free_port(*PORTS)
    url = f"http://127.0.0.1:{port}"
    marker = tmp_path / "starts.txt"
    code = f"open({str(marker)!r}, 'a').write('started\\n'); print('done')"
    spec = JobSpec(workload=CommandWorkload(kind="command", argv=[sys.executable, "-c", code]))
    spec_dir = tmp_path / "specs"
    spec_dir.mkdir()
    (spec_dir / f"{spec.spec_hash()}.json").write_bytes(spec.canonical_json())
    # No oracle yet: the worker runs the job, signs the receipt and keeps retrying the submission.
    worker = world.start_worker(
        url, "--allow-command", "--unsandboxed", "--spec-store", str(spec_dir), name="worker2"
    )
    (job_id,) = world.open(1, spec_hash=bytes.fromhex(spec.spec_hash()[2:]))
    wait_until(lambda: "submission attempt 2 failed" in worker.log_path.read_text(), 60, "retries", world)
    worker.kill9()
    assert starts(marker) == 1
    worker = world.start_worker(
        url, "--allow-command", "--unsandboxed", "--spec-store", str(spec_dir), name="worker2"
    )
    oracle, _ = world.start_oracle("oracle-late", port=port)
    wait_until(lambda: gs.job(job_id).status == "Settled", 60, "the delivered receipt to settle", world)
    assert starts(marker) == 1
    assert len(gs.events("escrow", "JobSettled", jobId=job_id)) == 1
    assert worker.log_path.read_text().count(f"job {job_id}: receipt signed") == 1
    worker.stop()
    oracle.stop()


def with_token(token: str) -> list[int]:
    """Host pids whose command line carries `token`."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                cmdline = Path(f"/proc/{name}/cmdline").read_bytes()
            except OSError:
                continue
            if token.encode() in cmdline and alive(int(name)):
                found.append(int(name))
    return found


def test_a_sandboxed_job_dies_with_its_crashed_worker(world: World, tmp_path: Path) -> None:
    gs = world.net.gs
    oracle, url = world.start_oracle("oracle-sandboxed")
    token = f"gs-crash-{uuid.uuid4().hex}"
    code = (
        "import subprocess, sys, time; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)', sys.argv[1]]); "
        "open('/job/started', 'w').write('x'); time.sleep(60)"
    )
    spec = JobSpec(workload=CommandWorkload(kind="command", argv=[sys.executable, "-c", code, token]))
    worker = world.start_worker(url, "--allow-command", name="worker-sandboxed")
    (job_id,) = world.open(1, spec_hash=publish(url, spec))
    started = world.workdir / "worker-sandboxed" / "jobs" / str(job_id) / "work" / "started"
    wait_until(
        lambda: started.exists() and len(with_token(token)) >= 2, 60, "the sandboxed job to start", world
    )
    worker.kill9()
    worker = world.start_worker(url, "--allow-command", name="worker-sandboxed")
    wait_until(lambda: gs.job(job_id).status == "Settled", 60, "the interrupted job to settle", world)
    assert not with_token(token), "the sandboxed job's processes outlived the worker"
    (event,) = gs.events("escrow", "JobSettled", jobId=job_id)
    assert int(event.args["outcome"]) == 2 and int(event.args["gpuSeconds"]) == 0
    worker.stop()
    oracle.stop()
