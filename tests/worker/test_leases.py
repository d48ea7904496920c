"""The lease supervisor with real service processes, development GPU slots and a fake chain view."""

from __future__ import annotations

import itertools
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gpusettle.models import JobSpec
from gpusettle.worker.leasechain import AvailabilityClass, LeaseStatus
from gpusettle.worker.leases import LeaseSupervisor
from gpusettle.worker.procgroup import remember
from gpusettle.worker.slots import SlotScheduler, job_owner, lease_owner
from gpusettle.worker.specstore import SpecUnavailable
from gpusettle.worker.state import WorkerState
from gpusettle.workloads.supervise import alive

from .fakechain import FakeLeaseChain

SERVICE = 'echo "$CUDA_VISIBLE_DEVICES $(date +%s.%N)" >> started; exec sleep 600'


def _spec(script: str = SERVICE, kind: str = "command") -> JobSpec:
    if kind == "matmul":
        return JobSpec.model_validate({"workload": {"kind": "matmul", "seed": 1, "n": 4, "repetitions": 1}})
    return JobSpec.model_validate({"workload": {"kind": "command", "argv": ["sh", "-c", script]}})


class Specs:
    def __init__(self) -> None:
        self.by_hash: dict[str, JobSpec] = {}

    def add(self, spec: JobSpec) -> str:
        self.by_hash[spec.spec_hash()] = spec
        return spec.spec_hash()

    def fetch(self, spec_hash: str) -> JobSpec:
        if spec_hash not in self.by_hash:
            raise SpecUnavailable(spec_hash)
        return self.by_hash[spec_hash]


def _wait(pred: Callable[[], object], timeout: float = 15.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[LeaseSupervisor, FakeLeaseChain, Specs]]:
    chain = FakeLeaseChain()
    specs = Specs()
    state = WorkerState(tmp_path / "worker.sqlite")
    sup = LeaseSupervisor(
        state=state,
        slots=SlotScheduler(state, (0, 1, 2, 3)),
        chain=chain,
        fetch_spec=specs.fetch,
        data_dir=tmp_path,
        allow_command=True,
        backoff_base=0.2,
        backoff_cap=5.0,
    )
    yield sup, chain, specs
    sup.stop_all()


def _starts(sup: LeaseSupervisor, lease_id: int) -> list[tuple[str, float]]:
    path = sup.data_dir / "leases" / str(lease_id) / "started"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        devices, at = line.split()
        out.append((devices, float(at)))
    return out


def test_a_lease_runs_on_its_own_gpus_beside_a_job_and_is_restarted_when_it_dies(
    setup: tuple[LeaseSupervisor, FakeLeaseChain, Specs],
) -> None:
    sup, chain, specs = setup
    assert sup.slots.acquire(job_owner(1), 1) == [0]  # a job runs on GPU 0
    chain.open(7, 2, specs.add(_spec()))
    assert sup.tick()
    assert chain.calls == [("accept", 7)]
    _wait(lambda: _starts(sup, 7))
    assert _starts(sup, 7)[0][0] == "1,2"
    assert sup.slots.assignment() == {job_owner(1): [0], lease_owner(7): [1, 2]}
    sup.tick()
    assert sup.row(7).state == "running"  # type: ignore[union-attr]
    first = sup.services[7].pid
    assert first is not None and alive(first)
    os.killpg(first, 9)  # the service dies
    _wait(lambda: len(_starts(sup, 7)) == 2)
    assert sup.services[7].pid not in (None, first)
    assert _starts(sup, 7)[1][0] == "1,2"  # back on the same GPUs
    _wait(lambda: sup.row(7).restarts == 1)  # type: ignore[union-attr]


def test_a_service_that_keeps_dying_is_restarted_with_growing_pauses(
    setup: tuple[LeaseSupervisor, FakeLeaseChain, Specs],
) -> None:
    sup, chain, specs = setup
    chain.open(3, 1, specs.add(_spec('echo "$CUDA_VISIBLE_DEVICES $(date +%s.%N)" >> started; exit 3')))
    sup.tick()
    _wait(lambda: len(_starts(sup, 3)) >= 4, timeout=10)
    times = [at for _, at in _starts(sup, 3)]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # 0.2, 0.4, 0.8 s (plus process start-up): each pause about twice the one before.
    assert gaps[0] >= 0.18 and gaps[1] >= 0.38 and gaps[2] >= 0.78, gaps
    assert gaps[2] > 1.5 * gaps[0], gaps


