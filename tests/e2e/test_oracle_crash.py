"""kill -9 the oracle at random moments while 200 receipts flow, five times (plus three crashes at the
exact worst points of posting): every acknowledged receipt settles exactly once, nothing is posted twice.

The submitters behave like workers: they retry until the oracle acknowledges. A receipt counts as
acknowledged once any answer was a 2xx (or 409 already_settled). "Exactly once" is checked on-chain:
one JobSettled event per acknowledged job, and not a single SettlementSkipped, which a second posting
of a settled receipt would produce.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gpusettle.devnet import free_port
from gpusettle.oracle.poster import CRASH_ENV
from tests.e2e.conftest import PORTS, World, make_world, until_receipts_can_end, wait_until

TRIALS = 5
PER_TRIAL = 200
CRASH_POINTS = ("batch_stored", "broadcast", "mined")


@pytest.fixture(scope="module")
def crash_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, list[tuple[int, int]]]]:
    total = PER_TRIAL * TRIALS + 20 * len(CRASH_POINTS)
    # Every job holds its GPU until the end (nothing releases settled jobs' GPUs here): offers of 255
    # 1-GPU slots, as many as the jobs need.
    anvil, world = make_world(
        tmp_path_factory.mktemp("crash"),
        gpu_count=1,
        offer_gpus=255,
        offers=-(-total // 255),
        stake=10_000_000 * 10**18,
    )
    try:
        accepted = world.jobs(total, max_gpu_seconds=100)
        until_receipts_can_end(accepted)
        yield world, sorted(accepted.items())
    finally:
        for proc in world.processes:
            proc.stop()
        anvil.stop()


class Submitter:
    """Threads posting receipts, retrying each until the oracle acknowledges it."""

    def __init__(self, url: str, docs: dict[int, dict[str, Any]], threads: int = 8) -> None:
        self.url = url
        self.docs = docs
        self.acked: set[int] = set()
        self.refused: dict[int, str] = {}
        self._todo = list(docs)
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def start(self) -> Submitter:
        for t in self._threads:
            t.start()
        return self

    def join(self, timeout: float) -> None:
        for t in self._threads:
            t.join(timeout)

    @property
    def done(self) -> bool:
        return not any(t.is_alive() for t in self._threads)

    def _run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while True:
                with self._lock:
                    if not self._todo:
                        return
                    job_id = self._todo.pop()
                while True:
                    try:
                        response = client.post(f"{self.url}/v1/receipts", json=self.docs[job_id])
                    except httpx.HTTPError:
                        time.sleep(0.05)
                        continue
                    if (
                        response.status_code in (200, 202)
                        or response.json().get("error") == "already_settled"
                    ):
                        with self._lock:
                            self.acked.add(job_id)
                        break
                    if 400 <= response.status_code < 500:
                        with self._lock:
                            self.refused[job_id] = response.text
                        break
                    time.sleep(0.05)


def run_trial(
    world: World,
    jobs: list[tuple[int, int]],
    data_dir: Path,
    port: int,
    rng: random.Random,
    crash_at: str | None = None,
) -> tuple[set[int], int]:
    docs = {job_id: world.sign(world.receipt(job_id, accepted, wall=1)) for job_id, accepted in jobs}
    extra = ("--batch-max", "25", "--max-in-flight", "2")
    env = {CRASH_ENV: crash_at} if crash_at else None
    oracle, url = world.start_oracle("oracle", *extra, port=port, data_dir=data_dir, env=env)
    submitter = Submitter(url, docs).start()
    kills = 0
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if crash_at is not None:
            # Wait for the oracle to die at the crash point, restart it once, then let the flow finish.
            if kills == 0 and not oracle.alive():
                kills += 1
                oracle, url = world.start_oracle("oracle", *extra, port=port, data_dir=data_dir)
            if kills >= 1 and submitter.done:
                break
            time.sleep(0.05)
            continue
        if kills >= 3 and submitter.done:
            break
        time.sleep(rng.uniform(0.05, 1.2))
        oracle.kill9()
        kills += 1
        oracle, url = world.start_oracle("oracle", *extra, port=port, data_dir=data_dir)
    submitter.join(60)
    assert submitter.done, "the submitters did not finish"
    assert not submitter.refused, submitter.refused
    gs = world.net.gs
    wait_until(
        lambda: all(gs.job(j).status == "Settled" for j in submitter.acked),
        90,
        "every acknowledged receipt to settle",
        world,
    )
    oracle.stop()
    return submitter.acked, kills


def test_kill_9_at_random_moments_settles_everything_acknowledged_exactly_once(
    crash_world: tuple[World, list[tuple[int, int]]],
) -> None:
    world, jobs = crash_world
    rng = random.Random(20261122)
    data_dir = world.workdir / "oracle-data"
    port = free_port(*PORTS)
    acknowledged: set[int] = set()
    total_kills = 0
    for trial in range(TRIALS):
        chunk = jobs[trial * PER_TRIAL : (trial + 1) * PER_TRIAL]
        acked, kills = run_trial(world, chunk, data_dir, port, rng)
        assert acked == {j for j, _ in chunk}  # every receipt was eventually acknowledged
        acknowledged |= acked
        total_kills += kills
    offset = TRIALS * PER_TRIAL
    for index, point in enumerate(CRASH_POINTS):
        chunk = jobs[offset + 20 * index : offset + 20 * (index + 1)]
        acked, kills = run_trial(world, chunk, data_dir, port, rng, crash_at=point)
        assert kills == 1, f"the oracle never reached crash point {point}"
        acknowledged |= acked
    assert total_kills >= 3 * TRIALS

    gs = world.net.gs
    settled: dict[int, int] = {}
    for event in gs.events("escrow", "JobSettled"):
        job_id = int(event.args["jobId"])
        settled[job_id] = settled.get(job_id, 0) + 1
    assert all(settled.get(j) == 1 for j in acknowledged), (
        "some acknowledged receipt did not settle exactly once"
    )
    assert not gs.events("escrow", "SettlementSkipped"), "a settled receipt was posted a second time"
    assert len(acknowledged) == TRIALS * PER_TRIAL + 20 * len(CRASH_POINTS)
