"""`python -m gpusettle.demo` (`make demo`): a GPU job from nothing to a settled payment, on a local chain.

It starts anvil on a free port, deploys the suite with gpusettle.deploy, creates throwaway keys in
encrypted keystores in a temporary directory (provider, worker, client, oracle, arbiter), funds and
stakes the provider, publishes an offer describing this machine's real GPU (NVML) or its CPU, opens a
seeded `matmul` job, runs `gpusettle worker run` and `gpusettle oracle run` as separate processes,
waits for the settlement and prints what happened and what it cost. Every process it started is
stopped before it exits, whatever happens. It ends by indexing its chain and printing the URL of the
explorer over it; with --explore (`make demo EXPLORE=1`) anvil, the index and the explorer keep running
until Ctrl-C. The work directory (logs, stores, keystores) is kept when the demo fails, and on success
too with --keep (`make demo KEEP=1`).

The local-network parts (anvil, deployment, throwaway keys, fast sending) live in gpusettle.devnet.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from hexbytes import HexBytes

from .chain import Gpusettle
from .chain.logs import reader_for
from .demo_explore import EXPLORE_HINT, ExplorerServer, index_chain, wait_for_stop
from .demo_lease import LEASE_GPUS, ORACLE_ARGS, WORKER_ARGS, DemoLease, LeaseOutcome, lease_spec
from .devnet import E18, Anvil, DevNet, FastSender, ManagedProcess, free_port, wait_port
from .errors import GpusettleError
from .models import JobSpec, MatmulWorkload
from .units import format_units

__all__ = ["Hardware", "detect_hardware", "main", "run_demo"]

OPTIONS_HELP = (
    "options: --keep keeps the work directory after a successful run (make demo KEEP=1); "
    "--explore keeps the chain, its index and the explorer running until Ctrl-C (make demo EXPLORE=1); "
    "--n N and --repetitions R size the job (make demo DEMO_ARGS='--n 512 --repetitions 10'); "
    "a failed run always keeps it"
)


@dataclass
class Hardware:
    """What the offer describes: this machine's GPUs (NVML) or, without one, its CPU."""

    model: str
    count: int
    memory_gb: int
    kind: str
    note: str


def detect_hardware() -> Hardware:
    """The machine's GPUs as NVML reports them, else the CPU."""
    from .worker.nvml import probe_gpus

    gpus, why = probe_gpus()
    if gpus:
        return Hardware(
            gpus[0].name,
            min(len(gpus), 255),
            gpus[0].memory_gb,
            "gpu",
            f"{len(gpus)} x {gpus[0].name} ({gpus[0].memory_gb} GB) via NVML",
        )
    cpu = "CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or "CPU"
    try:
        memory = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30)
    except (ValueError, OSError, AttributeError):
        memory = 1
    cores = os.cpu_count() or 1
    return Hardware(
        f"CPU: {cpu} ({cores} cores)", 1, max(memory, 1), "cpu", f"no GPU ({why}); the offer is this CPU"
    )


class _Clock:
    def __init__(self) -> None:
        self.steps: list[tuple[str, float, int]] = []
        self._start = time.perf_counter()
        self._t = self._start

    def step(self, name: str, gas: int = 0) -> None:
        now = time.perf_counter()
        self.steps.append((name, now - self._t, gas))
        self._t = now
        print(f"  [{now - self._start:6.1f}s] {name}", flush=True)

    @property
    def total(self) -> float:
        return time.perf_counter() - self._start


def _gas_of(receipts: Sequence[Any]) -> int:
    return sum(int(r["gasUsed"]) for r in receipts)


def _python() -> list[str]:
    return [sys.executable]