@pytest.mark.parametrize("ending", ["runway", "close", "end_time", "reclaim", "ended_on_chain"])
def test_the_service_stops_at_the_first_end_the_chain_says(
    setup: tuple[LeaseSupervisor, FakeLeaseChain, Specs], ending: str
) -> None:
    sup, chain, specs = setup
    chain.open(5, 1, specs.add(_spec()), deposit_seconds=1000, end_time=chain.t + 2000, notice=30)
    sup.tick()
    _wait(lambda: sup.services[5].pid)
    pid = sup.services[5].pid
    assert pid is not None
    sup.tick()
    assert sup.row(5).state == "running"  # type: ignore[union-attr]
    if ending == "runway":
        chain.t += 999
        sup.tick()
        assert alive(pid)  # one second of runway left: still serving
        chain.t += 1
    elif ending == "close":
        chain.close(5)
    elif ending == "end_time":
        chain.set(5, runway_end=chain.t + 10_000)
        chain.t += 2000
    elif ending == "reclaim":
        sup.reclaim(5)
        sup.tick()
        assert alive(pid)  # the notice is honoured: the service runs until billing ends
        chain.t += 30
    else:
        chain.set(5, status=LeaseStatus.ENDED)
    sup.tick()
    assert sup.row(5).state == "ended"  # type: ignore[union-attr]
    _wait(lambda: not alive(pid))
    assert 5 not in sup.services
    assert sup.slots.assignment() == {}
    reason = sup.row(5).reason or ""  # type: ignore[union-attr]
    expected = {
        "runway": "runway end",
        "close": "billing ended",
        "end_time": "end time",
        "reclaim": "billing ended",
        "ended_on_chain": "ended on-chain",
    }[ending]
    assert expected in reason, reason


def test_leases_that_cannot_run_here_are_declined_with_the_reason(
    setup: tuple[LeaseSupervisor, FakeLeaseChain, Specs],
) -> None:
    sup, chain, specs = setup
    chain.open(1, 1, specs.add(_spec(kind="matmul")))
    chain.open(2, 5, specs.add(_spec()))  # more GPUs than the machine has
    chain.open(
        3,
        1,
        "0x" + "ab" * 32,
    )  # spec never published ...
    chain.set(3, accept_by=chain.t + 3)  # ... and its acceptance deadline is near
    sup.tick()
    assert sorted(chain.calls) == [("decline", 1), ("decline", 2), ("decline", 3)]
    assert "command service" in (sup.row(1).reason or "")  # type: ignore[union-attr]
    assert "needs 5 GPU slot" in (sup.row(2).reason or "")  # type: ignore[union-attr]
    assert "never published" in (sup.row(3).reason or "")  # type: ignore[union-attr]
    sup.offer_check = lambda offer_id: (
        "offer 2 promises H100s; this machine has none" if offer_id == 2 else None
    )
    chain.open(6, 1, specs.add(_spec()), offer_id=2)
    sup.tick()
    assert ("decline", 6) in chain.calls and "H100" in (sup.row(6).reason or "")  # type: ignore[union-attr]
    sup.refuse_new = lambda: "the owner is using the GPUs"
    chain.open(4, 1, specs.add(_spec()))
    sup.tick()
    assert ("decline", 4) in chain.calls and sup.services == {}


def test_a_lease_waits_while_its_gpus_are_busy_then_runs(
    setup: tuple[LeaseSupervisor, FakeLeaseChain, Specs],
) -> None:
    sup, chain, specs = setup
    sup.slots.acquire(job_owner(1), 3)
    chain.open(9, 2, specs.add(_spec()))
    assert not sup.tick()
    assert chain.calls == [] and sup.row(9).state == "new"  # type: ignore[union-attr]
    sup.slots.release(job_owner(1))
    sup.tick()
    assert chain.calls == [("accept", 9)]
    _wait(lambda: _starts(sup, 9))


def test_a_restarted_worker_kills_the_left_service_and_starts_it_again_on_the_same_gpus(
    tmp_path: Path,
) -> None:
    chain = FakeLeaseChain()
    specs = Specs()
    spec_hash = specs.add(_spec())
    chain.open(4, 2, spec_hash)
    chain.accept(4)
    state = WorkerState(tmp_path / "worker.sqlite")
    slots = SlotScheduler(state, (0, 1, 2, 3))
    # What a crashed worker left: the lease running on slots 2 and 3, its service still alive.
    slots.acquire(job_owner(8), 2)
    slots.acquire(lease_owner(4), 2)
    slots.release(job_owner(8))
    now = time.time()
    state.execute(
        "INSERT INTO leases (lease_id, state, offer_id, gpu_count, spec_hash, created_at, updated_at) "
        "VALUES (4, 'running', 1, 2, ?, ?, ?)",
        (spec_hash, now, now),
    )
    left = subprocess.Popen(["sleep", "600"], start_new_session=True)
    remember(state, lease_owner(4), left.pid)
    sup = LeaseSupervisor(
        state=state, slots=slots, chain=chain, fetch_spec=specs.fetch, data_dir=tmp_path, allow_command=True
    )
    try:
        sup.recover()
        left.wait(timeout=10)  # killed
        sup.tick()
        _wait(lambda: _starts(sup, 4))
        assert _starts(sup, 4)[0][0] == "2,3"
        assert chain.calls == [("accept", 4)]  # accepted once, before the crash
    finally:
        sup.stop_all()
        if left.poll() is None:
            left.kill()


def test_stop_reason_takes_the_earliest_end() -> None:
    from gpusettle.worker.leasechain import LeaseInfo, stop_reason

    info = LeaseInfo(1, LeaseStatus.RUNNING, 1, 1, "0x", 0, 100, 500, 0, 400, AvailabilityClass.DEDICATED, 0)
    assert stop_reason(info, 399) is None
    assert "runway" in (stop_reason(info, 400) or "")
    assert stop_reason(info, 400) == stop_reason(info, 450)
