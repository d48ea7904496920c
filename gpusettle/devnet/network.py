"""A deployed suite on a local node, with throwaway keys kept in an encrypted keystore."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from ..chain import Chain, Gpusettle
from ..deploy import Roles, deploy_suite, network_for_chain_id
from ..errors import GpusettleError
from ..keystore import FAST_KDF_ENV, PASSWORD_ENV, Keystore
from ..models import DeploymentRecord
from .anvil import Anvil
from .sender import FastSender

__all__ = ["E18", "DevNet", "fast_kdf"]

E18 = 10**18
_CHECKOUT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def fast_kdf() -> Iterator[None]:
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
        with fast_kdf():
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
        gpus: int | None = None,
    ) -> list[int]:
        """Open `count` jobs on an offer, each reserving `gpus` of its GPUs (default: all of them);
        returns their ids. GpusettleError, before anything is sent, when the offer has too few free."""
        gs = self.gs
        # The client's price limit is the offer's current price.
        offer = gs.offer(offer_id)
        per_job = offer.gpu_count if gpus is None else gpus
        if per_job < 1 or per_job > offer.gpu_count:
            raise GpusettleError(
                f"a job on offer {offer_id} must take 1 to {offer.gpu_count} GPUs, not {per_job}",
                "pass gpus= within the offer's GPU count",
            )
        # Checked here so that a batch that cannot fit fails with the numbers, not as a revert of one
        # of its transactions after the first ones were mined.
        free = gs.free_gpus(offer_id)
        if count * per_job > free:
            raise GpusettleError(
                f"offer {offer_id} has {free} of its {offer.gpu_count} GPUs free; {count} job(s) of "
                f"{per_job} GPU(s) need {count * per_job}",
                "open fewer jobs, ask for fewer GPUs per job (gpus=), publish a bigger offer, or wait "
                "for running jobs to end (settled jobs' GPUs come back with releaseJobGpus)",
            )
        sender = FastSender(gs, client)
        if approve:
            sender.call(gs.token, "approve", gs.escrow.address, 2**256 - 1)
        deadline = gs.chain.timestamp() + deadline_in
        for _ in range(count):
            sender.call(
                gs.escrow,
                "createJob",
                offer_id,
                max_gpu_seconds,
                deadline,
                spec_hash,
                per_job,
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
        if (_CHECKOUT / "pyproject.toml").is_file():
            # Run from a checkout: the children import this same tree and read its build/ artifacts.
            env.setdefault("GPUSETTLE_PROJECT", str(_CHECKOUT))
            pythonpath = env.get("PYTHONPATH", "")
            env["PYTHONPATH"] = str(_CHECKOUT) + (os.pathsep + pythonpath if pythonpath else "")
        env.update(extra)
        return env
