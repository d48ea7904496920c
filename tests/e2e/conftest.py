"""End-to-end fixtures: a private anvil (ports 8700-8799), the suite deployed with gpusettle.deploy,
throwaway keys in an encrypted keystore, and helpers to run the oracle and the worker as real processes.

These tests use no brownie chain: the autouse `isolation` fixture of tests/fixtures is replaced here.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account.signers.local import LocalAccount

from gpusettle.chain.gpurelease import MAX_BATCH, held_by_settled_jobs
from gpusettle.devnet import Anvil, DevNet, FastSender, ManagedProcess, free_port
from gpusettle.errors import GpusettleError
from gpusettle.eip712 import ReceiptVerifier, sign_digest
from gpusettle.models import JobReceipt, Outcome

E18 = 10**18
PRICE = 10**15
FEE_BPS = 250
PORTS = (8700, 8799)


@pytest.fixture(autouse=True)
def isolation() -> None:
    """No brownie chain snapshot: these tests run their own anvil."""


@dataclass
class World:
    """A deployed suite with one staked provider, its worker key, a client, an oracle and an arbiter.

    The offer has `offer_gpus` GPUs; every job the tests open takes `gpu_count` of them (and receipts
    meter that many), so several jobs fit on the offer at once, as capacity requires.
    """

    net: DevNet
    workdir: Path
    provider: LocalAccount
    worker: LocalAccount
    client: LocalAccount
    oracle: LocalAccount
    arbiter: LocalAccount
    treasury: LocalAccount
    offer_id: int
    gpu_count: int
    offer_gpus: int
    processes: list[ManagedProcess] = field(default_factory=list)
    more_offers: list[int] = field(default_factory=list)
    """Further offers of `offer_gpus` GPUs each, for modules holding more jobs than one offer can."""

    @property
    def url(self) -> str:
        return self.net.anvil.url

    def verifier(self) -> ReceiptVerifier:
        return ReceiptVerifier(31337, self.net.gs.escrow.address)

    def sign(
        self,
        r: JobReceipt,
        key: bytes | None = None,
        chain_id: int = 31337,
        escrow: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        verifier = ReceiptVerifier(chain_id, escrow or self.net.gs.escrow.address)
        sig_r, sig_vs = sign_digest(verifier.digest(r), key or bytes(self.worker.key)).hex()
        return {"receipt": r.model_dump(mode="json"), "r": sig_r, "vs": sig_vs, **extra}

    def receipt(
        self,
        job_id: int,
        accepted_at: int,
        *,
        wall: int = 2,
        gpu_seconds: int | None = None,
        outcome: Outcome = Outcome.COMPLETED,
        result_hash: str = "0x" + "ab" * 32,
    ) -> JobReceipt:
        return JobReceipt(
            jobId=job_id,
            provider=self.provider.address,
            gpuSeconds=gpu_seconds if gpu_seconds is not None else wall * self.gpu_count,
            startTime=accepted_at,
            endTime=accepted_at + wall,
            resultHash=result_hash,
            outcome=outcome,
        )

    def jobs(
        self, count: int, max_gpu_seconds: int = 3600, spec_hash: bytes = b"\x01" * 32
    ) -> dict[int, int]:
        return self.net.accept_jobs(self.worker, self.open(count, max_gpu_seconds, spec_hash))

    def open(self, count: int, max_gpu_seconds: int = 3600, spec_hash: bytes = b"\x01" * 32) -> list[int]:
        """Open `count` jobs of `gpu_count` GPUs each (not accepted): on the offer, then on the further
        offers once it is full; open_jobs says how many GPUs are free when they do not fit at all."""
        offers = [self.offer_id, *self.more_offers]
        if sum(self.net.gs.free_gpus(o) for o in offers) < count * self.gpu_count:
            self.release_settled_gpus()
        plan: list[tuple[int, int]] = []
        left = count
        for offer_id in [self.offer_id, *self.more_offers]:
            fit = min(left, self.net.gs.free_gpus(offer_id) // self.gpu_count)
            if fit > 0:
                plan.append((offer_id, fit))
                left -= fit
        if left:  # they do not fit: open_jobs refuses with the numbers, before anything is sent
            return self._open_on(self.offer_id, count, max_gpu_seconds, spec_hash)
        ids: list[int] = []
        for offer_id, n in plan:
            ids += self._open_on(offer_id, n, max_gpu_seconds, spec_hash)
        return ids

    def release_settled_gpus(self) -> None:
        """What `gpusettle provider release-gpus` does: give back the GPUs settled jobs still hold. The worker
        does it as jobs settle, but a test that stops its worker right after settlement can leave them held
        for the module's next test."""
        held = [job_id for job_id, _offer, _gpus in held_by_settled_jobs(self.net.gs, self.provider.address)]
        for i in range(0, len(held), MAX_BATCH):
            sender = FastSender(self.net.gs, self.provider)
            sender.call(self.net.gs.escrow, "releaseJobGpus", held[i : i + MAX_BATCH], gas=2_000_000)
            try:
                sender.wait()
            except GpusettleError:
                # JobEscrowNothingToClaim: a worker still running gave them back first
                if set(held[i : i + MAX_BATCH]) & {j for j, _o, _g in held_by_settled_jobs(self.net.gs,
                                                                                          self.provider.address)}:
                    raise

    def _open_on(self, offer_id: int, count: int, max_gpu_seconds: int, spec_hash: bytes) -> list[int]:
        return self.net.open_jobs(
            self.client,
            offer_id,
            count,
            max_gpu_seconds=max_gpu_seconds,
            spec_hash=spec_hash,
            gpus=self.gpu_count,
        )

    def start_oracle(
        self,
        name: str = "oracle",
        *extra: str,
        account: str = "oracle",
        arbiter: bool = True,
        port: int | None = None,
        data_dir: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> tuple[ManagedProcess, str]:
        port = port or free_port(*PORTS)
        assert self.net.record_path is not None
        argv = [
            sys.executable,
            "-m",
            "gpusettle.oracle",
            "run",
            "--rpc-url",
            self.url,
            "--deployment",
            str(self.net.record_path),
            "--keystore",
            str(self.net.keystore_dir),
            "--account",
            account,
            "--data-dir",
            str(data_dir or self.workdir / name),
            "--port",
            str(port),
            "--batch-wait",
            "0.1",
            *extra,
        ]
        if arbiter:
            argv += ["--arbiter-account", "arbiter"]
        proc = ManagedProcess(
            name, argv, self.workdir / "logs" / f"{name}.log", {**self.net.child_env(), **(env or {})}
        )
        proc.start()
        self.processes.append(proc)
        wait_healthy(f"http://127.0.0.1:{port}", proc)
        return proc, f"http://127.0.0.1:{port}"

    def start_worker(self, oracle_url: str, *extra: str, name: str = "worker") -> ManagedProcess:
        assert self.net.record_path is not None
        argv = [
            sys.executable,
            "-m",
            "gpusettle.worker",
            "run",
            "--rpc-url",
            self.url,
            "--deployment",
            str(self.net.record_path),
            "--keystore",
            str(self.net.keystore_dir),
            "--account",
            "worker",
            "--provider",
            self.provider.address,
            "--oracle",
            oracle_url,
            "--data-dir",
            str(self.workdir / name),
            "--poll-interval",
            "0.3",
            "--device",
            "cpu",
            # These machines have no GPU; the offers say "Test GPU" (the worker refuses GPU offers it
            # cannot honour unless told to simulate the slots, on development chains only).
            "--simulate-gpus",
            "8",
            *extra,
        ]
        proc = ManagedProcess(name, argv, self.workdir / "logs" / f"{name}.log", self.net.child_env())
        proc.start()
        self.processes.append(proc)
        return proc

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.tail(40)}" for p in self.processes)


