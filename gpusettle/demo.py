"""`python -m gpusettle.demo` (`make demo`): a GPU job from nothing to a settled payment, on a local chain.

It starts anvil on a free port, deploys the suite with gpusettle.deploy, creates throwaway keys in
encrypted keystores in a temporary directory (provider, worker, client, oracle, arbiter), funds and
stakes the provider, publishes an offer describing this machine's real GPU (NVML) or its CPU, opens a
seeded `matmul` job, runs `gpusettle worker run` and `gpusettle oracle run` as separate processes,
waits for the settlement and prints what happened and what it cost. Every process it started is
stopped before it exits, whatever happens.

The first part of this module is the local-network toolkit the demo, the benchmarks and the
end-to-end tests share: `Anvil` (a node on a free port), `DevNet` (deploy, throwaway keys, funding)
and `FastSender` (many transactions without waiting for each).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self, cast

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3.exceptions import TransactionNotFound

from .chain import Chain, Gpusettle
from .deploy import Roles, deploy_suite, network_for_chain_id
from .errors import GpusettleError
from .keystore import FAST_KDF_ENV, PASSWORD_ENV, Keystore
from .models import DeploymentRecord, JobSpec, MatmulWorkload
from .units import format_units

__all__ = [
    "Anvil",
    "DevNet",
    "FastSender",
    "ManagedProcess",
    "anvil_binary",
    "free_port",
    "main",
]

E18 = 10**18
_CHECKOUT = Path(__file__).resolve().parent.parent


def free_port(lo: int | None = None, hi: int | None = None) -> int:
    """A TCP port nobody listens on (within [lo, hi] when given)."""
    if lo is None or hi is None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])
    ports = list(range(lo, hi + 1))
    secrets.SystemRandom().shuffle(ports)
    for port in ports:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port between {lo} and {hi}")


def anvil_binary() -> str:
    """node_modules/.bin/anvil of this checkout (or the current directory), else anvil on PATH."""
    for base in (Path.cwd(), _CHECKOUT):
        candidate = base / "node_modules" / ".bin" / "anvil"
        if candidate.exists():
            return str(candidate)
    found = shutil.which("anvil")
    if found:
        return found
    raise GpusettleError(
        "anvil is not installed", "run `npm ci` (it installs @foundry-rs/anvil) or `make setup`"
    )


def _wait_port(port: int, alive: subprocess.Popen[bytes] | None, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None and alive.poll() is not None:
            raise GpusettleError(f"{what} exited with status {alive.returncode} before it listened on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise GpusettleError(f"{what} did not listen on port {port} within {timeout:.0f} s")


def _stop_group(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM the process's own session (it was started with start_new_session), then SIGKILL what
    is left after `timeout`: a launcher such as node_modules/.bin/anvil must not leave its child."""
    try:
        group = os.getpgid(process.pid)
    except ProcessLookupError:
        group = None
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if group is not None and group == process.pid:
            try:
                os.killpg(group, sig)
            except ProcessLookupError:
                pass
        elif process.poll() is None:
            process.send_signal(sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            continue
        if group is not None and group == process.pid:
            # The leader is gone; make sure nothing else of its group lingers.
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return


class ManagedProcess:
    """A child process with its output in a log file, stopped (TERM, then KILL) on `stop()`."""

    def __init__(
        self, name: str, argv: Sequence[str], log_path: Path, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ManagedProcess:
        """Start (or restart) it."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
            start_new_session=True,
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        """Its process id."""
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        """Whether it is running."""
        return self.process is not None and self.process.poll() is None

    def kill9(self) -> None:
        """SIGKILL, no goodbye (crash tests)."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; returns the exit status."""
        if self.process is None:
            return None
        _stop_group(self.process, timeout)
        return self.process.returncode

    def tail(self, lines: int = 30) -> str:
        """The end of its log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Anvil:
    """A local anvil node on its own port; automine by default, `block_time` for interval mining."""

    def __init__(
        self,
        port: int | None = None,
        *,
        block_time: float | None = None,
        mixed_mining: bool = False,
        log_path: Path | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.port = port or free_port()
        self.block_time = block_time
        self.mixed_mining = mixed_mining
        self.extra_args = list(extra_args)
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Its JSON-RPC URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        """Start it and wait until it answers."""
        argv = [
            anvil_binary(),
            "--port",
            str(self.port),
            "--accounts",
            "2",
            "--balance",
            "1000000",
            "--chain-id",
            "31337",
            "--gas-limit",
            "30000000",
        ]
        if self.block_time is not None:
            argv += ["--block-time", str(self.block_time)]
            if self.mixed_mining:
                argv.append("--mixed-mining")
        argv += self.extra_args
        out: Any = subprocess.DEVNULL
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            out = self.log_path.open("ab")
        self.process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
        if self.log_path is not None:
            out.close()
        _wait_port(self.port, self.process, 30.0, "anvil")
        deadline = time.monotonic() + 15
        while True:
            try:
                self.rpc("eth_chainId")
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        return self

    def rpc(self, method: str, params: Sequence[Any] = ()) -> Any:
        """A raw JSON-RPC call (anvil_* and evm_* helpers)."""
        response = httpx.post(
            self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}, timeout=30
        )
        body = response.json()
        if "error" in body:
            raise GpusettleError(f"{method} failed: {body['error']}")
        return body.get("result")

    def stop(self) -> None:
        """Stop the node (its launcher and the anvil binary it started)."""
        if self.process is not None:
            _stop_group(self.process, 10.0)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def _fast_kdf() -> Iterator[None]:
    """The light scrypt setting while throwaway keys are written (they protect nothing of value)."""
    before = os.environ.get(FAST_KDF_ENV)
    os.environ[FAST_KDF_ENV] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(FAST_KDF_ENV, None)
        else:
            os.environ[FAST_KDF_ENV] = before


class FastSender:
    """Sends many transactions from one account without waiting for each (anvil mines each at once),
    then checks them all: a throughput helper for setting up tests and benchmarks."""

    def __init__(self, client: Gpusettle | Chain, account: LocalAccount | str, gas: int = 1_000_000) -> None:
        self.chain = client.chain if isinstance(client, Gpusettle) else client
        self.account = account
        self.address = account if isinstance(account, str) else account.address
        self.gas = gas
        w3 = self.chain.w3
        self.nonce = int(w3.eth.get_transaction_count(cast(Any, self.address), "latest"))
        block = w3.eth.get_block("latest")
        base = int(block.get("baseFeePerGas") or 0)
        self.max_fee = 4 * base + 2 * 10**9
        self.tip = 10**9
        self.sent: list[tuple[str, str]] = []

    def send(
        self, description: str, to: str, data: str | bytes = b"", value: int = 0, gas: int | None = None
    ) -> str:
        """Sign and send; returns the hash."""
        w3 = self.chain.w3
        tx: dict[str, Any] = {
            "type": 2,
            "chainId": self.chain.chain_id,
            "nonce": self.nonce,
            "to": to,
            "data": data,
            "value": value,
            "gas": gas or self.gas,
            "maxFeePerGas": self.max_fee,
            "maxPriorityFeePerGas": self.tip,
        }
        if isinstance(self.account, str):
            tx["from"] = self.account
            tx_hash = w3.eth.send_transaction(cast(Any, tx)).to_0x_hex()
        else:
            signed = self.account.sign_transaction(tx)
            tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction).to_0x_hex()
        self.nonce += 1
        self.sent.append((description, tx_hash))
        return tx_hash

    def call(self, contract: Any, fn: str, *args: Any, gas: int | None = None) -> str:
        """Send `contract.fn(*args)`."""
        data = getattr(contract.functions, fn)(*args)._encode_transaction_data()
        return self.send(f"{fn}{args}", contract.address, data, gas=gas)

    def wait(self, timeout: float = 120.0) -> list[Any]:
        """Receipts of everything sent, in order; GpusettleError naming the first that reverted."""
        w3 = self.chain.w3
        receipts = []
        deadline = time.monotonic() + timeout
        for description, tx_hash in self.sent:
            while True:
                try:
                    receipt = w3.eth.get_transaction_receipt(HexBytes(tx_hash))
                    break
                except TransactionNotFound:
                    if time.monotonic() > deadline:
                        raise GpusettleError(
                            f"{description}: {tx_hash} not mined in {timeout:.0f} s"
                        ) from None
                    time.sleep(0.02)
            if int(receipt["status"]) != 1:
                raise GpusettleError(f"{description} reverted ({tx_hash}): {self._why(tx_hash, receipt)}")
            receipts.append(receipt)
        self.sent.clear()
        return receipts

    def _why(self, tx_hash: str, receipt: Any) -> str:
        w3 = self.chain.w3
        tx = w3.eth.get_transaction(HexBytes(tx_hash))
        try:
            w3.eth.call(
                cast(Any, {"from": tx["from"], "to": tx["to"], "data": tx["input"]}),
                int(receipt["blockNumber"]) - 1,
            )
        except Exception as exc:  # noqa: BLE001 - only for the message
            decoded = self.chain.contract_error(exc)
            return str(decoded) if decoded else str(exc)
        return "unknown reason"


@dataclass
class DevNet:
    """A deployed suite on a local node, with throwaway keys kept in an encrypted keystore."""

    anvil: Anvil
    workdir: Path
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18), repr=False)
    record: DeploymentRecord | None = None
    record_path: Path | None = None
    client: Gpusettle | None = None
    deployer: str = ""
    accounts: dict[str, LocalAccount] = field(default_factory=dict, repr=False)

    @property
    def keystore_dir(self) -> Path:
        """Where the throwaway keys live (encrypted)."""
        return self.workdir / "keystore"

    @property
    def gs(self) -> Gpusettle:
        """The connected client (after deploy)."""
        assert self.client is not None, "deploy first"
        return self.client

    def new_account(self, alias: str, eth: int = 100) -> LocalAccount:
        """A fresh key, stored encrypted under `alias`, funded with `eth` ETH from the node's dev account."""
        return self.new_accounts([alias], eth)[alias]

    def new_accounts(self, aliases: Sequence[str], eth: int = 100) -> dict[str, LocalAccount]:
        """Fresh keys (encrypted in the keystore), funded together and mined before this returns."""
        keystore = Keystore(self.keystore_dir)
        out: dict[str, LocalAccount] = {}
        with _fast_kdf():
            for alias in aliases:
                account: LocalAccount = Account.create()
                keystore.import_private_key(alias, account.key, self.password)
                self.accounts[alias] = account
                out[alias] = account
        if eth:
            chain = Chain.connect(self.anvil.url)
            sender = FastSender(chain, self._dev_account(chain), gas=21_000)
            for account in out.values():
                sender.send(f"fund {account.address}", account.address, value=eth * E18)
            sender.wait()
        return out

    def _dev_account(self, chain: Chain) -> str:
        if not self.deployer:
            self.deployer = str(chain.w3.eth.accounts[0])
        return self.deployer

    def deploy(
        self,
        oracles: Sequence[str],
        *,
        threshold: int = 1,
        arbiter: str | None = None,
        treasury: str | None = None,
        overrides: dict[str, Any] | None = None,
        echo: Any = None,
    ) -> DeploymentRecord:
        """Deploy the suite with gpusettle.deploy; the node's dev account is deployer and governance."""
        from dataclasses import replace

        chain = Chain.connect(self.anvil.url)
        deployer = self._dev_account(chain)
        network = network_for_chain_id(chain.chain_id)
        assert network is not None
        params = replace(network.parameters, oracle_threshold=threshold, **(overrides or {}))
        network = replace(network, parameters=params)
        roles = Roles.defaults(deployer, oracles=oracles, arbiter=arbiter, treasury=treasury)
        result = deploy_suite(
            chain,
            network,
            deployer,
            roles=roles,
            deployments_dir=self.workdir / "deployments",
            assume_yes=True,
            echo=echo or (lambda _line: None),
        )
        self.record = result.record
        self.record_path = result.path
        self.client = Gpusettle.connect(self.anvil.url, result.record)
        return result.record

    def treasury(self) -> str:
        """The treasury address."""
        return self.gs.roles().treasury

    def fund_tokens(self, recipients: dict[str, int]) -> None:
        """Send tokens (base units) from the deployer, who holds the supply."""
        sender = FastSender(self.gs, self.deployer)
        for to, amount in recipients.items():
            sender.call(self.gs.token, "transfer", to, amount)
        sender.wait()

    def setup_provider(
        self,
        provider: LocalAccount,
        worker: str,
        *,
        stake: int,
        gpu_model: str,
        gpu_count: int,
        vram_gb: int,
        price: int,
        metadata_uri: str = "",
    ) -> int:
        """Approve, stake, name the worker key and publish an offer; returns the offer id."""
        gs = self.gs
        sender = FastSender(gs, provider)
        sender.call(gs.token, "approve", gs.staking.address, stake)
        sender.call(gs.staking, "stake", stake)
        sender.call(gs.staking, "setWorker", worker)
        sender.call(gs.staking, "addOffer", gpu_model, gpu_count, vram_gb, price, metadata_uri)
        receipts = sender.wait()
        for event in gs.chain.decode_logs(receipts[-1]["logs"]):
            if event.name == "OfferAdded":
                return int(event.args["offerId"])
        raise GpusettleError("addOffer emitted no OfferAdded event")

    def open_jobs(
        self,
        client: LocalAccount,
        offer_id: int,
        count: int,
        *,
        max_gpu_seconds: int,
        spec_hash: bytes,
        deadline_in: int = 86_400,
        approve: bool = True,
    ) -> list[int]:
        """Open `count` jobs on an offer; returns their ids."""
        gs = self.gs
        sender = FastSender(gs, client)
        if approve:
            sender.call(gs.token, "approve", gs.escrow.address, 2**256 - 1)
        deadline = gs.chain.timestamp() + deadline_in
        offer = gs.offer(offer_id)
        for _ in range(count):
            sender.call(
                gs.escrow,
                "createJob",
                offer_id,
                max_gpu_seconds,
                deadline,
                spec_hash,
                offer.gpu_count,
                offer.price_per_gpu_second,
                gas=400_000,
            )
        receipts = sender.wait()
        ids = []
        for receipt in receipts:
            for event in gs.chain.decode_logs(receipt["logs"]):
                if event.name == "JobCreated":
                    ids.append(int(event.args["jobId"]))
        return ids

    def accept_jobs(self, acceptor: LocalAccount, job_ids: Sequence[int]) -> dict[int, int]:
        """Accept jobs; returns job id -> acceptedAt."""
        gs = self.gs
        sender = FastSender(gs, acceptor)
        for job_id in job_ids:
            sender.call(gs.escrow, "acceptJob", job_id, gas=200_000)
        out = {}
        for receipt in sender.wait():
            for event in gs.chain.decode_logs(receipt["logs"]):
                if event.name == "JobAccepted":
                    out[int(event.args["jobId"])] = int(event.args["acceptedAt"])
        return out

    def child_env(self, **extra: str) -> dict[str, str]:
        """Environment for worker and oracle processes: the keystore password travels in the
        environment, never on disk or on a command line."""
        env = dict(os.environ)
        env[PASSWORD_ENV] = self.password
        env[FAST_KDF_ENV] = "1"
        env["PYTHONUNBUFFERED"] = "1"
        env.setdefault("GPUSETTLE_PROJECT", str(_CHECKOUT))
        pythonpath = env.get("PYTHONPATH", "")
        env["PYTHONPATH"] = str(_CHECKOUT) + (os.pathsep + pythonpath if pythonpath else "")
        env.update(extra)
        return env


# ------------------------------------------------------------------------------------------------------
# The demo
# ------------------------------------------------------------------------------------------------------


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


def run_demo(workdir: Path, *, n: int | None, repetitions: int | None, keep: bool = False) -> int:
    """The whole demo in `workdir`; returns the exit status."""
    clock = _Clock()
    hardware = detect_hardware()
    print(f"gpusettle demo: one GPU job from nothing to a settled payment (work dir {workdir})")
    print(f"hardware: {hardware.note}")
    processes: list[ManagedProcess] = []
    anvil = Anvil(port=free_port(), log_path=workdir / "logs" / "anvil.log")
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
        sender = FastSender(gs, keys["provider"])
        sender.call(gs.token, "approve", gs.staking.address, stake)
        sender.call(gs.staking, "stake", stake)
        sender.call(gs.staking, "setWorker", keys["worker"].address)
        sender.call(
            gs.staking,
            "addOffer",
            hardware.model[:256],
            hardware.count,
            hardware.memory_gb,
            price,
            f"gpusettle-demo://{platform.node()}",
        )
        setup = sender.wait()
        offer_id = gs.offer_count()
        clock.step(
            f"provider staked {format_units(stake)} GPUC, named its worker key and published offer {offer_id}: "
            f"{hardware.count} x {hardware.model}",
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
            ],
            workdir / "logs" / "worker.log",
            env,
        )
        processes += [oracle_proc.start(), worker_proc.start()]
        _wait_port(oracle_port, oracle_proc.process, 60, "the oracle")
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
        max_gpu_seconds = 600 * hardware.count
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
            hardware.count,
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

        billed = int(settled_event.args["gpuSeconds"])
        payout = int(settled_event.args["payout"])
        fee = int(settled_event.args["fee"])
        client_after = gs.token_balance(keys["client"].address)
        refunded = client_after - (client_balance_before - max_gpu_seconds * price)
        status = httpx.get(f"{oracle_url}/v1/receipts/{job_id}", timeout=10).json()
        evidence = _receipt_evidence(workdir / "oracle" / "oracle.sqlite", job_id)
        ok = (
            payout + fee == billed * price
            and refunded == max_gpu_seconds * price - billed * price
            and gs.token_balance(keys["provider"].address) == payout
            and gs.token_balance(keys["treasury"].address) == fee
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
            oracle_proc,
            worker_proc,
            ok,
        )
        return 0 if ok else 1
    finally:
        for proc in processes:
            proc.stop()
        anvil.stop()
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


def _event_tx(gs: Gpusettle, event: str, job_id: int) -> str:
    logs = getattr(gs.escrow.events, event).get_logs(
        argument_filters={"jobId": job_id}, from_block=gs.record.deploy_block
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
    oracle_proc: ManagedProcess,
    worker_proc: ManagedProcess,
    ok: bool,
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
    lines.append(f"oracle and worker logs: {oracle_proc.log_path.parent}")
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
        "--keep", action="store_true", help="keep the work directory (logs, stores, keystores)"
    )
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="gpusettle-demo-"))
    try:
        return run_demo(workdir, n=args.n, repetitions=args.repetitions, keep=args.keep)
    except GpusettleError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; every process the demo started was stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
