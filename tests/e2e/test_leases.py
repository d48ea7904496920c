"""Leases end to end against real processes: anvil (a block a second), the oracle and the worker (with
development GPU slots) as their own processes, heartbeats every second and a checkpoint every few.

One world for the module: the cases run one after the other on the same offer (4 GPUs, reclaimable
with a 3 s notice, 90% uptime guaranteed); each opens its own 2-GPU lease and checks, from the
chain's own events, that every period was paid once and that the balances moved by exactly what the
checkpoints say: the provider `up x rate` less the fee, the client the rest of its deposit back plus
any SLA penalty from the provider's collateral.
"""

from __future__ import annotations

import itertools
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gpusettle.chain.leases import Leases
from gpusettle.devnet import FastSender, ManagedProcess, free_port
from gpusettle.models import JobSpec
from gpusettle.workloads.supervise import alive

from .conftest import E18, PORTS, World, make_world, wait_until

NOTICE = 3
GUARANTEE_BPS = 9_000
LEASE_GPUS = 2
HOLD = "hold"  # while this file stands in the module's directory, the workload dies at once


@dataclass
class Leasing:
    """The module's world with its oracle and worker running."""

    world: World
    spec: JobSpec
    hold: Path
    owner_marker: Path
    oracle: ManagedProcess
    oracle_url: str
    oracle_port: int
    worker: ManagedProcess
    worker_args: tuple[str, ...]
    probe_url: str
    """The worker's probe server, which the oracle probes the leases through."""

    @property
    def gs(self) -> Any:
        return self.world.net.gs

    @property
    def escrow(self) -> Any:
        return self.gs.lease_escrow

    @property
    def offers(self) -> Leases:
        return Leases(self.gs)

    @property
    def rate(self) -> int:
        return LEASE_GPUS * self.gs.offer(self.world.offer_id).price_per_gpu_second

    def lease(self, lease_id: int) -> dict[str, Any]:
        view = self.escrow.functions.getLease(lease_id).call()
        names = [
            o["name"]
            for o in next(i for i in self.escrow.abi if i.get("name") == "getLease")["outputs"][0][
                "components"
            ]
        ]
        return dict(zip(names, view, strict=True))

    def balance(self, who: str) -> int:
        return int(self.gs.token.functions.balanceOf(who).call())

    def open(self, deposit: int, end_time: int = 0) -> int:
        """Open a lease of LEASE_GPUS at the offer's price, any class, from the client."""
        w = self.world
        sender = FastSender(self.gs, w.client)
        sender.call(self.gs.token, "approve", self.escrow.address, deposit)
        price = self.gs.offer(w.offer_id).price_per_gpu_second
        sender.call(
            self.escrow,
            "openLease",
            w.offer_id,
            LEASE_GPUS,
            price,
            2,
            0,
            bytes.fromhex(self.spec.spec_hash()[2:]),
            deposit,
            end_time,
            gas=400_000,
        )
        receipts = sender.wait()
        for event in self.gs.chain.decode_logs(receipts[-1]["logs"]):
            if event.name == "LeaseOpened":
                return int(event.args["leaseId"])
        raise AssertionError("openLease emitted no LeaseOpened")

    def send(self, account: Any, fn: str, *args: Any) -> Any:
        sender = FastSender(self.gs, account)
        sender.call(self.escrow, fn, *args, gas=500_000)
        return sender.wait()[-1]

    def settled(self, lease_id: int) -> list[dict[str, Any]]:
        logs = self.escrow.events.CheckpointSettled.get_logs(
            from_block=0, argument_filters={"leaseId": lease_id}
        )
        return sorted((dict(e["args"]) for e in logs), key=lambda a: a["fromTime"])

    def status(self, lease_id: int) -> int:
        return int(self.lease(lease_id)["status"])

    def service_pid(self, lease_id: int) -> int | None:
        db = self.world.workdir / "worker" / "worker.sqlite"
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            row = conn.execute(
                "SELECT value FROM meta WHERE key = ?", (f"pgroup:lease:{lease_id}",)
            ).fetchone()
        return int(str(row[0]).split()[0]) if row and row[0] else None

    def wait_checkpoints(self, lease_id: int, count: int, timeout: float = 40) -> None:
        wait_until(
            lambda: len(self.settled(lease_id)) >= count,
            timeout,
            f"{count} checkpoints of lease {lease_id}",
            self.world,
        )

    def wait_status(self, lease_id: int, status: int, timeout: float = 40) -> None:
        wait_until(
            lambda: self.status(lease_id) == status, timeout, f"lease {lease_id} status {status}", self.world
        )

    def restart_worker(self) -> None:
        self.worker = self.world.start_worker(self.oracle_url, *self.worker_args)

    def restart_oracle(self) -> None:
        self.oracle, _ = self.world.start_oracle("oracle", *oracle_args(), port=self.oracle_port)

    def probes(self) -> dict[str, float]:
        """The oracle's probe counters by outcome (its /metrics)."""
        text = httpx.get(f"{self.oracle_url}/metrics", timeout=10).text
        out = {"passed": 0.0, "failed": 0.0}
        for line in text.splitlines():
            if line.startswith("gpusettle_oracle_probes_total{"):
                labels, value = line.rsplit(" ", 1)
                out[labels.split('outcome="', 1)[1].split('"', 1)[0]] = float(value)
        return out

    def finish_and_check(self, lease_id: int, client_before: int) -> list[dict[str, Any]]:
        """After the lease Ended: each period paid once, the provider's earnings and the client's refund
        exactly what the checkpoints say; returns the checkpoints."""
        w = self.world
        lease = self.lease(lease_id)
        cps = self.settled(lease_id)
        assert cps, "no checkpoint settled"
        # Each period once: contiguous from the start to the billing end, no overlap, no gap.
        assert cps[0]["fromTime"] == lease["startedAt"]
        for a, b in itertools.pairwise(cps):
            assert b["fromTime"] == a["toTime"], cps
        assert cps[-1]["toTime"] == lease["billingEnd"]
        rate = self.rate
        for c in cps:
            period = c["toTime"] - c["fromTime"]
            assert c["upSeconds"] + c["downSeconds"] == period
            assert c["payout"] + c["fee"] == c["upSeconds"] * rate
            short = c["upSeconds"] * 10_000 < GUARANTEE_BPS * period
            want = ((GUARANTEE_BPS * period + 9_999) // 10_000 - c["upSeconds"]) * rate if short else 0
            assert c["penalty"] == want, c
        up = sum(c["upSeconds"] for c in cps)
        assert lease["upSeconds"] == up and lease["downSeconds"] == sum(c["downSeconds"] for c in cps)
        assert lease["paid"] == up * rate
        assert lease["refundable"] == lease["deposit"] - up * rate
        earned_before = self.balance(w.provider.address)
        self.send(w.provider, "withdrawEarnings")
        assert self.balance(w.provider.address) - earned_before == sum(c["payout"] for c in cps)
        if lease["refundable"]:  # a lease up all its runway has nothing left to claim
            self.send(w.client, "claimRefund", lease_id)
        penalties = sum(c["penalty"] for c in cps)
        assert self.balance(w.client.address) - client_before == penalties - up * rate
        return cps


def oracle_args() -> tuple[str, ...]:
    """Heartbeats every second, checkpoints every 4, and a probe of each lease about every 2 s through the
    provider's worker (a wrong, late or missing answer is down time). The oracle is not told where the worker
    is: the worker announces its probe URL itself (`--announce-url`)."""
    return (
        "--heartbeat-interval",
        "1",
        "--checkpoint-every",
        "4",
        "--checkpoint-lag",
        "2",
        "--lease-scan-every",
        "0.5",
        "--probe-every",
        "2",
    )


@pytest.fixture(scope="module")
def leasing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Leasing]:
    tmp = tmp_path_factory.mktemp("leases")
    anvil, w = make_world(tmp, gpu_count=LEASE_GPUS, offer_gpus=4, stake=100_000 * E18, block_time=1)
    try:
        gs = w.net.gs
        sender = FastSender(gs, w.provider)
        sender.call(gs.staking, "setOfferAvailability", w.offer_id, 1, NOTICE, GUARANTEE_BPS)
        sender.wait()
        hold = tmp / HOLD
        spec = JobSpec.model_validate(
            {
                "workload": {
                    "kind": "command",
                    "argv": ["sh", "-c", f"test -e {hold} && exit 7; exec sleep 600"],
                }
            }
        )
        oracle_port = free_port(*PORTS)
        probe_port = free_port(*PORTS)
        while probe_port == oracle_port:  # picked before either binds
            probe_port = free_port(*PORTS)
        probe_url = f"http://127.0.0.1:{probe_port}"
        oracle, url = w.start_oracle("oracle", *oracle_args(), port=oracle_port)
        put = httpx.put(f"{url}/v1/specs/{spec.spec_hash()}", content=spec.canonical_json(), timeout=10)
        assert put.status_code == 201, put.text
        marker = tmp / "owner-use"
        availability = tmp / "availability.toml"
        # The owner counts at once; the GPUs are rentable again after 2 idle seconds.
        availability.write_text("owner_minutes = 0\nidle_minutes = 0.034\nreclaim = true\n")
        args = (
            "--allow-command",
            "--unsandboxed",
            "--heartbeat-interval",
            "1",
            "--availability",
            str(availability),
            "--owner-use-marker",
            str(marker),
            "--probe-port",
            str(probe_port),
            "--announce-url",
            probe_url,
        )
        worker = w.start_worker(url, *args)
        yield Leasing(w, spec, hold, marker, oracle, url, oracle_port, worker, args, probe_url)
    finally:
        for proc in w.processes:
            proc.stop()
        anvil.stop()


