"""A local chain with a small but real market: providers with offers on several GPU models, jobs in
every state (open, running, settled, failed, cancelled, disputed and ruled on), an oracle-set change.
Shared by the index and explorer tests, the bench and the README screenshot."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from eth_account.signers.local import LocalAccount

from ..devnet import Anvil, DevNet, FastSender, free_port
from ..eip712 import Domain, attestation_digest, receipt_digest, receipts_hash, sign_digest
from ..models import JobReceipt, Outcome

__all__ = ["E18", "JOB_GPUS", "OFFERS", "WHOLE_OFFER_FREE", "MarketWorld", "make_market"]

E18 = 10**18

OFFERS: tuple[tuple[str, int, int, int], ...] = (
    ("NVIDIA H100 80GB HBM3", 8, 80, 9 * 10**14),
    ("NVIDIA H100 80GB HBM3", 4, 80, 8 * 10**14),
    ("NVIDIA A100-SXM4-80GB", 8, 80, 5 * 10**14),
    ("NVIDIA A100-PCIE-40GB", 2, 40, 3 * 10**14),
    ("NVIDIA GeForce RTX 4090", 1, 24, 1 * 10**14),
    ("NVIDIA L40S", 4, 48, 4 * 10**14),
    ("NVIDIA H200", 8, 141, 12 * 10**14),
)
"""(model, GPU count, VRAM GB, price per GPU-second in base units) for the offers of the market."""

JOB_GPUS = 1
"""GPUs each job of the market reserves: offers hold as many jobs at once as they have GPUs."""

WHOLE_OFFER_FREE = 2
"""The offer (an index into OFFERS) left with no GPU reserved at the end: its settled jobs' GPUs released
(as a worker does), its open job the cancelled one; so a job of the whole offer (`gpusettle job create`)
still fits on it."""


@dataclass
class MarketWorld:
    """The chain, its accounts and what happened on it."""

    net: DevNet
    providers: list[LocalAccount]
    workers: list[LocalAccount]
    client: LocalAccount
    oracle: LocalAccount
    arbiter: LocalAccount
    offers: list[int]
    jobs: dict[str, list[int]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """The node's RPC URL."""
        return self.net.anvil.url

    def settle(self, job_ids: Sequence[int], accepted: dict[int, int], outcome: Outcome, gpus: int) -> None:
        """Settle `job_ids` in one batch, with worker signatures and a one-oracle attestation."""
        gs = self.net.gs
        self.net.anvil.rpc("evm_increaseTime", [30])
        self.net.anvil.rpc("evm_mine")
        domain = Domain(31337, gs.escrow.address)
        receipts, sigs = [], []
        for job_id in job_ids:
            job = gs.job(job_id)
            worker = self.workers[[str(p.address) for p in self.providers].index(job.provider)]
            r = JobReceipt(
                jobId=job_id,
                provider=job.provider,
                gpuSeconds=10 * gpus,
                startTime=accepted[job_id],
                endTime=accepted[job_id] + 10,
                resultHash="0x" + "ab" * 32,
                outcome=outcome,
            )
            receipts.append(r)
            sigs.append(sign_digest(receipt_digest(r, domain), bytes(worker.key)).as_tuple())
        epoch = gs.oracle_set().epoch
        attestation = sign_digest(
            attestation_digest(receipts_hash(receipts), epoch, domain), bytes(self.oracle.key)
        )
        tuples = [
            (
                r.jobId,
                r.provider,
                r.gpuSeconds,
                r.startTime,
                r.endTime,
                bytes.fromhex(r.resultHash[2:]),
                int(r.outcome),
            )
            for r in receipts
        ]
        sender = FastSender(gs, self.oracle, gas=3_000_000)
        sender.call(gs.escrow, "settleBatch", tuples, sigs, [attestation.as_tuple()])
        sender.wait()


