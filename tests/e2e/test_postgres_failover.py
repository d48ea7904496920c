"""Two oracle processes share one PostgreSQL store against anvil: both take intake while 1,000
receipts flow; the one holding the posting lease is killed with SIGKILL mid-flow; the other takes the
lease within 10 s and carries on. Every acknowledged receipt settles exactly once: one JobSettled per
job on-chain and not a single SettlementSkipped (which a second posting of a settled receipt would
produce)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from gpusettle.devnet import free_port
from gpusettle.oracle.store.postgres import lease_holder_pid
from tests.e2e.conftest import PORTS, World, make_world, wait_until
from tests.e2e.test_oracle_crash import Submitter
from tests.fixtures.postgres import empty_database

RECEIPTS = 1000
TAKEOVER_LIMIT_S = 10.0


@pytest.fixture(scope="module")
def pg_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, list[tuple[int, int]]]]:
    # One GPU per job, held to the end: offers of 255 slots, as many as the receipts need.
    anvil, world = make_world(
        tmp_path_factory.mktemp("pgfail"),
        gpu_count=1,
        offer_gpus=255,
        offers=-(-RECEIPTS // 255),
        stake=10_000_000 * 10**18,
    )
    try:
        accepted = world.jobs(RECEIPTS, max_gpu_seconds=100)
        time.sleep(2.1)  # every receipt's end time (accepted + 1 s) is in the past of the next block
        yield world, sorted(accepted.items())
    finally:
        for proc in world.processes:
            proc.stop()
        anvil.stop()


def _count(dsn: str, status: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM receipts WHERE status = %s", (status,)).fetchone()
    return int(row[0]) if row else 0


def _statuses(dsn: str, job_ids: set[int]) -> dict[int, str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT job_id, status FROM receipts WHERE job_id = ANY(%s)", (sorted(job_ids),)
        ).fetchall()
    return {int(j): str(s) for j, s in rows}


def test_kill_9_the_posting_oracle_of_two_sharing_postgres(
    pg_world: tuple[World, list[tuple[int, int]]], pg_dsn: str
) -> None:
    world, jobs = pg_world
    empty_database(pg_dsn)
    docs: dict[int, dict[str, Any]] = {
        job_id: world.sign(world.receipt(job_id, accepted, wall=1)) for job_id, accepted in jobs
    }
    extra = ("--batch-max", "50", "--max-in-flight", "2", "--store", pg_dsn)
    # Both are picked before either oracle binds its port, so the second pick must not repeat the first.
    first = free_port(*PORTS)
    second = free_port(*PORTS)
    while second == first:
        second = free_port(*PORTS)
    ports = {"pg-a": first, "pg-b": second}
    procs = {}
    urls = {}
    for name, port in ports.items():
        procs[name], urls[name] = world.start_oracle(name, *extra, port=port, data_dir=world.workdir / name)
    ids = sorted(docs)
    # Each instance gets half the receipts, and a tenth of all go to both (a worker retrying elsewhere).
    shares = {
        "pg-a": {j: docs[j] for j in ids if j % 2 == 0 or j % 10 == 1},
        "pg-b": {j: docs[j] for j in ids if j % 2 == 1},
    }
    submitters = {name: Submitter(urls[name], shares[name], threads=4).start() for name in ports}

    def leader() -> str | None:
        pid = lease_holder_pid(pg_dsn)
        return next((name for name, proc in procs.items() if proc.alive() and proc.pid == pid), None)

    wait_until(lambda: leader() is not None, 30, "one oracle to take the posting lease", world)
    wait_until(lambda: _count(pg_dsn, "settled") >= 150, 120, "settlements to get going", world)
    victim = leader()
    assert victim is not None
    survivor = next(name for name in procs if name != victim)
    procs[victim].kill9()
    killed_at = time.monotonic()
    in_flight = _count(pg_dsn, "posted") + _count(pg_dsn, "verified") + _count(pg_dsn, "received")
    assert in_flight > 0, "the kill came after everything was settled: nothing was left to take over"
    wait_until(lambda: leader() == survivor, TAKEOVER_LIMIT_S + 5, "the survivor to take the lease", world)
    takeover = time.monotonic() - killed_at
    assert takeover < TAKEOVER_LIMIT_S, f"the takeover took {takeover:.1f} s"
    # The killed instance comes back (its clients kept retrying) and waits as a standby.
    procs[victim], urls[victim] = world.start_oracle(
        victim, *extra, port=ports[victim], data_dir=world.workdir / victim
    )
    for submitter in submitters.values():
        submitter.join(120)
        assert submitter.done, "the submitters did not finish"
        assert not submitter.refused, submitter.refused
    acknowledged = set().union(*(s.acked for s in submitters.values()))
    assert acknowledged == set(ids)
    assert leader() == survivor  # a restarted standby does not take the lease from a live holder
    wait_until(
        lambda: set(_statuses(pg_dsn, acknowledged).values()) == {"settled"},
        180,
        "every acknowledged receipt to settle",
        world,
    )

    gs = world.net.gs
    settled: dict[int, int] = {}
    for event in gs.events("escrow", "JobSettled"):
        job_id = int(event.args["jobId"])
        settled[job_id] = settled.get(job_id, 0) + 1
    twice = sorted(j for j, n in settled.items() if n != 1)
    missing = sorted(j for j in acknowledged if j not in settled)
    assert not twice and not missing, f"settled more than once: {twice[:10]}; never: {missing[:10]}"
    assert not gs.events("escrow", "SettlementSkipped"), "a settled receipt was posted a second time"
    for proc in procs.values():
        proc.stop()