def test_a_lease_runs_through_checkpoints_and_closes_with_exact_balances(leasing: Leasing) -> None:
    w = leasing.world
    before = leasing.balance(w.client.address)
    probes = leasing.probes()
    lease_id = leasing.open(deposit=leasing.rate * 600)
    leasing.wait_status(lease_id, 2)
    leasing.wait_checkpoints(lease_id, 3)
    # The oracle probed the lease through the worker (a seeded matmul, checked with Freivalds) and every answer
    # was right: a failed probe would have marked its bucket down.
    after = leasing.probes()
    assert after["passed"] > probes["passed"] and after["failed"] == probes["failed"], (probes, after)
    # ... at the URL the worker announced (the oracle was given none).
    known = httpx.get(f"{leasing.oracle_url}/v1/workers/{w.provider.address}/endpoint", timeout=10)
    assert known.status_code == 200 and known.json()["url"] == leasing.probe_url, known.text
    leasing.send(w.client, "closeLease", lease_id)
    leasing.wait_status(lease_id, 3)
    wait_until(lambda: leasing.service_pid(lease_id) is None, 15, "the service to stop at close", w)
    cps = leasing.finish_and_check(lease_id, before)
    assert len(cps) >= 4  # three periods and the final one
    up = sum(c["upSeconds"] for c in cps)
    total = cps[-1]["toTime"] - cps[0]["fromTime"]
    assert up >= total - 3, cps  # a healthy service: at most its first seconds before the first beat


