"""`gpusettle job lapse-dispute` (issue 8, lower finding 1): a dispute the arbiter did not rule on by its ruling
deadline lapses and the client's bond goes back to it; before the deadline the CLI says when it may be sent.
Against a real anvil."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_account.signers.local import LocalAccount

from gpusettle.devnet import DevNet, FastSender
from tests.cli.runner import Cli, cli_anvil
from tests.cli.settled_world import oracle_settles
from tests.helpers.signing import Receipt

E18 = 10**18
PRICE = 10**14
SPEC = bytes.fromhex("ab" * 32)
RESULT = bytes.fromhex("cd" * 32)
RULING_PERIOD = 14 * 86_400  # JobEscrow's default


class World:
    def __init__(self, net: DevNet, cli: Cli, accounts: dict[str, LocalAccount], offer: int) -> None:
        self.net = net
        self.cli = cli
        self.accounts = accounts
        self.offer = offer

    def disputed_job(self) -> int:
        """Open, accept, settle and dispute a one-GPU job; its id."""
        gs, acc = self.net.gs, self.accounts
        client = FastSender(gs, acc["client"])
        client.call(gs.escrow, "createJob", self.offer, 1000, gs.chain.timestamp() + 86_400, SPEC, 1, PRICE,
                    gas=400_000)  # fmt: skip
        (job_id,) = [
            int(e.args["jobId"])
            for r in client.wait()
            for e in gs.chain.decode_logs(r["logs"])
            if e.name == "JobCreated"
        ]
        start = self.net.accept_jobs(acc["worker"], [job_id])[job_id]
        self.net.anvil.increase_time(20)
        oracle_settles(self.net, acc, [Receipt(job_id, acc["provider"].address, 10, start, start + 10, RESULT)])
        client.call(gs.escrow, "dispute", job_id, b"\x01" * 32, gas=300_000)
        client.wait()
        assert gs.job(job_id).status == "Disputed"
        return job_id


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    work = tmp_path_factory.mktemp("lapse")
    with cli_anvil() as anvil:
        net = DevNet(anvil, work)
        accounts = net.new_accounts(["provider", "worker", "client", "oracle", "rando"], eth=10)
        net.deploy([accounts["oracle"].address], arbiter=accounts["rando"].address)
        net.fund_tokens({accounts["provider"].address: 10_000 * E18, accounts["client"].address: 1_000 * E18})
        offer = net.setup_provider(
            accounts["provider"], accounts["worker"].address, stake=5_000 * E18, gpu_model="NVIDIA H100 80GB HBM3",
            gpu_count=8, vram_gb=80, price=PRICE,
        )  # fmt: skip
        approve = FastSender(net.gs, accounts["client"])
        approve.call(net.gs.token, "approve", net.gs.escrow.address, 2**256 - 1)
        approve.wait()
        home = work / "home"
        home.mkdir()
        cli = Cli(
            home,
            {
                "GPUSETTLE_HOME": str(home),
                "GPUSETTLE_KDF_FAST": "1",
                "GPUSETTLE_DEV_RPC_URL": anvil.url,
                "GPUSETTLE_DEPLOYMENTS": str(work / "deployments"),
                "GPUSETTLE_KEYSTORE": str(net.keystore_dir),
                "GPUSETTLE_PASSWORD": net.password,
            },
        )
        yield World(net, cli, accounts, offer)


def test_lapse_before_the_deadline_says_when_and_changes_nothing(world: World) -> None:
    job_id = world.disputed_job()
    gs = world.net.gs
    deadline = gs.job(job_id).deadline
    assert deadline - gs.chain.timestamp() > RULING_PERIOD - 600
    bal = gs.token_balance(world.accounts["client"].address)
    result = world.cli("job", "lapse-dispute", str(job_id), "-a", "rando", "--yes", ok=False)
    assert "error:" in result.output and "hint:" in result.output, result.output
    assert f"may still rule on job {job_id}" in result.output and str(deadline) in result.output, (
        result.output
    )
    assert gs.job(job_id).status == "Disputed"
    assert gs.token_balance(world.accounts["client"].address) == bal


def test_lapse_after_the_deadline_returns_the_bond(world: World) -> None:
    job_id = world.disputed_job()
    gs = world.net.gs
    client = world.accounts["client"].address
    bond = gs.job(job_id).dispute_bond
    bal = gs.token_balance(client)
    world.net.anvil.increase_time(RULING_PERIOD + 60)
    out = world.cli.json("job", "lapse-dispute", str(job_id), "-a", "rando", "--yes")
    assert (out["job_id"], int(out["bond_returned"]), out["client"]) == (job_id, bond, client)
    assert gs.job(job_id).status == "DisputeLapsed"
    assert gs.token_balance(client) == bal + bond
    again = world.cli("job", "lapse-dispute", str(job_id), "-a", "rando", "--yes", ok=False)
    assert "is DisputeLapsed, not Disputed" in again.output and "hint:" in again.output, again.output


def test_a_dispute_the_escrow_would_refuse_sends_nothing_not_even_the_bonds_approval(world: World) -> None:
    """`job dispute` used to send the bond's approval first and only then learn the dispute was refused (already
    disputed, not settled, not the caller's job, no such job): gas spent and an allowance left behind."""
    job_id = world.disputed_job()
    gs = world.net.gs
    rando = world.accounts["rando"].address
    world.net.fund_tokens({rando: 100 * E18})
    nonce = gs.chain.w3.eth.get_transaction_count(rando)
    for target, expected in (
        (job_id, f"job {job_id} is Disputed"),  # rando's view: the job is not settled
        (
            job_id + 100,
            f"JobEscrowUnknownJob(jobId={job_id + 100})",
        ),  # a read, refused before any transaction
    ):
        out = world.cli("job", "dispute", str(target), "--reason", "x", "-a", "rando", "--yes", ok=False)
        assert "error:" in out.output and "hint:" in out.output and expected in out.output, out.output
    client_out = world.cli(
        "job", "dispute", str(job_id), "--reason", "again", "-a", "client", "--yes", ok=False
    )
    assert f"job {job_id} is Disputed" in client_out.output, client_out.output
    assert gs.chain.w3.eth.get_transaction_count(rando) == nonce
    assert gs.allowance(rando, gs.escrow.address) == 0