def make_market(
    workdir: Path, *, jobs_per_offer: int = 3, port: int | None = None
) -> tuple[Anvil, MarketWorld]:
    """Start anvil and build the market; the caller stops the returned Anvil."""
    anvil = Anvil(port=port or free_port(), log_path=workdir / "logs" / "anvil.log").start()
    try:
        return anvil, _build(anvil, workdir, jobs_per_offer)
    except BaseException:
        anvil.stop()
        raise


def _build(anvil: Anvil, workdir: Path, jobs_per_offer: int) -> MarketWorld:
    net = DevNet(anvil, workdir)
    n = len(OFFERS)
    names = [f"provider{i}" for i in range(n)] + [f"worker{i}" for i in range(n)]
    names += ["client", "oracle", "oracle2", "arbiter"]
    keys = net.new_accounts(names, eth=100)
    net.deploy([keys["oracle"].address], threshold=1, arbiter=keys["arbiter"].address)
    providers = [keys[f"provider{i}"] for i in range(n)]
    workers = [keys[f"worker{i}"] for i in range(n)]
    net.fund_tokens(
        {**{p.address: 200_000 * E18 for p in providers}, keys["client"].address: 10_000_000 * E18}
    )
    offers = []
    for i, (model, count, vram, price) in enumerate(OFFERS):
        offers.append(
            net.setup_provider(
                providers[i],
                workers[i].address,
                stake=(50_000 + 10_000 * i) * E18,
                gpu_model=model,
                gpu_count=count,
                vram_gb=vram,
                price=price,
                metadata_uri=f"https://provider{i}.example/machine.json",
            )
        )
    world = MarketWorld(net, providers, workers, keys["client"], keys["oracle"], keys["arbiter"], offers)
    gs = net.gs
    spec = b"\x01" * 32
    for i, offer in enumerate(offers):
        # Capacity: an offer holds at most its GPU count of 1-GPU jobs (the 1-GPU offer gets one, open).
        ids = net.open_jobs(
            keys["client"],
            offer,
            min(jobs_per_offer, OFFERS[i][1] // JOB_GPUS),
            max_gpu_seconds=3600,
            spec_hash=spec,
            approve=i == 0,
            gpus=JOB_GPUS,
        )
        if i == len(offers) - 1:
            world.jobs.setdefault("open", []).extend(ids)
            continue
        accepted = net.accept_jobs(workers[i], ids[:-1]) if len(ids) > 1 else {}
        world.jobs.setdefault("open", []).append(ids[-1])
        running = list(accepted)
        if not running:
            continue
        if i % 3 == 2 and i != WHOLE_OFFER_FREE:
            world.jobs.setdefault("running", []).extend(running)
            continue
        outcome = Outcome.FAILED_PROVIDER if i == 3 else Outcome.COMPLETED
        world.settle(running, accepted, outcome, JOB_GPUS)
        world.jobs.setdefault("settled", []).extend(running)
        if i == WHOLE_OFFER_FREE:
            release = FastSender(gs, workers[i])
            release.call(gs.escrow, "releaseJobGpus", running, gas=1_000_000)
            release.wait()
    # A cancellation, a dispute the arbiter upholds, and a new oracle set.
    cancel = next(j for j in world.jobs["open"] if gs.job(j).offer_id == offers[WHOLE_OFFER_FREE])
    world.jobs["open"].remove(cancel)
    disputed = world.jobs["settled"][0]
    sender = FastSender(gs, keys["client"])
    sender.call(gs.escrow, "cancelJob", cancel, gas=300_000)
    sender.call(gs.escrow, "dispute", disputed, b"\x02" * 32, gas=500_000)
    sender.wait()
    sender = FastSender(gs, keys["arbiter"])
    sender.call(gs.escrow, "resolveDispute", disputed, True, gas=800_000)
    sender.wait()
    world.jobs["cancelled"] = [cancel]
    world.jobs["disputed"] = [disputed]
    oracles = sorted([keys["oracle"].address, keys["oracle2"].address], key=lambda a: int(a, 16))
    deployer = FastSender(gs, net.deployer)
    deployer.call(gs.escrow, "setOracleSet", oracles, 1)
    deployer.wait()
    return world