def test_a_killed_workload_is_down_time_refunded_with_the_sla_penalty(leasing: Leasing) -> None:
    w = leasing.world
    before = leasing.balance(w.client.address)
    lease_id = leasing.open(deposit=leasing.rate * 600)
    leasing.wait_status(lease_id, 2)
    leasing.wait_checkpoints(lease_id, 1)
    wait_until(lambda: leasing.service_pid(lease_id) is not None, 15, "the service", w)
    pid = leasing.service_pid(lease_id)
    assert pid is not None
    leasing.hold.touch()  # its restarts die too, for a few seconds
    os.killpg(pid, signal.SIGKILL)
    time.sleep(5)
    leasing.hold.unlink()
    wait_until(lambda: leasing.service_pid(lease_id) not in (None, pid), 20, "the service restarted", w)
    settled = len(leasing.settled(lease_id))
    leasing.wait_checkpoints(lease_id, settled + 2)
    leasing.send(w.client, "closeLease", lease_id)
    leasing.wait_status(lease_id, 3)
    cps = leasing.finish_and_check(lease_id, before)
    down = sum(c["downSeconds"] for c in cps)
    assert down >= 4, cps  # the kill and the failed restarts, refunded (finish_and_check)
    assert any(c["penalty"] > 0 for c in cps), cps  # a period below the 90% guarantee


def test_a_worker_killed_9_and_restarted_neither_beats_nor_pays_twice(leasing: Leasing) -> None:
    w = leasing.world
    before = leasing.balance(w.client.address)
    lease_id = leasing.open(deposit=leasing.rate * 600)
    leasing.wait_status(lease_id, 2)
    leasing.wait_checkpoints(lease_id, 1)
    wait_until(lambda: leasing.service_pid(lease_id) is not None, 15, "the service", w)
    left = leasing.service_pid(lease_id)
    assert left is not None
    leasing.worker.kill9()
    leasing.restart_worker()
    wait_until(lambda: leasing.service_pid(lease_id) not in (None, left), 30, "the service started anew", w)
    assert not alive(left)  # what the killed worker left was killed, not run twice
    settled = len(leasing.settled(lease_id))
    leasing.wait_checkpoints(lease_id, settled + 2)
    leasing.send(w.client, "closeLease", lease_id)
    leasing.wait_status(lease_id, 3)
    leasing.finish_and_check(lease_id, before)
    # A bucket the killed worker had signed was re-sent as the same document, never signed anew: the
    # oracle (one heartbeat per lease and bucket) refused none of them as a different heartbeat.
    db = w.workdir / "worker" / "worker.sqlite"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        refused = conn.execute(
            "SELECT sequence FROM heartbeat_outbox WHERE lease_id = ? AND done = 2", (lease_id,)
        ).fetchall()
    assert refused == []


