"""1,000 running leases checkpointed on anvil: blocks, gas per lease and seconds.

Setup (not timed): anvil with 1-second blocks, the suite deployed with gpusettle.deploy, 10 providers
each staked with its own worker key and one 100-GPU offer, and 100 one-GPU leases per provider opened
by a client and accepted by the worker keys. Timed: the oracle's on-chain part of checkpointing, from
building the first batch to the last receipt: one checkpoint per lease covering the seconds since its
acceptance, batches of 100 attested with the oracle key through gpusettle.leases (the oracle's code),
sent from one account without waiting between batches. Reported: batches, blocks used, gas per lease
(the issue's budget: 25,000 in a batch of 100) and the interval; every lease must show its checkpoint.

    python -m gpusettle.bench --only lease_checkpoints [--size LEASES]
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from ..devnet import Anvil, DevNet, FastSender
from ..eip712 import sign_digest
from ..hashing import keccak256
from ..leases.eip712 import checkpoint_attestation_digest, checkpoints_hash, lease_domain
from ..leases.models import Checkpoint
from .reference import recover_rate, reference_note
from .report import BenchOptions, BenchReport, machine_info

__all__ = ["BATCH", "DEFAULT_LEASES", "run"]

DEFAULT_LEASES = 1_000
PER_PROVIDER = 100
BATCH = 100
PRICE = 10**15
E18 = 10**18
BLOCK_TIME = 1
GAS_BUDGET_PER_LEASE = 25_000


def _setup(net: DevNet, leases: int) -> tuple[Any, list[tuple[int, int]]]:
    """Deploy, stake the providers, open and accept the leases; (oracle key, [(lease id, startedAt)])."""
    providers = max(1, -(-leases // PER_PROVIDER))
    keys = net.new_accounts(
        ["oracle", "arbiter", "client"]
        + [f"{role}{i}" for i in range(providers) for role in ("provider", "worker")]
    )
    oracle, client = keys["oracle"], keys["client"]
    net.deploy([oracle.address], arbiter=keys["arbiter"].address)
    gs = net.gs
    escrow = gs.lease_escrow
    assert escrow is not None, "the deployment has no LeaseEscrow"
    stake = 10_000 * E18
    deposit = PRICE * 3600
    funding: dict[str, int] = {keys[f"provider{i}"].address: stake for i in range(providers)}
    funding[client.address] = leases * deposit
    net.fund_tokens(funding)
    senders = []
    for i in range(providers):
        sender = FastSender(gs, keys[f"provider{i}"])
        sender.call(gs.token, "approve", gs.staking.address, stake)
        sender.call(gs.staking, "stake", stake)
        sender.call(gs.staking, "setWorker", keys[f"worker{i}"].address)
        sender.call(gs.staking, "addOffer", "NVIDIA H100 80GB HBM3", PER_PROVIDER, 80, PRICE, "bench://")
        senders.append(sender)
    for sender in senders:
        sender.wait()
    offers = {gs.offer(i).provider: i for i in range(1, gs.offer_count() + 1)}
    opening = FastSender(gs, client)
    opening.call(gs.token, "approve", escrow.address, leases * deposit)
    owner: list[int] = []
    for n in range(leases):
        i = n // PER_PROVIDER
        offer = offers[keys[f"provider{i}"].address]
        opening.call(escrow, "openLease", offer, 1, PRICE, 2, 0, b"\x01" * 32, deposit, 0, gas=400_000)
        owner.append(i)
    opened = [
        int(e.args["leaseId"])
        for r in opening.wait(timeout=900)
        for e in gs.chain.decode_logs(r["logs"])
        if e.name == "LeaseOpened"
    ]
    accepters: dict[int, FastSender] = {}
    for lease_id, i in zip(opened, owner, strict=True):
        sender = accepters.setdefault(i, FastSender(gs, keys[f"worker{i}"]))
        sender.call(escrow, "acceptLease", lease_id, gas=300_000)
    started: list[tuple[int, int]] = []
    for sender in accepters.values():
        for r in sender.wait(timeout=900):
            for e in gs.chain.decode_logs(r["logs"]):
                if e.name == "LeaseAccepted":
                    started.append((int(e.args["leaseId"]), int(e.args["startedAt"])))
    return oracle, sorted(started)


def run(options: BenchOptions) -> BenchReport:
    """Set everything up, then time one checkpoint for each of 1,000 leases, posted in batches of 100."""
    count = options.size if options.size is not None else DEFAULT_LEASES
    with tempfile.TemporaryDirectory(prefix="gpusettle-leases-") as tmp:
        workdir = Path(tmp)
        anvil = Anvil(block_time=BLOCK_TIME, mixed_mining=False, log_path=workdir / "anvil.log")
        try:
            anvil.start()
            setup_started = time.perf_counter()
            net = DevNet(anvil, workdir)
            oracle, started = _setup(net, count)
            gs = net.gs
            escrow = gs.lease_escrow
            assert escrow is not None
            while gs.chain.timestamp() <= max(s for _, s in started) + 2:
                time.sleep(0.2)  # every period ends in the past
            setup_seconds = time.perf_counter() - setup_started

            domain = lease_domain(gs.chain.chain_id, escrow.address)
            epoch = gs.oracle_set().epoch
            first_block = gs.chain.block_number()
            began = time.perf_counter()
            to = gs.chain.timestamp() - 1
            poster = FastSender(gs, oracle)
            for at in range(0, len(started), BATCH):
                batch = [
                    Checkpoint(
                        leaseId=lease_id,
                        fromTime=start,
                        toTime=to,
                        upSeconds=to - start - 1,
                        downSeconds=1,
                        heartbeatsRoot="0x" + keccak256(lease_id.to_bytes(32, "big")).hex(),
                    )
                    for lease_id, start in started[at : at + BATCH]
                ]
                digest = checkpoint_attestation_digest(checkpoints_hash(batch), epoch, domain)
                signature = sign_digest(digest, bytes(oracle.key))
                poster.call(
                    escrow,
                    "submitCheckpoints",
                    [c.as_tuple() for c in batch],
                    [(signature.r, signature.vs)],
                    gas=len(batch) * 40_000 + 200_000,
                )
            receipts = poster.wait(timeout=600)
            elapsed = time.perf_counter() - began
            settled = {
                int(e.args["leaseId"])
                for r in receipts
                for e in gs.chain.decode_logs(r["logs"])
                if e.name == "CheckpointSettled"
            }
            blocks = sorted({int(r["blockNumber"]) for r in receipts})
            per_tx = [int(r["gasUsed"]) for r in receipts]
            last_block = gs.chain.block_number()
        finally:
            anvil.stop()

    gas_total = sum(per_tx)
    gas_per_lease = gas_total / max(len(settled), 1)
    ok = len(settled) == len(started) == count
    notes = [
        (
            f"anvil with {BLOCK_TIME}-second blocks (30M gas); one checkpoint per lease, batches of {BATCH} "
            "attested by the oracle key (gpusettle.leases), sent from one account without waiting"
        ),
        (
            f"setup (deploy, {-(-count // PER_PROVIDER)} providers staked, {count} leases opened and accepted) "
            f"took {setup_seconds:.0f} s, not counted"
        ),
        f"budget: {GAS_BUDGET_PER_LEASE:,} gas per lease in a batch of 100: "
        + ("within" if gas_per_lease <= GAS_BUDGET_PER_LEASE else "OVER"),
        reference_note(len(settled) / elapsed if elapsed > 0 else None),
    ]
    if not ok:
        notes.append(f"WRONG RESULT: {len(settled)} of {count} leases checkpointed")
    data: dict[str, Any] = {
        "reference_recoveries_per_second": recover_rate(),
        "leases": count,
        "batch": BATCH,
        "block_time_s": BLOCK_TIME,
        "seconds_first_batch_to_last_receipt": elapsed,
        "checkpointed": len(settled),
        "batches": len(receipts),
        "blocks_used": len(blocks),
        "blocks": blocks,
        "blocks_spanned": (blocks[-1] - first_block) if blocks else 0,
        "last_block": last_block,
        "gas_total": gas_total,
        "gas_per_lease": gas_per_lease,
        "gas_per_batch": {
            "min": min(per_tx, default=0),
            "max": max(per_tx, default=0),
            "median": statistics.median(per_tx) if per_tx else 0,
        },
        "setup_seconds": setup_seconds,
        "machine": machine_info(),
    }
    return BenchReport(
        name="lease_checkpoints",
        title=f"{count:,} leases checkpointed on anvil",
        headers=["measure", "value"],
        rows=[
            ["seconds, first batch to last receipt", f"{elapsed:.1f}"],
            ["leases checkpointed", f"{len(settled):,}"],
            ["batches (transactions)", f"{len(receipts)}"],
            ["blocks used", f"{len(blocks)}"],
            ["gas per lease", f"{gas_per_lease:,.0f}"],
        ],
        data=data,
        notes=notes,
        ok=ok,
    )