def run_demo(workdir: Path, *, n: int | None, repetitions: int | None, explore: bool = False) -> int:
    """The whole demo in `workdir`; returns the exit status. The caller keeps or deletes `workdir`.

    With `explore`, it ends by serving the explorer over its chain until Ctrl-C or SIGTERM."""
    clock = _Clock()
    hardware = detect_hardware()
    print(f"gpusettle demo: one GPU job from nothing to a settled payment (work dir {workdir})")
    print(f"hardware: {hardware.note}")
    processes: list[ManagedProcess] = []
    explorer: ExplorerServer | None = None
    # A block every second as well: a lease's billing follows the chain's clock.
    anvil = Anvil(port=free_port(), log_path=workdir / "logs" / "anvil.log", block_time=1, mixed_mining=True)
    try:
        anvil.start()
        clock.step(f"started anvil on {anvil.url}")
        net = DevNet(anvil, workdir)
        names = ("provider", "worker", "client", "oracle", "arbiter", "treasury")
        keys = net.new_accounts(names[:-1], eth=10)
        keys["treasury"] = net.new_account("treasury", eth=0)
        clock.step(
            f"created {len(names)} throwaway keys in encrypted keystores ({net.keystore_dir}) and funded them"
        )
        record = net.deploy(
            [keys["oracle"].address], arbiter=keys["arbiter"].address, treasury=keys["treasury"].address
        )
        deploy_gas = sum(
            int(net.gs.chain.w3.eth.get_transaction_receipt(HexBytes(h))["gasUsed"])
            for h in record.tx_hashes.values()
        )
        clock.step(
            f"deployed the suite with gpusettle.deploy (escrow {record.addresses['escrow']})", deploy_gas
        )
        gs = net.gs
        price = 10**15  # 0.001 token per GPU-second
        stake = 10_000 * E18
        net.fund_tokens({keys["provider"].address: stake, keys["client"].address: 1_000 * E18})
        # The lease takes two GPU slots beside the job: development slots on a machine without GPUs.
        leasing = hardware.kind != "gpu" or hardware.count > LEASE_GPUS
        dev_slots = hardware.count + LEASE_GPUS if hardware.kind != "gpu" else None
        offered = dev_slots or hardware.count
        job_gpus = offered - LEASE_GPUS if leasing else offered
        sender = FastSender(gs, keys["provider"])
        sender.call(gs.token, "approve", gs.staking.address, stake)
        sender.call(gs.staking, "stake", stake)
        sender.call(gs.staking, "setWorker", keys["worker"].address)
        sender.call(
            gs.staking,
            "addOffer",
            hardware.model[:256],
            offered,
            hardware.memory_gb,
            price,
            f"gpusettle-demo://{platform.node()}",
        )
        setup = sender.wait()
        offer_id = gs.offer_count()
        clock.step(
            f"provider staked {format_units(stake)} GPUC, named its worker key and published offer {offer_id}: "
            f"{offered} x {hardware.model}" + (f" ({dev_slots} development GPU slots)" if dev_slots else ""),
            _gas_of(setup),
        )

        oracle_port = free_port()
        oracle_url = f"http://127.0.0.1:{oracle_port}"
        env = net.child_env()
        assert net.record_path is not None
        common = [
            "--rpc-url",
            anvil.url,
            "--deployment",
            str(net.record_path),
            "--keystore",
            str(net.keystore_dir),
        ]
        oracle_proc = ManagedProcess(
            "oracle",
            [
                *_python(),
                "-m",
                "gpusettle.oracle",
                "run",
                *common,
                "--account",
                "oracle",
                "--arbiter-account",
                "arbiter",
                "--data-dir",
                str(workdir / "oracle"),
                "--port",
                str(oracle_port),
                "--batch-wait",
                "0.1",
                *ORACLE_ARGS,
            ],
            workdir / "logs" / "oracle.log",
            env,
        )
        worker_proc = ManagedProcess(
            "worker",
            [
                *_python(),
                "-m",
                "gpusettle.worker",
                "run",
                *common,
                "--account",
                "worker",
                "--provider",
                keys["provider"].address,
                "--oracle",
                oracle_url,
                "--data-dir",
                str(workdir / "worker"),
                "--poll-interval",
                "0.3",
                *WORKER_ARGS,
                *(["--dev-gpu-slots", str(dev_slots)] if dev_slots else []),
            ],
            workdir / "logs" / "worker.log",
            env,
        )
        processes += [oracle_proc.start(), worker_proc.start()]
        wait_port(oracle_port, oracle_proc.process, 60, "the oracle")
        clock.step(
            f"started the oracle (pid {oracle_proc.pid}, {oracle_url}) and the worker (pid {worker_proc.pid})"
        )

        gpu = hardware.kind == "gpu"
        size = n or (4096 if gpu else 1024)
        reps = repetitions or (200 if gpu else 40)
        spec = JobSpec(
            workload=MatmulWorkload(
                kind="matmul", seed=secrets.randbits(32), n=size, repetitions=reps, dtype="float32"
            )
        )
        put = httpx.put(
            f"{oracle_url}/v1/specs/{spec.spec_hash()}", content=spec.canonical_json(), timeout=10
        )
        if put.status_code != 201:
            raise GpusettleError(f"the oracle refused the spec: {put.text}")
        client_balance_before = gs.token_balance(keys["client"].address)
        max_gpu_seconds = 600 * job_gpus
        jobs = FastSender(gs, keys["client"])
        jobs.call(gs.token, "approve", gs.escrow.address, max_gpu_seconds * price)
        deadline = gs.chain.timestamp() + 3600
        jobs.call(
            gs.escrow,
            "createJob",
            offer_id,
            max_gpu_seconds,
            deadline,
            bytes.fromhex(spec.spec_hash()[2:]),
            job_gpus,
            price,
            gas=400_000,
        )
        created = jobs.wait()
        job_id = gs.job_count()
        clock.step(
            f"client published the spec ({size}x{size} float32 matmul x {reps}) and opened job {job_id}: "
            f"up to {max_gpu_seconds:,} GPU-seconds, deposit {format_units(max_gpu_seconds * price)} GPUC",
            _gas_of(created),
        )

        lease: DemoLease | None = None
        if leasing:
            service = lease_spec(workdir)
            put = httpx.put(
                f"{oracle_url}/v1/specs/{service.spec_hash()}", content=service.canonical_json(), timeout=10
            )
            if put.status_code != 201:
                raise GpusettleError(f"the oracle refused the lease's spec: {put.text}")
            lease = DemoLease(gs, keys["client"], keys["provider"], offer_id, price, service, workdir)
            open_gas = lease.open()
            clock.step(
                f"client opened lease {lease.lease_id} on {LEASE_GPUS} GPU slots beside the job: deposit "
                f"{format_units(lease.deposit)} GPUC, billed per second",
                open_gas,
            )
        else:
            print(
                f"lease: not run (it needs {LEASE_GPUS} GPUs beside the job's; this machine has {hardware.count})"
            )

        accepted = _wait_for(
            lambda: gs.job(job_id).status != "Open", 60, "the worker to accept the job", processes
        )
        del accepted
        accept_logs = gs.events("escrow", "JobAccepted", jobId=job_id)
        accept_gas = 0
        if accept_logs:
            accept_tx = _event_tx(gs, "JobAccepted", job_id)
            accept_gas = int(gs.chain.w3.eth.get_transaction_receipt(HexBytes(accept_tx))["gasUsed"])
        clock.step("the worker accepted the job", accept_gas)
        _wait_for(
            lambda: gs.job(job_id).status not in ("Open", "Running"),
            300,
            "the job to run, be receipted, verified and settled",
            processes,
        )
        job = gs.job(job_id)
        if job.status != "Settled":
            raise GpusettleError(f"job {job_id} ended {job.status}, not Settled; see {workdir / 'logs'}")
        settle_tx = _event_tx(gs, "JobSettled", job_id)
        settle_receipt = gs.chain.w3.eth.get_transaction_receipt(HexBytes(settle_tx))
        settled_event = next(
            e for e in gs.chain.decode_logs(settle_receipt["logs"]) if e.name == "JobSettled"
        )
        clock.step(
            f"the oracle verified the result (Freivalds) and settled it in tx {settle_tx}",
            int(settle_receipt["gasUsed"]),
        )

        refund_sender = FastSender(gs, keys["client"])
        refund_sender.call(gs.escrow, "claimRefunds", [job_id])
        provider_sender = FastSender(gs, keys["provider"])
        provider_sender.call(gs.escrow, "withdrawEarnings")
        fees_sender = FastSender(gs, keys["client"])
        fees_sender.call(gs.escrow, "withdrawFees")
        claims = refund_sender.wait() + provider_sender.wait() + fees_sender.wait()
        clock.step(
            "the client claimed its refund, the provider withdrew its earnings, fees went to the treasury",
            _gas_of(claims),
        )

        lease_outcome: LeaseOutcome | None = None
        if lease is not None:

            def wait(predicate: Any, timeout: float, what: str) -> None:
                _wait_for(predicate, timeout, what, processes)

            wait(lambda: len(lease.settled()) >= 1, 60, "the lease's first checkpoint")
            clock.step(f"the worker runs lease {lease.lease_id}; the oracle settled its first checkpoint")
            killed_at = lease.kill_once(workdir / "worker" / "worker.sqlite", wait)
            wait(
                lambda: any(int(c["toTime"]) > killed_at + 3 for c in lease.settled()),
                60,
                "a checkpoint past the kill",
            )
            down = sum(int(c["downSeconds"]) for c in lease.settled())
            clock.step(f"killed the lease's workload once: the worker restarted it; {down} s down so far")
            lease_outcome, lease_gas = lease.close_and_settle(wait)
            clock.step(
                "the client closed the lease; its final checkpoint settled, refund and earnings claimed",
                lease_gas,
            )

        billed = int(settled_event.args["gpuSeconds"])
        payout = int(settled_event.args["payout"])
        fee = int(settled_event.args["fee"])
        client_after = gs.token_balance(keys["client"].address)
        # The lease cost the client its deposit and gave back its refund and any penalty.
        lease_net = (
            lease_outcome.deposit - lease_outcome.refunded - lease_outcome.penalty if lease_outcome else 0
        )
        refunded = client_after - (client_balance_before - max_gpu_seconds * price) + lease_net
        status = httpx.get(f"{oracle_url}/v1/receipts/{job_id}", timeout=10).json()
        evidence = _receipt_evidence(workdir / "oracle" / "oracle.sqlite", job_id)
        follower, events = index_chain(gs, workdir / "index.db")
        explorer = ExplorerServer(workdir / "index.db").start()
        clock.step(f"indexed the chain ({events} events) and started the explorer on {explorer.url}")
        ok = (
            payout + fee == billed * price
            and refunded == max_gpu_seconds * price - billed * price
            and gs.token_balance(keys["provider"].address)
            == payout + (lease_outcome.earned if lease_outcome else 0)
            and gs.token_balance(keys["treasury"].address) == fee
            and (lease_outcome is None or lease_outcome.ok)
        )
        _print_summary(
            clock,
            hardware,
            job_id,
            spec,
            billed,
            price,
            payout,
            fee,
            refunded,
            status,
            evidence,
            ok,
            lease_outcome,
        )
        print(f"explorer: {explorer.url} (job {job_id}: {explorer.url}jobs/{job_id})", flush=True)
        if not explore:
            explorer.stop()
            print(f"stopped the explorer; {EXPLORE_HINT}", flush=True)
            return 0 if ok else 1
        for proc in processes:
            proc.stop()  # their work is done; the explorer reads only the index
        print(
            f"exploring: anvil {anvil.url}, the index {workdir / 'index.db'} (following the chain) and the "
            f"explorer {explorer.url} run until Ctrl-C",
            flush=True,
        )
        signum = wait_for_stop(
            follower, explorer, lambda: anvil.process is not None and anvil.process.poll() is None
        )
        print(f"signal {signum}: stopping the explorer, the index and anvil", flush=True)
        return 0 if ok else 1
    finally:
        if explorer is not None:
            explorer.stop()
        for proc in processes:
            proc.stop()
        anvil.stop()