def test_the_oracle_killed_9_while_posting_pays_each_period_once(leasing: Leasing) -> None:
    w = leasing.world
    before = leasing.balance(w.client.address)
    lease_id = leasing.open(deposit=leasing.rate * 600)
    leasing.wait_status(lease_id, 2)
    db = w.workdir / "oracle" / "oracle.sqlite"

    def posting() -> bool:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            row = conn.execute(
                "SELECT COUNT(*) FROM checkpoint_batches b JOIN checkpoint_txs t ON t.batch_id = b.id "
                "WHERE b.status = 'pending' AND b.items LIKE ?",
                (f"%{lease_id}%",),
            ).fetchone()
        return bool(row[0])

    deadline = time.monotonic() + 40
    while not posting():
        assert time.monotonic() < deadline, "no checkpoint batch was ever in flight\n" + w.logs()
        time.sleep(0.02)
    leasing.oracle.kill9()
    time.sleep(1.5)  # the batch it sent lands meanwhile
    leasing.restart_oracle()
    settled = len(leasing.settled(lease_id))
    leasing.wait_checkpoints(lease_id, settled + 2)
    leasing.send(w.client, "closeLease", lease_id)
    leasing.wait_status(lease_id, 3)
    leasing.finish_and_check(lease_id, before)


def test_owner_use_reclaims_the_lease_with_its_notice_and_pauses_the_offer(leasing: Leasing) -> None:
    w = leasing.world
    before = leasing.balance(w.client.address)
    lease_id = leasing.open(deposit=leasing.rate * 600)
    leasing.wait_status(lease_id, 2)
    leasing.wait_checkpoints(lease_id, 1)
    leasing.owner_marker.touch()  # the fake-slot equivalent of a GPU process the worker did not start
    wait_until(lambda: leasing.lease(lease_id)["billingEnd"] != 0, 20, "the reclaim", w)
    reclaimed = leasing.escrow.events.LeaseReclaimed.get_logs(
        from_block=0, argument_filters={"leaseId": lease_id}
    )
    assert len(reclaimed) == 1
    block = leasing.gs.chain.w3.eth.get_block(reclaimed[0]["blockNumber"])
    end = int(reclaimed[0]["args"]["billingEnd"])
    assert end == int(block["timestamp"]) + NOTICE  # the notice is the lease's
    assert leasing.offers.offer_availability(w.offer_id).paused  # no new work while the owner uses it
    # The service runs through the notice and stops at its end.
    while leasing.gs.chain.timestamp() < end - 1:
        assert leasing.service_pid(lease_id) is not None, "the service stopped before the notice ended"
        time.sleep(0.2)
    leasing.wait_status(lease_id, 3)
    wait_until(
        lambda: leasing.service_pid(lease_id) is None, 15, "the service to stop at the notice's end", w
    )
    leasing.finish_and_check(lease_id, before)
    leasing.owner_marker.unlink()


def test_runway_reaching_zero_stops_the_workload_and_billing_together(leasing: Leasing) -> None:
    w = leasing.world
    before = leasing.balance(w.client.address)
    # The owner's use of the last case is over: the worker resumes the offer after the idle time.
    wait_until(lambda: not leasing.offers.offer_availability(w.offer_id).paused, 30, "the offer resumed", w)
    lease_id = leasing.open(deposit=leasing.rate * 10)
    leasing.wait_status(lease_id, 2)
    runway = int(leasing.lease(lease_id)["runwayEnd"])
    wait_until(lambda: leasing.service_pid(lease_id) is not None, 15, "the service", w)
    wait_until(lambda: leasing.service_pid(lease_id) is None, 30, "the service to stop at the runway end", w)
    assert leasing.gs.chain.timestamp() >= runway - 1
    leasing.wait_status(lease_id, 3)
    cps = leasing.finish_and_check(lease_id, before)
    assert cps[-1]["toTime"] == runway  # billing stopped with the workload, not a second later