def wait_healthy(url: str, proc: ManagedProcess, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise AssertionError(f"{proc.name} exited:\n{proc.tail()}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{proc.name} not healthy after {timeout} s:\n{proc.tail()}")


def wait_until(predicate: Any, timeout: float, what: str, world: World | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}\n{world.logs() if world else ''}")


def until_receipts_can_end(accepted: dict[int, int], wall: int = 2) -> None:
    """Wait until receipts built with `World.receipt(job, accepted_at, wall=wall)` end in the past: the
    oracle refuses an end time ahead of its clock and the escrow one ahead of the block's."""
    last_end = max(accepted.values()) + wall
    wait_until(lambda: time.time() > last_end + 0.05, 30 + wall, "the receipts' end times to pass")


def receipt_status(url: str, job_id: int) -> dict[str, Any]:
    """What the oracle reports for `job_id` ({} when it has no receipt for it)."""
    resp = httpx.get(f"{url}/v1/receipts/{job_id}", timeout=10)
    return dict(resp.json()) if resp.status_code == 200 else {}


def settled_everywhere(world: World, url: str, job_id: int) -> bool:
    """The chain says Settled *and* the oracle has confirmed it (it waits for confirmations first)."""
    return (
        world.net.gs.job(job_id).status == "Settled"
        and receipt_status(url, job_id).get("status") == "settled"
    )


def make_world(
    tmp: Path,
    gpu_count: int = 2,
    stake: int = 100_000 * E18,
    offer_gpus: int = 8,
    offers: int = 1,
    oracles: int = 1,
    threshold: int = 1,
    block_time: float | None = None,
) -> tuple[Anvil, World]:
    """`gpu_count`: GPUs per job (receipts meter that many); `offer_gpus`: the offer's GPUs, enough for the
    jobs a module holds open at once (at most the worker's 8 simulated slots where a worker runs); `offers`
    such offers (at most 255 GPUs each) where one cannot hold them all.
    `block_time`: mine a block every so many seconds as well (leases need the chain's clock to move)."""
    anvil = Anvil(
        port=free_port(*PORTS),
        log_path=tmp / "logs" / "anvil.log",
        block_time=block_time,
        mixed_mining=block_time is not None,
    ).start()
    try:
        net = DevNet(anvil, tmp)
        names = ("provider", "worker", "client", "oracle", "arbiter", "treasury")
        names += tuple(f"oracle{i}" for i in range(2, oracles + 1))
        keys = net.new_accounts([n for n in names if n != "treasury"], eth=100)
        keys["treasury"] = net.new_account("treasury", eth=0)
        oracle_set = [keys["oracle"].address] + [keys[f"oracle{i}"].address for i in range(2, oracles + 1)]
        net.deploy(
            oracle_set,
            threshold=threshold,
            arbiter=keys["arbiter"].address,
            treasury=keys["treasury"].address,
        )
        net.fund_tokens({keys["provider"].address: stake, keys["client"].address: 1_000_000 * E18})
        offer = net.setup_provider(
            keys["provider"],
            keys["worker"].address,
            stake=stake,
            gpu_model="Test GPU",
            gpu_count=offer_gpus,
            vram_gb=80,
            price=PRICE,
        )
        more = FastSender(net.gs, keys["provider"])
        for _ in range(offers - 1):
            more.call(net.gs.staking, "addOffer", "Test GPU", offer_gpus, 80, PRICE, "")
        more.wait()
        more_offers = list(range(offer + 1, offer + offers))
    except BaseException:
        anvil.stop()
        raise
    return anvil, World(
        net,
        tmp,
        keys["provider"],
        keys["worker"],
        keys["client"],
        keys["oracle"],
        keys["arbiter"],
        keys["treasury"],
        offer,
        gpu_count,
        offer_gpus,
        more_offers=more_offers,
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    anvil, w = make_world(tmp_path_factory.mktemp("e2e"))
    try:
        yield w
    finally:
        for proc in w.processes:
            proc.stop()
        anvil.stop()
