"""A deployed suite with a provider, its one offer of GPUS GPUs, its worker key, a client and the oracle, against a
real anvil; jobs on it are opened, accepted and settled through the contracts (shared by the CLI tests of what
settled jobs leave behind: their GPUs and their dispute reserves)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount

from gpusettle.devnet import DevNet, FastSender
from tests.cli.runner import Cli, cli_anvil
from tests.helpers.signing import Receipt, domain, sign_attestation, sign_receipt

E18 = 10**18
PRICE = 10**14
SPEC = bytes.fromhex("ab" * 32)
RESULT = bytes.fromhex("cd" * 32)
GPUS = 3


def oracle_settles(net: DevNet, accounts: dict[str, LocalAccount], receipts: list[Receipt]) -> None:
    """Settle each receipt as the worker signs it and the oracle posts it (a 1-of-1 attestation of that receipt)."""
    gs = net.gs
    dom = domain(gs.chain.chain_id, gs.escrow.address)
    epoch = gs.oracle_set().epoch
    oracle = FastSender(gs, accounts["oracle"])
    for receipt in receipts:
        worker_sig = sign_receipt(receipt, accounts["worker"].key.hex(), dom)
        attestation = sign_attestation([receipt], epoch, [accounts["oracle"].key.hex()], dom)
        oracle.call(gs.escrow, "settle", receipt.as_tuple(), worker_sig, attestation, gas=600_000)
    oracle.wait()


class World:
    """A deployed suite: a provider with one GPUS-GPU offer, its worker key, a client and the oracle."""

    def __init__(self, net: DevNet, cli: Cli, accounts: dict[str, LocalAccount], offer: int) -> None:
        self.net = net
        self.cli = cli
        self.accounts = accounts
        self.offer = offer

    def free_gpus(self) -> int:
        return int(self.net.gs.staking.functions.freeGpus(self.offer).call())

    def plan_create(self) -> Any:
        """Plan a one-GPU job on the offer (DecodedContractError when no GPU is free)."""
        gs = self.net.gs
        deadline = gs.chain.timestamp() + 86_400
        return gs.chain.plan_call(
            "create", self.accounts["client"].address, gs.escrow, "createJob",
            self.offer, 1000, deadline, SPEC, 1, PRICE,
        )  # fmt: skip

    def settled_jobs(self, count: int) -> list[int]:
        """Open, accept and settle `count` one-GPU jobs on the offer; their ids."""
        gs, acc = self.net.gs, self.accounts
        client = FastSender(gs, acc["client"])
        deadline = gs.chain.timestamp() + 86_400
        for _ in range(count):
            client.call(gs.escrow, "createJob", self.offer, 1000, deadline, SPEC, 1, PRICE, gas=400_000)
        ids = [
            int(e.args["jobId"])
            for r in client.wait()
            for e in gs.chain.decode_logs(r["logs"])
            if e.name == "JobCreated"
        ]
        accepted = self.net.accept_jobs(acc["worker"], ids)
        self.net.anvil.increase_time(20)
        provider = acc["provider"].address
        oracle_settles(self.net, acc, [Receipt(j, provider, 10, accepted[j], accepted[j] + 10, RESULT) for j in ids])
        assert all(gs.job(j).status == "Settled" for j in ids)
        return ids


@contextmanager
def settled_world(work: Path) -> Iterator[World]:
    """The World on a fresh anvil, files under `work`; the anvil stops on exit."""
    with cli_anvil() as anvil:
        net = DevNet(anvil, work)
        accounts = net.new_accounts(["provider", "worker", "client", "oracle", "broke"], eth=10)
        anvil.set_balance(accounts["broke"].address, 0)
        net.deploy([accounts["oracle"].address])
        net.fund_tokens({accounts["provider"].address: 10_000 * E18, accounts["client"].address: 1_000 * E18})
        offer = net.setup_provider(
            accounts["provider"], accounts["worker"].address, stake=5_000 * E18, gpu_model="NVIDIA H100 80GB HBM3",
            gpu_count=GPUS, vram_gb=80, price=PRICE,
        )  # fmt: skip
        approve = FastSender(net.gs, accounts["client"])
        approve.call(net.gs.token, "approve", net.gs.escrow.address, 2**256 - 1)
        approve.wait()
        cli = Cli.on_devnet(net, work)
        yield World(net, cli, accounts, offer)
