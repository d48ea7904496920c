"""Settled jobs' GPUs go back to their offers (issue 11, capacity): the worker's releaser and
`gpusettle provider release-gpus`, against a real anvil.

Settlement leaves a job's GPUs reserved (the settle gas target), so an offer with N GPUs takes no new job
after N GPUs' worth of settled jobs until someone calls `releaseJobGpus`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gpusettle.chain import DecodedContractError, Gpusettle
from gpusettle.worker.gpurelease import GpuReleaser
from gpusettle.worker.runner import Worker, WorkerConfig
from gpusettle.worker.state import WorkerState
from gpusettle.worker.submit import OracleClient
from tests.cli.settled_world import GPUS, SPEC, World, settled_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with settled_world(tmp_path_factory.mktemp("release")) as w:
        yield w


def _worker_state(path: Path, job_ids: list[int]) -> WorkerState:
    """The worker's state with these jobs settled, as the submitter leaves them."""
    state = WorkerState(path)
    for job_id in job_ids:
        state.add_job(job_id, "0x" + SPEC.hex(), 1000, 1, 0, 0)
        state.update(job_id, state="settled")
    return state


def test_the_worker_daemon_gives_back_gpus_of_jobs_it_sees_settle(world: World, tmp_path: Path) -> None:
    """The Worker's own loops: the submitter learns from the oracle that its N one-GPU jobs settled, the
    watcher then releases their GPUs, and the full offer takes a new job again."""
    ids = world.settled_jobs(GPUS)
    assert world.free_gpus() == 0
    with pytest.raises(DecodedContractError) as full:
        world.plan_create()
    assert "Capacity" in full.value.name or "NoLongerFits" in full.value.name, full.value

    record = world.net.gs.record
    url = world.net.anvil.url

    def oracle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"status": "settled", "tx_hash": "0x" + "ee" * 32})

    worker = Worker(
        WorkerConfig(
            data_dir=tmp_path / "worker",
            provider=world.accounts["provider"].address,
            oracle_url="http://oracle",
            status_every=0.0,
            confirmations=1,
        ),
        lambda: Gpusettle.connect(url, record),
        world.accounts["worker"],
    )
    worker._oracle_client = OracleClient("http://oracle", transport=httpx.MockTransport(oracle))
    worker.state.set_meta("last_block", str(world.net.gs.chain.block_number()))  # these jobs are known
    for job_id in ids:
        worker.state.add_job(job_id, "0x" + SPEC.hex(), 1000, 1, 0, 0)
        worker.state.update(job_id, state="submitted")
    worker.watch_once()
    assert world.free_gpus() == 0  # nothing settled in the worker's eyes yet: nothing released
    assert worker.submit_once() is True
    assert [j.job_id for j in worker.state.jobs("settled")] == ids
    assert worker.watch_once() is True
    assert world.free_gpus() == GPUS
    assert worker.gpu_releaser.pending() == []
    world.plan_create()  # fits now


def test_releaser_backs_off_survives_a_restart_and_batches(world: World, tmp_path: Path) -> None:
    ids = world.settled_jobs(GPUS)
    assert world.free_gpus() == 0
    now = [1000.0]
    state = _worker_state(tmp_path / "worker.sqlite", ids)
    # A worker key without ETH for gas: the transaction fails, nothing is recorded, a retry is scheduled.
    broke = GpuReleaser(state, world.accounts["broke"], batch=2, clock=lambda: now[0])
    assert broke.release_due(world.net.gs) is False
    assert broke.pending() == ids and broke.next_at > now[0] and broke.attempts == 1
    assert broke.release_due(world.net.gs) is False  # inside the backoff: not even tried
    assert broke.attempts == 1

    # After a restart (a new releaser on the same file), the real worker key releases them in batches of 2.
    releaser = GpuReleaser(WorkerState(tmp_path / "worker.sqlite"), world.accounts["worker"], batch=2)
    assert releaser.pending() == ids
    assert releaser.release_due(world.net.gs) is True
    assert releaser.pending() == ids[2:]
    assert releaser.release_due(world.net.gs) is True
    assert releaser.pending() == [] and releaser.release_due(world.net.gs) is False
    assert world.free_gpus() == GPUS
    rows = state.execute("SELECT job_id, how, tx FROM gpu_releases ORDER BY job_id")
    assert [(r[0], r[1]) for r in rows] == [(j, "released") for j in ids] and all(r[2] for r in rows)
    world.plan_create()  # fits now


def test_worker_records_jobs_someone_else_released_without_error(world: World, tmp_path: Path) -> None:
    ids = world.settled_jobs(1)
    out = world.cli.json("provider", "release-gpus", str(ids[0]), "-a", "provider", "--yes")
    assert out["released"] == ids
    releaser = GpuReleaser(_worker_state(tmp_path / "w.sqlite", ids), world.accounts["worker"])
    assert releaser.release_due(world.net.gs) is True
    assert releaser.pending() == [] and releaser.attempts == 0
    rows = releaser.state.execute("SELECT how FROM gpu_releases")
    assert rows == [("already",)]


def test_cli_release_gpus_plan_yes_json_and_nothing_to_release(world: World, tty: None) -> None:
    gs = world.cli
    ids = world.settled_jobs(2)
    assert world.free_gpus() == GPUS - 2
    # The plan is shown and asked; answering no sends nothing.
    refused = gs("provider", "release-gpus", "-a", "provider", input="n\n", ok=False)
    assert "give the GPUs of settled job(s)" in refused.output and "Send 1 transaction(s)?" in refused.output
    assert f"{ids[0]}, {ids[1]}" in refused.output
    assert world.free_gpus() == GPUS - 2
    # --yes, human output.
    done = gs("provider", "release-gpus", "-a", "provider", "--yes")
    assert f"released the GPUs of 2 job(s): {ids[0]}, {ids[1]}" in done.stdout
    assert world.free_gpus() == GPUS
    # Nothing left: a clear message, exit 0, and JSON says the same.
    none = gs("provider", "release-gpus", "-a", "provider", "--yes")
    assert "nothing to release: no settled job of" in none.stdout
    data = json.loads(gs("provider", "release-gpus", "-a", "provider", "--yes", "--json").stdout)
    assert data["released"] == [] and data["txs"] == []
    # Named jobs already released, and a job that is not settled: error + hint, no traceback.
    again = gs("provider", "release-gpus", str(ids[0]), "-a", "provider", "--yes", ok=False)
    assert "were released already" in again.output and "hint:" in again.output
    plan = world.plan_create()
    world.net.gs.send(plan, world.accounts["client"])
    open_job = world.net.gs.job_count()
    running = gs("provider", "release-gpus", str(open_job), "-a", "provider", "--yes", ok=False)
    assert f"job {open_job} is Open" in running.output and "hint:" in running.output
