"""GPU slots: each job and lease gets its own GPUs, several run at once, a restart keeps the assignment.

No GPU is needed: the slots are development slots (`--simulate-gpus N`), and the jobs are real
processes that write down the CUDA_VISIBLE_DEVICES they were given.
"""

from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from eth_account import Account

from gpusettle.errors import GpusettleError
from gpusettle.models import JobSpec
from gpusettle.worker.runner import Worker, WorkerConfig
from gpusettle.worker.slots import SlotScheduler, job_owner, lease_owner
from gpusettle.worker.state import WorkerState


def _scheduler(path: Path, n: int) -> SlotScheduler:
    return SlotScheduler(WorkerState(path / "worker.sqlite"), tuple(range(n)))


def test_concurrent_jobs_and_leases_never_share_a_slot(tmp_path: Path) -> None:
    slots = _scheduler(tmp_path, 8)
    other = _scheduler(tmp_path, 8)  # a second connection to the same state, as a second thread has
    holding: dict[int, str] = {}
    lock = threading.Lock()
    clashes: list[str] = []
    acquired = [0]

    def work(owner: str, count: int, scheduler: SlotScheduler) -> None:
        rng = random.Random(owner)
        for _ in range(15):
            got = scheduler.acquire(owner, count)
            if got is None:
                time.sleep(rng.uniform(0.001, 0.005))
                continue
            assert len(got) == count
            with lock:
                for s in got:
                    if s in holding:
                        clashes.append(f"slot {s} given to {owner} while {holding[s]} holds it")
                    holding[s] = owner
                acquired[0] += 1
            time.sleep(rng.uniform(0.001, 0.004))
            with lock:
                for s in got:
                    holding.pop(s, None)
            scheduler.release(owner)

    owners = [(job_owner(i), 1 + i % 3) for i in range(6)] + [(lease_owner(i), 1 + i % 4) for i in range(6)]
    threads = [
        threading.Thread(target=work, args=(o, c, slots if i % 2 else other))
        for i, (o, c) in enumerate(owners)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert clashes == []
    assert acquired[0] >= 12  # the threads really got slots (and overlapped: 8 slots, 12 owners)
    assert slots.assignment() == {}


def test_a_restart_rebuilds_the_assignment_without_double_assigning(tmp_path: Path) -> None:
    first = _scheduler(tmp_path, 4)
    assert first.acquire(job_owner(1), 2) == [0, 1]
    assert first.acquire(lease_owner(9), 1) == [2]
    assert first.acquire(job_owner(2), 2) is None  # one free slot only: it waits
    first.state.close()

    again = _scheduler(tmp_path, 4)  # the worker restarted
    assert again.assignment() == {job_owner(1): [0, 1], lease_owner(9): [2]}
    assert again.acquire(job_owner(1), 2) == [0, 1]  # the same GPUs back, nothing new taken
    assert again.acquire(job_owner(2), 1) == [3]
    assert again.acquire(job_owner(3), 1) is None
    assert again.reconcile(lambda owner: owner != job_owner(1)) == [job_owner(1)]
    assert again.acquire(job_owner(3), 2) == [0, 1]


def test_more_gpus_than_the_machine_has_is_refused_with_a_reason(tmp_path: Path) -> None:
    slots = _scheduler(tmp_path, 2)
    with pytest.raises(GpusettleError, match="needs 3 GPU slot"):
        slots.acquire(job_owner(1), 3)
    assert slots.assignment() == {}


# -- the worker runs several jobs at once, each on its own slots --------------------------------------


def _worker(tmp_path: Path, slots: int) -> Worker:
    fake: Any = SimpleNamespace(
        chain=SimpleNamespace(chain_id=31337), escrow=SimpleNamespace(address="0x" + "11" * 20)
    )
    return Worker(
        WorkerConfig(
            data_dir=tmp_path / "worker",
            provider="0x" + "22" * 20,
            oracle_url="http://127.0.0.1:9",
            allow_command=True,
            unsandboxed=True,
            confirmations=1,
            dev_gpu_slots=slots,
        ),
        lambda: fake,
        Account.create(),
    )


def _accepted_job(worker: Worker, job_id: int, gpus: int, marker: Path) -> None:
    script = (
        f'echo "$CUDA_VISIBLE_DEVICES $(date +%s.%N)" > {marker}/{job_id}.start; sleep 1.2; '
        f"date +%s.%N > {marker}/{job_id}.end"
    )
    spec = JobSpec.model_validate({"workload": {"kind": "command", "argv": ["sh", "-c", script]}})
    now = int(time.time())
    worker.state.add_job(job_id, spec.spec_hash(), 600, gpus, now + 60, now + 3600)
    worker.state.update(
        job_id, state="accepted", accepted_at=now, gpu_count=gpus, spec=spec.model_dump_json()
    )


def _wait(pred: Any, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_jobs_run_at_once_on_disjoint_gpus_and_wait_for_busy_ones(tmp_path: Path) -> None:
    worker = _worker(tmp_path, 4)
    marker = tmp_path / "marks"
    marker.mkdir()
    lease_slots = worker.slots.acquire(lease_owner(5), 1)  # a running lease holds one GPU
    assert lease_slots == [0]
    for job_id, gpus in ((1, 2), (2, 1), (3, 2)):
        _accepted_job(worker, job_id, gpus, marker)
    try:
        assert worker.run_once()
        # Jobs 1 and 2 fit beside the lease (3 slots); job 3 needs 2 and waits.
        assert set(worker._running) == {1, 2}
        assert worker.state.job(3).state == "accepted"  # type: ignore[union-attr]
        _wait(lambda: all(worker.state.job(j).state == "receipted" for j in (1, 2)))  # type: ignore[union-attr]
        worker.run_once()
        _wait(lambda: worker.state.job(3).state == "receipted")  # type: ignore[union-attr]
    finally:
        worker.stop()
    seen = {}
    for j in (1, 2, 3):
        devices, start = (marker / f"{j}.start").read_text().split()
        seen[j] = (set(devices.split(",")), float(start), float((marker / f"{j}.end").read_text()))
    assert seen[1][0] == {"1", "2"} and seen[2][0] == {"3"}
    assert not (seen[1][0] | seen[2][0]) & {"0"}  # never the lease's GPU
    assert seen[1][1] < seen[2][2] and seen[2][1] < seen[1][2]  # 1 and 2 overlapped in time
    assert seen[3][1] >= min(seen[1][2], seen[2][2]) - 0.05  # 3 started only once GPUs were free
    assert len(seen[3][0]) == 2 and "0" not in seen[3][0]
    # Jobs keep their receipts as before: billed for their own GPU count.
    for j, gpus in ((1, 2), (2, 1), (3, 2)):
        sub = json.loads(worker.state.job(j).submission or "{}")  # type: ignore[union-attr]
        assert sub["receipt"]["outcome"] == 0 and 1 <= sub["receipt"]["gpuSeconds"] <= 4 * gpus
    assert worker.slots.assignment() == {lease_owner(5): [0]}  # the jobs' slots were released


def test_a_restarted_worker_keeps_a_waiting_jobs_slots_and_frees_a_finished_ones(tmp_path: Path) -> None:
    worker = _worker(tmp_path, 3)
    marker = tmp_path / "marks"
    marker.mkdir()
    _accepted_job(worker, 1, 2, marker)
    worker.slots.acquire(job_owner(1), 2)
    worker.slots.acquire(job_owner(7), 1)  # a job that finished while the worker crashed
    worker.state.close()
    again = _worker(tmp_path, 3)
    again.recover()
    assert again.slots.assignment() == {job_owner(1): [0, 1]}


def test_the_cpu_slot_runs_work_of_any_gpu_count_one_at_a_time(tmp_path: Path) -> None:
    cpu = SlotScheduler(WorkerState(tmp_path / "worker.sqlite"), (0,), cpu_only=True)
    assert cpu.fits(4) and cpu.need(4) == 1  # a CPU offer's "GPU" count only scales its price
    assert cpu.acquire(job_owner(1), cpu.need(4)) == [0]
    assert cpu.acquire(job_owner(2), cpu.need(1)) is None
    dev = _scheduler(tmp_path / "dev", 2)
    assert not dev.fits(3) and dev.need(2) == 2
