"""The whole worker with leases: a job and a lease at once on disjoint development GPU slots, the
lease's heartbeats reaching the oracle, the probe endpoint, owner use pausing everything, and the
lease service inside the bubblewrap sandbox."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from eth_account import Account

from gpusettle.leases.eip712 import lease_domain
from gpusettle.models import JobSpec
from gpusettle.signed_requests import peer_request_headers
from gpusettle.worker.availability import OWNER_USE
from gpusettle.worker.leasechain import AvailabilityClass, OfferState
from gpusettle.worker.leaseside import LeaseSideConfig
from gpusettle.worker.runner import Worker, WorkerConfig
from gpusettle.worker.schedule import AvailabilitySettings
from gpusettle.worker.slots import job_owner, lease_owner
from gpusettle.worker.specstore import DirectorySpecStore

from .fakechain import FakeLeaseChain


def _wait(pred: Callable[[], object], timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


ORACLE = Account.create()


def _worker(tmp_path: Path, chain: FakeLeaseChain, *, unsandboxed: bool = True) -> Worker:
    fake: Any = SimpleNamespace(
        chain=SimpleNamespace(chain_id=31337),
        escrow=SimpleNamespace(address="0x" + "11" * 20),
        oracle_set=lambda: SimpleNamespace(oracles=(ORACLE.address,)),
    )
    return Worker(
        WorkerConfig(
            data_dir=tmp_path / "worker",
            provider="0x" + "22" * 20,
            oracle_url="http://oracle",
            spec_store=str(tmp_path / "specs"),
            allow_command=True,
            unsandboxed=unsandboxed,
            device="cpu" if not unsandboxed else "auto",
            confirmations=1,
            dev_gpu_slots=4,
            leases=LeaseSideConfig(
                chain=lambda: chain,
                domain=lease_domain(31337, "0x" + "33" * 20),
                oracles=("http://oracle",),
                heartbeat_interval=1,
                probe_port=0,
                availability=AvailabilitySettings(idle_minutes=0),
            ),
        ),
        lambda: fake,
        Account.create(),
    )


def test_a_job_and_a_lease_together_with_heartbeats_probes_and_owner_use(tmp_path: Path) -> None:
    (tmp_path / "specs").mkdir()
    store = DirectorySpecStore(tmp_path / "specs")
    chain = FakeLeaseChain()
    chain.offers_by_id = {1: OfferState(1, 4, AvailabilityClass.INTERRUPTIBLE, 0, paused=False)}
    marks = tmp_path / "marks"
    marks.mkdir()
    service = JobSpec.model_validate(
        {
            "workload": {
                "kind": "command",
                "argv": ["sh", "-c", f'echo "$CUDA_VISIBLE_DEVICES" > {marks}/lease; exec sleep 600'],
            }
        }
    )
    job = JobSpec.model_validate(
        {
            "workload": {
                "kind": "command",
                "argv": ["sh", "-c", f'echo "$CUDA_VISIBLE_DEVICES" > {marks}/job; sleep 1'],
            }
        }
    )
    store.publish(service)
    worker = _worker(tmp_path, chain)
    got: list[dict[str, Any]] = []

    def oracle(request: httpx.Request) -> httpx.Response:
        got.append(json.loads(request.content))
        return httpx.Response(202, json={"status": "stored"})

    side = worker.lease_side
    assert side is not None and side.probe is not None
    side.heartbeats.transport = httpx.MockTransport(oracle)
    now = int(time.time())
    worker.state.add_job(1, job.spec_hash(), 600, 2, now + 60, now + 3600)
    worker.state.update(1, state="accepted", accepted_at=now, gpu_count=2, spec=job.model_dump_json())
    chain.open(8, 2, service.spec_hash(), klass=AvailabilityClass.INTERRUPTIBLE)
    try:
        worker.recover()
        assert worker.run_once()
        assert side.supervisor.tick()
        _wait(lambda: (marks / "lease").exists() and (marks / "job").exists())
        lease_gpus = set((marks / "lease").read_text().split()[0].split(","))
        job_gpus = set((marks / "job").read_text().split()[0].split(","))
        assert len(lease_gpus) == 2 and len(job_gpus) == 2 and not lease_gpus & job_gpus
        side.supervisor.tick()
        _wait(lambda: side.supervisor.liveness()[0].alive)
        side.heartbeats.tick()
        assert got and got[0]["leaseId"] == 8 and got[0]["serviceUp"] is True
        url = f"http://127.0.0.1:{side.probe.port}/v1/probe"
        body = json.dumps({"leaseId": 8, "seed": 1, "n": 8}).encode()
        unsigned = httpx.post(url, content=body, timeout=30)
        assert unsigned.status_code == 401 and unsigned.json()["hint"]  # only the oracle set may probe
        headers = peer_request_headers(
            worker.verifier.domain,
            bytes(ORACLE.key),
            ORACLE.address,
            "POST",
            "/v1/probe",
            int(time.time()),
            body,
        )
        answer = httpx.post(url, content=body, headers=headers, timeout=30)
        assert answer.status_code == 200 and answer.json()["checksum"].startswith("0x")

        (worker.config.data_dir / "owner-use").write_text("the owner's render")
        assert side.availability is not None and side.availability.tick() == OWNER_USE
        assert ("pause", 1) in chain.calls and ("reclaim", 8) in chain.calls
        side.supervisor.tick()  # interruptible: billing ended at once, the service stops
        assert side.supervisor.row(8).state == "ended"  # type: ignore[union-attr]
        _wait(lambda: worker.state.job(1).state == "receipted")  # type: ignore[union-attr]
        worker.run_once()
        # The job's thread gives its GPUs back just after it records the receipt.
        _wait(lambda: worker.slots.assignment() == {})
        status = json.loads((worker.config.data_dir / "status.json").read_text())
        assert status["availability"]["state"] == OWNER_USE
    finally:
        worker.stop()


def test_a_lease_service_runs_in_the_sandbox_on_its_gpus(tmp_path: Path) -> None:
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed (make setup installs it)")
    (tmp_path / "specs").mkdir()
    store = DirectorySpecStore(tmp_path / "specs")
    chain = FakeLeaseChain()
    service = JobSpec.model_validate(
        {
            "workload": {
                "kind": "command",
                "argv": ["sh", "-c", 'echo "$CUDA_VISIBLE_DEVICES $HOME" > /job/seen; exec sleep 600'],
            }
        }
    )
    store.publish(service)
    worker = _worker(tmp_path, chain, unsandboxed=False)
    worker.config.device = "auto"
    worker.slots.acquire(job_owner(1), 1)
    chain.open(2, 2, service.spec_hash())
    side = worker.lease_side
    assert side is not None
    try:
        side.supervisor.tick()
        seen = worker.config.data_dir / "leases" / "2" / "work" / "seen"
        _wait(lambda: seen.exists() and seen.read_text().strip())
        assert seen.read_text().split() == ["1,2", "/job"]
        assert worker.slots.assigned(lease_owner(2)) == [1, 2]
    finally:
        worker.stop()