def _event_tx(gs: Gpusettle, event: str, job_id: int) -> str:
    logs = reader_for(gs.chain.w3).events(
        getattr(gs.escrow.events, event), gs.record.deploy_block, gs.chain.block_number(), {"jobId": job_id}
    )
    return str(logs[-1]["transactionHash"].to_0x_hex())


def _wait_for(predicate: Any, timeout: float, what: str, processes: Sequence[ManagedProcess]) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        for proc in processes:
            if not proc.alive():
                raise GpusettleError(f"the {proc.name} exited while waiting for {what}:\n{proc.tail()}")
        time.sleep(0.2)
    tails = "\n".join(f"--- {p.name} ---\n{p.tail()}" for p in processes)
    raise GpusettleError(f"timed out after {timeout:.0f} s waiting for {what}\n{tails}")


def _receipt_evidence(db: Path, job_id: int) -> dict[str, Any]:
    import sqlite3

    try:
        conn = sqlite3.connect(db)
        row = conn.execute("SELECT body FROM receipts WHERE job_id = ?", (job_id,)).fetchone()
        conn.close()
    except sqlite3.Error:
        return {}
    if not row:
        return {}
    doc = json.loads(row[0])
    return {"receipt": doc.get("receipt", {}), "evidence": doc.get("evidence", {})}