def test_the_arbiter_rules_from_the_cli_and_no_one_else_can(world: World) -> None:
    job_id = world.disputed_job()
    gs = world.net.gs
    provider = world.accounts["provider"].address
    bond = gs.job(job_id).dispute_bond
    earned = gs.token_balance(provider)
    stranger = world.cli("admin", "rule", "job", str(job_id), "--rejected", "-a", "client", "--yes", ok=False)
    assert "is not the arbiter" in stranger.output and "hint:" in stranger.output, stranger.output
    assert gs.job(job_id).status == "Disputed"
    out = world.cli.json("admin", "rule", "job", str(job_id), "--rejected", "-a", "rando", "--yes")
    assert (out["kind"], out["id"], out["upheld"]) == ("job", job_id, False)
    assert gs.job(job_id).status == "DisputeRejected"
    assert gs.token_balance(provider) == earned + bond  # a rejected dispute's bond goes to the provider
    again = world.cli("admin", "rule", "job", str(job_id), "--upheld", "-a", "rando", "--yes", ok=False)
    assert "not Disputed" in again.output, again.output
    late = world.disputed_job()
    world.net.anvil.increase_time(RULING_PERIOD + 60)
    past = world.cli("admin", "rule", "job", str(late), "--upheld", "-a", "rando", "--yes", ok=False)
    assert "ruling deadline" in past.output and "lapse-dispute" in past.output, past.output
    assert gs.job(late).status == "Disputed"
