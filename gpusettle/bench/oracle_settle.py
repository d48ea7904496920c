"""1,000 receipts from 50 providers, submitted at once to a real oracle process, all settled on anvil.

Setup (not timed): anvil with 1-second blocks, the suite deployed with gpusettle.deploy, 50 providers
each staked with its own worker key and one 8-GPU offer, and 20 accepted jobs per provider. Timed:
from the first receipt submission to the last settlement the oracle confirms. Reported: blocks used
by the settlements, gas per settled job, batches, and the whole interval.

    python -m gpusettle.bench --only oracle_settle [--size RECEIPTS]
"""

from __future__ import annotations

import concurrent.futures
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes

from ..chain.logs import reader_for
from ..devnet import Anvil, DevNet, FastSender, ManagedProcess, free_port
from ..eip712 import ReceiptVerifier, sign_digest
from ..models import JobReceipt, Outcome
from .reference import recover_rate, reference_note
from .report import BenchOptions, BenchReport, machine_info

__all__ = ["DEFAULT_RECEIPTS", "PROVIDERS", "run"]

DEFAULT_RECEIPTS = 1_000
PROVIDERS = 50
GPUS = 8
PRICE = 10**15
E18 = 10**18
BLOCK_TIME = 1


def _setup(net: DevNet, receipts: int, providers: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Deploy, stake the providers, open and accept the jobs; returns the oracle key and signed receipts."""
    keys = net.new_accounts(
        ["oracle", "arbiter", "client"]
        + [f"{role}{i}" for i in range(providers) for role in ("provider", "worker")]
    )
    oracle, arbiter, client = keys["oracle"], keys["arbiter"], keys["client"]
    net.deploy([oracle.address], arbiter=arbiter.address)
    gs = net.gs
    provs = [(keys[f"provider{i}"], keys[f"worker{i}"]) for i in range(providers)]
    stake = 100_000 * E18
    funding: dict[str, int] = {str(p.address): stake for p, _ in provs}
    funding[client.address] = receipts * 3600 * PRICE
    net.fund_tokens(funding)
    senders = []
    for provider, worker in provs:
        sender = FastSender(gs, provider)
        sender.call(gs.token, "approve", gs.staking.address, stake)
        sender.call(gs.staking, "stake", stake)
        sender.call(gs.staking, "setWorker", worker.address)
        sender.call(gs.staking, "addOffer", "NVIDIA H100 80GB HBM3", GPUS, 80, PRICE, "bench://")
        senders.append(sender)
    for sender in senders:
        sender.wait()
    offers = {gs.offer(i).provider: i for i in range(1, gs.offer_count() + 1)}
    per = receipts // providers
    extra = receipts - per * providers
    jobs = FastSender(gs, client)
    jobs.call(gs.token, "approve", gs.escrow.address, 2**256 - 1)
    deadline = gs.chain.timestamp() + 86_400
    owners: list[tuple[LocalAccount, LocalAccount]] = []
    for index, (provider, worker) in enumerate(provs):
        for _ in range(per + (1 if index < extra else 0)):
            jobs.call(
                gs.escrow,
                "createJob",
                offers[provider.address],
                3600,
                deadline,
                b"\x01" * 32,
                GPUS,
                PRICE,
                gas=400_000,
            )
            owners.append((provider, worker))
    created = jobs.wait(timeout=600)
    job_ids = [
        int(e.args["jobId"])
        for r in created
        for e in gs.chain.decode_logs(r["logs"])
        if e.name == "JobCreated"
    ]
    accepters: dict[str, FastSender] = {}
    for job_id, (_, worker) in zip(job_ids, owners, strict=True):
        sender = accepters.setdefault(worker.address, FastSender(gs, worker))
        sender.call(gs.escrow, "acceptJob", job_id, gas=200_000)
    accepted_at: dict[int, int] = {}
    for sender in accepters.values():
        for r in sender.wait(timeout=600):
            for e in gs.chain.decode_logs(r["logs"]):
                if e.name == "JobAccepted":
                    accepted_at[int(e.args["jobId"])] = int(e.args["acceptedAt"])
    verifier = ReceiptVerifier(gs.chain.chain_id, gs.escrow.address)
    docs = []
    for job_id, (provider, worker) in zip(job_ids, owners, strict=True):
        start = accepted_at[job_id]
        receipt = JobReceipt(
            jobId=job_id,
            provider=provider.address,
            gpuSeconds=2 * GPUS,
            startTime=start,
            endTime=start + 2,
            resultHash="0x" + job_id.to_bytes(32, "big").hex(),
            outcome=Outcome.COMPLETED,
        )
        r, vs = sign_digest(verifier.digest(receipt), bytes(worker.key)).hex()
        docs.append({"receipt": receipt.model_dump(mode="json"), "r": r, "vs": vs})
    return {"oracle": oracle.address}, docs


def run(options: BenchOptions) -> BenchReport:
    """Set everything up, then time 1,000 receipts from submission to settlement."""
    count = options.size if options.size is not None else DEFAULT_RECEIPTS
    providers = min(PROVIDERS, count)
    with tempfile.TemporaryDirectory(prefix="gpusettle-settle-") as tmp:
        workdir = Path(tmp)
        anvil = Anvil(block_time=BLOCK_TIME, mixed_mining=False, log_path=workdir / "anvil.log")
        oracle_proc: ManagedProcess | None = None
        try:
            anvil.start()
            setup_started = time.perf_counter()
            net = DevNet(anvil, workdir)
            _, docs = _setup(net, count, providers)
            setup_seconds = time.perf_counter() - setup_started
            gs = net.gs
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            assert net.record_path is not None
            oracle_proc = ManagedProcess(
                "oracle",
                [
                    sys.executable,
                    "-m",
                    "gpusettle.oracle",
                    "run",
                    "--rpc-url",
                    anvil.url,
                    "--deployment",
                    str(net.record_path),
                    "--keystore",
                    str(net.keystore_dir),
                    "--account",
                    "oracle",
                    "--data-dir",
                    str(workdir / "oracle"),
                    "--port",
                    str(port),
                    "--batch-max",
                    "200",
                    "--batch-wait",
                    "0.5",
                    "--max-in-flight",
                    "8",
                    "--log-level",
                    "WARNING",
                ],
                workdir / "oracle.log",
                net.child_env(),
            ).start()
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or not oracle_proc.alive():
                    raise RuntimeError(f"the oracle did not start:\n{oracle_proc.tail()}")
                time.sleep(0.1)
            time.sleep(2.2)  # every receipt's end time is in the past

            first_block = gs.chain.block_number()
            started = time.perf_counter()
            statuses: list[int] = []

            def submit(chunk: list[dict[str, Any]]) -> list[int]:
                with httpx.Client(timeout=30) as client:
                    return [client.post(f"{url}/v1/receipts", json=doc).status_code for doc in chunk]

            chunks = [docs[i::16] for i in range(16)]
            with concurrent.futures.ThreadPoolExecutor(16) as pool:
                for result in pool.map(submit, chunks):
                    statuses += result
            submitted = time.perf_counter() - started
            settled = 0
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                counts = httpx.get(f"{url}/health", timeout=5).json()["receipts"]
                settled = int(counts["settled"])
                if settled + int(counts["rejected"]) >= count:
                    break
                time.sleep(0.1)
            elapsed = time.perf_counter() - started
            counts = httpx.get(f"{url}/health", timeout=5).json()["receipts"]

            events = [e for e in gs.events("escrow", "JobSettled")]
            txs: dict[str, Any] = {}
            for log in reader_for(gs.chain.w3).events(
                gs.escrow.events.JobSettled, first_block, gs.chain.block_number()
            ):
                tx = log["transactionHash"].to_0x_hex()
                if tx not in txs:
                    txs[tx] = gs.chain.w3.eth.get_transaction_receipt(HexBytes(tx))
            blocks = sorted({int(r["blockNumber"]) for r in txs.values()})
            gas_total = sum(int(r["gasUsed"]) for r in txs.values())
            per_tx = [int(r["gasUsed"]) for r in txs.values()]
            settled_jobs = len(events)
        finally:
            if oracle_proc is not None:
                oracle_proc.stop()
            anvil.stop()

    ok = statuses.count(202) == count and settled == count and settled_jobs == count
    gas_per_job = gas_total / max(settled_jobs, 1)
    notes = [
        (
            f"anvil with {BLOCK_TIME}-second blocks (30M gas); oracle as a separate process, batches of up to 200, "
            "1 confirmation; submissions from 16 client threads"
        ),
        (
            f"setup (deploy, {providers} providers staked, {count} jobs opened and accepted) took {setup_seconds:.0f} s, "
            "not counted"
        ),
    ]
    notes.append(reference_note(settled / elapsed if elapsed > 0 else None))
    if not ok:
        notes.append(
            f"WRONG RESULT: {statuses.count(202)} acknowledged, {settled} settled, oracle counts {counts}"
        )
    data: dict[str, Any] = {
        "reference_recoveries_per_second": recover_rate(),
        "receipts": count,
        "providers": providers,
        "block_time_s": BLOCK_TIME,
        "submit_seconds": submitted,
        "seconds_first_submission_to_last_settlement": elapsed,
        "settled": settled,
        "batches": len(txs),
        "blocks_used": len(blocks),
        "blocks": blocks,
        "gas_total": gas_total,
        "gas_per_job": gas_per_job,
        "gas_per_batch": {
            "min": min(per_tx, default=0),
            "max": max(per_tx, default=0),
            "median": statistics.median(per_tx) if per_tx else 0,
        },
        "oracle_counts": counts,
        "setup_seconds": setup_seconds,
        "machine": machine_info(),
    }
    return BenchReport(
        name="oracle_settle",
        title=f"{count:,} receipts from {providers} providers settled on anvil",
        headers=["measure", "value"],
        rows=[
            ["seconds, first submission to last settlement", f"{elapsed:.1f}"],
            ["seconds to submit all", f"{submitted:.1f}"],
            ["settled", f"{settled:,}"],
            ["batches (transactions)", f"{len(txs)}"],
            ["blocks used", f"{len(blocks)}"],
            ["gas per job", f"{gas_per_job:,.0f}"],
        ],
        data=data,
        notes=notes,
        ok=ok,
    )