def _print_summary(
    clock: _Clock,
    hardware: Hardware,
    job_id: int,
    spec: JobSpec,
    billed: int,
    price: int,
    payout: int,
    fee: int,
    refunded: int,
    status: dict[str, Any],
    evidence: dict[str, Any],
    ok: bool,
    lease: LeaseOutcome | None = None,
) -> None:
    receipt = evidence.get("receipt", {})
    ev = evidence.get("evidence", {})
    workload = spec.workload
    assert isinstance(workload, MatmulWorkload)
    wall = int(receipt.get("endTime", 0)) - int(receipt.get("startTime", 0))
    gpus = ", ".join(ev.get("gpu_names", [])) or "none (CPU run, no NVML)"
    util = ev.get("mean_utilisation")
    lines = [
        "",
        "=" * 78,
        f"job {job_id}: matmul {workload.n}x{workload.n} {workload.dtype} x {workload.repetitions} (seed {workload.seed})",
        f"  hardware offered     {hardware.count} x {hardware.model} ({hardware.memory_gb} GB)",
        f"  GPUs seen by NVML    {gpus}" + (f", mean utilisation {util:.0f}%" if util is not None else ""),
        f"  run                  {wall} s wall, outcome {['Completed', 'FailedClient', 'FailedProvider'][int(receipt.get('outcome', 0))]}",
        f"  GPU-seconds billed   {billed:,}",
        f"  price                {format_units(price)} GPUC per GPU-second",
        f"  paid to provider     {format_units(payout)} GPUC",
        f"  protocol fee         {format_units(fee)} GPUC (to the treasury)",
        f"  refunded to client   {format_units(refunded)} GPUC",
        f"  settled in           tx {status.get('tx_hash')} (block {status.get('block_number')})",
        f"  balances             {'match the fee and the price exactly' if ok else 'DO NOT MATCH: see above'}",
        *(["", *lease.lines()] if lease is not None else []),
        "",
        f"  {'step':<66} {'seconds':>7} {'gas':>10}",
    ]
    for name, seconds, gas in clock.steps:
        short = name if len(name) <= 66 else name[:63] + "..."
        lines.append(
            f"  {short:<66} {seconds:7.2f} {gas:>10,}" if gas else f"  {short:<66} {seconds:7.2f} {'':>10}"
        )
    lines.append(f"  {'total':<66} {clock.total:7.2f} {sum(g for _, _, g in clock.steps):>10,}")
    lines.append("=" * 78)
    print("\n".join(lines), flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m gpusettle.demo`."""
    parser = argparse.ArgumentParser(prog="python -m gpusettle.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--n", type=int, default=None, help="matrix size (default 1024 on CPU, 4096 on a GPU)"
    )
    parser.add_argument(
        "--repetitions", type=int, default=None, help="products to compute (default 40 / 200)"
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the work directory (logs, stores, keystores) after a successful run too "
        "(`make demo KEEP=1`); a failed run always keeps it",
    )
    parser.add_argument(
        "--explore",
        action="store_true",
        help="at the end, keep anvil, the index and the explorer over the demo chain running until "
        "Ctrl-C (`make demo EXPLORE=1`)",
    )
    args = parser.parse_args(argv)
    print(OPTIONS_HELP, flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="gpusettle-demo-"))
    status = 1
    try:
        status = run_demo(workdir, n=args.n, repetitions=args.repetitions, explore=args.explore)
    except GpusettleError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted; every process the demo started was stopped", file=sys.stderr)
        status = 130
    finally:
        _keep_or_delete(workdir, keep=args.keep, succeeded=status == 0)
    return status


def _keep_or_delete(workdir: Path, *, keep: bool, succeeded: bool) -> None:
    """A failed run keeps everything for the post-mortem; a successful one only when asked."""
    logs = workdir / "logs"
    if not succeeded:
        print(
            f"the work directory is kept for you to read: {workdir} "
            f"(logs in {logs}: anvil.log, oracle.log, worker.log); delete it when done",
            file=sys.stderr,
            flush=True,
        )
    elif keep:
        print(f"kept the work directory {workdir} (logs in {logs})", flush=True)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
        print(
            f"deleted the work directory {workdir}; `make demo KEEP=1` "
            "(`python -m gpusettle.demo --keep`) keeps it and its logs",
            flush=True,
        )


if __name__ == "__main__":
    sys.exit(main())
