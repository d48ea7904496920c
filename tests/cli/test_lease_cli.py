"""`gpusettle lease ...` and the provider's lease commands against a real anvil with the lease escrow
deployed: open (offer, permit, match), accept, top up, checkpoints signed by the oracle key, reclaim,
close, refund, list; pause and resume; every refusal is an `error:` + `hint:` that sends nothing.

Checkpoints are signed here the way the oracles sign them (LEASE_SPEC: the contract's attestation
digest over the struct hashes), so the CLI's view of up and down time, paid and refundable is checked
against real settlements.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_account.signers.local import LocalAccount

from gpusettle.chain.leases import Leases
from gpusettle.devnet import DevNet, FastSender
from gpusettle.hashing import keccak256
from tests.cli.runner import Cli, cli_anvil

E18 = 10**18
PRICE = 10**14  # per GPU-second: 0.36 tokens per GPU-hour
SPEC = "0x" + "ab" * 32
CHECKPOINT_TYPE = (
    b"LeaseCheckpoint(uint256 leaseId,uint64 fromTime,uint64 toTime,uint64 upSeconds,uint64 downSeconds,"
    b"bytes32 heartbeatsRoot)"
)


class World:
    """A deployed suite with a provider (two offers), its worker key, a client and the oracle."""

    def __init__(self, net: DevNet, gs: Cli, accounts: dict[str, LocalAccount], offers: list[int]) -> None:
        self.net = net
        self.cli = gs
        self.accounts = accounts
        self.offers = offers
        self.leases = Leases(net.gs)

    def lease(self, lease_id: int) -> Any:
        return self.leases.lease(lease_id)

    def checkpoint(self, lease_id: int, up: int, down: int, *, to_end: bool = False) -> None:
        """Pay [paidThrough, paidThrough + up + down) (or to the billing end), signed by the oracle."""
        info = self.lease(lease_id)
        start = info.paid_through
        end = info.billing_end if to_end else start + up + down
        if to_end:
            down = end - start - up
        root = b"\x00" * 32
        struct = keccak256(
            keccak256(CHECKPOINT_TYPE)
            + abi_encode(
                ["uint256", "uint64", "uint64", "uint64", "uint64", "bytes32"],
                [lease_id, start, end, up, down, root],
            )
        )
        gs = self.net.gs
        epoch = gs.oracle_set().epoch
        digest = bytes(self.leases.escrow.functions.attestationDigest(keccak256(struct), epoch).call())
        oracle = self.accounts["oracle"]
        sig = oracle.unsafe_sign_hash(digest)
        vs = sig.s | ((sig.v - 27) << 255)
        sender = FastSender(gs, oracle)
        sender.call(
            self.leases.escrow,
            "submitCheckpoints",
            [(lease_id, start, end, up, down, root)],
            [(sig.r.to_bytes(32, "big"), vs.to_bytes(32, "big"))],
            gas=600_000,
        )
        sender.wait()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    work = tmp_path_factory.mktemp("leases")
    with cli_anvil() as anvil:
        net = DevNet(anvil, work)
        accounts = net.new_accounts(["provider", "worker", "client", "other", "oracle"], eth=10)
        net.deploy([accounts["oracle"].address])
        net.fund_tokens(
            {accounts["provider"].address: 100_000 * E18, accounts["client"].address: 1_000 * E18}
        )
        offer = net.setup_provider(
            accounts["provider"], accounts["worker"].address, stake=50_000 * E18, gpu_model="NVIDIA H100 80GB HBM3",
            gpu_count=4, vram_gb=80, price=PRICE,
        )  # fmt: skip
        sender = FastSender(net.gs, accounts["provider"])
        sender.call(net.gs.staking, "addOffer", "NVIDIA H100 80GB HBM3", 2, 80, 2 * PRICE, "")
        sender.wait()
        cli = Cli.on_devnet(net, work, GPUSETTLE_YES="1")
        yield World(net, cli, accounts, [offer, offer + 1])


def test_open_accept_checkpoint_top_up_reclaim_and_refund(world: World) -> None:
    gs, net = world.cli, world.net
    offer = world.offers[0]
    set_class = gs.json(
        "provider", "offer", "availability", str(offer), "--class", "reclaimable", "--notice", "10m",
        "--uptime-guarantee", "90", "--account", "provider",
    )  # fmt: skip
    assert set_class["class"] == "reclaimable" and set_class["notice_seconds"] == 600
    assert set_class["uptime_guarantee_bps"] == 9000 and set_class["free_gpus"] == 4

    before = net.gs.token_balance(world.accounts["client"].address)
    opened = gs.json(
        "lease", "open", "--offer", str(offer), "--gpus", "2", "--for", "1h", "--spec-hash", SPEC,
        "--class", "reclaimable", "--min-notice", "5m", "--account", "client",
    )  # fmt: skip
    lease_id = opened["lease_id"]
    rate = 2 * PRICE
    assert int(opened["deposit"]) == rate * 3600 and int(opened["rate_per_second"]) == rate
    assert net.gs.token_balance(world.accounts["client"].address) == before - rate * 3600
    assert world.leases.offer_availability(offer).free_gpus == 2
    assert gs.json("lease", "status", str(lease_id), "--account", "client")["status"] == "Open"

    accepted = gs.json("provider", "lease", "accept", str(lease_id), "--account", "worker")
    assert int(accepted["collateral"]) > 0
    info = world.lease(lease_id)
    assert info.status == "Running" and info.runway_end == info.started_at + 3600

    topped = gs.json("lease", "top-up", str(lease_id), "--for", "30m", "--account", "client")
    assert int(topped["deposit"]) == rate * 5400 and topped["runway_end"] == info.started_at + 5400

    net.anvil.increase_time(600)
    world.checkpoint(lease_id, up=500, down=100)
    status = gs.json("lease", "status", "--account", "client")  # the newest lease of --account
    assert status["lease_id"] == lease_id
    assert (status["up_seconds"], status["down_seconds"]) == (500, 100)
    assert int(status["paid"]) == 500 * rate
    text = gs("lease", "status", str(lease_id), "--account", "client").output
    for shown in (
        "runway end",
        "up / down   8 min 20 s / 1 min 40 s (83.3% up)",
        "rate        0.72 ",
        "paid",
    ):
        assert shown in text, text

    reclaimed = gs.json("provider", "reclaim", str(lease_id), "--account", "provider")
    now = net.gs.chain.timestamp()
    assert now <= reclaimed["billing_end"] <= now + 600
    again = gs("provider", "reclaim", str(lease_id), "--account", "provider", ok=False)
    assert "already ends billing" in again.output and "hint:" in again.output

    net.anvil.increase_time(700)
    world.checkpoint(lease_id, up=400, down=0, to_end=True)
    ended = world.lease(lease_id)
    assert ended.status == "Ended" and ended.refundable > 0
    assert world.leases.offer_availability(offer).free_gpus == 4
    closed = gs("lease", "close", str(lease_id), "--account", "client", ok=False)
    assert "is Ended: there is nothing to close" in closed.output and "claim-refund" in closed.output
    balance = net.gs.token_balance(world.accounts["client"].address)
    refunded = gs.json("lease", "claim-refund", str(lease_id), "--account", "client")
    assert int(refunded["refunded"]) == ended.refundable
    assert net.gs.token_balance(world.accounts["client"].address) == balance + ended.refundable
    twice = gs("lease", "claim-refund", str(lease_id), "--account", "client", ok=False)
    assert "error:" in twice.output and "hint:" in twice.output


def test_refusals_send_nothing(world: World) -> None:
    gs = world.cli
    offer = world.offers[0]
    count = world.leases.lease_count()

    def refused(*args: str) -> str:
        out = gs(
            "lease",
            "open",
            "--offer",
            str(offer),
            "--spec-hash",
            SPEC,
            "--account",
            "client",
            *args,
            ok=False,
        )
        assert out.output.startswith("error:") or "\nerror:" in out.output, out.output
        assert "hint:" in out.output
        assert world.leases.lease_count() == count
        return out.output

    assert "has 4 of 4 GPUs free; the lease asks for 5" in refused("--gpus", "5", "--for", "1h")
    assert "the lease accepts dedicated" in refused("--class", "dedicated", "--for", "1h")
    assert "notice before a reclaim" in refused("--class", "reclaimable", "--min-notice", "1h", "--for", "1h")
    assert "above --max-price" in refused("--max-price", "0.1/h", "--for", "1h", "--class", "reclaimable")
    assert "not a duration" in refused("--for", "soon")
    assert "in the past" in refused("--for", "1h", "--end", "2020-01-01T00:00:00", "--class", "reclaimable")
    poor = gs(
        "lease", "open", "--offer", str(offer), "--deposit", "1000000", "--spec-hash", SPEC, "--class", "reclaimable",
        "--account", "other", ok=False,
    )  # fmt: skip
    assert "error:" in poor.output and world.leases.lease_count() == count
    usage = gs("lease", "open", "--offer", str(offer), "--spec-hash", SPEC, "--account", "client", ok=False)
    assert "--deposit AMOUNT" in usage.output and "--for DURATION" in usage.output
    missing = gs("lease", "status", "999", "--account", "client", ok=False)
    assert "error:" in missing.output and "Traceback" not in missing.output


def test_pause_resume_permit_close_cancel_and_list(world: World) -> None:
    gs, net = world.cli, world.net
    offer = world.offers[1]  # dedicated, 2 GPUs at 2 x PRICE
    paused = gs.json("provider", "offer", "pause", str(offer), "--account", "worker")
    assert paused["paused"] is True
    refused = gs(
        "lease",
        "open",
        "--offer",
        str(offer),
        "--for",
        "1h",
        "--spec-hash",
        SPEC,
        "--account",
        "client",
        ok=False,
    )
    assert "is paused by its provider" in refused.output
    twice = gs("provider", "offer", "pause", str(offer), "--account", "provider", ok=False)
    assert "already paused" in twice.output
    gs("provider", "offer", "resume", str(offer), "--account", "provider")

    opened = gs.json(
        "lease", "open", "--offer", str(offer), "--gpus", "2", "--deposit", "10", "--permit", "--end", "2h",
        "--spec-hash", SPEC, "--account", "client",
    )  # fmt: skip
    lease_id = opened["lease_id"]
    assert int(opened["deposit"]) == 10 * E18 and opened["end_time"] > 0
    cancelled = gs.json("lease", "close", str(lease_id), "--account", "client")
    assert cancelled["status"] == "Cancelled" and int(cancelled["refund"]) == 10 * E18

    second = gs.json(
        "lease",
        "open",
        "--offer",
        str(offer),
        "--gpus",
        "1",
        "--for",
        "10m",
        "--spec-hash",
        SPEC,
        "--account",
        "client",
    )["lease_id"]
    stranger = gs("provider", "lease", "accept", str(second), "--account", "client", ok=False)
    assert "LeaseEscrowNotProviderOrWorker" in stranger.output
    assert "hint: send it from the provider's staking wallet or its worker key" in stranger.output
    assert world.lease(second).status == "Open"
    declined = gs.json("provider", "lease", "decline", str(second), "--account", "provider")
    assert world.lease(second).status == "Cancelled" and int(declined["refund"]) == 2 * PRICE * 600

    third = gs.json(
        "lease", "open", "--offer", str(offer), "--for", "10m", "--spec-hash", SPEC, "--account", "client"
    )["lease_id"]
    not_yours = gs("provider", "reclaim", str(third), "--account", "provider", ok=False)
    assert "only a running lease" in not_yours.output
    gs("provider", "lease", "accept", str(third), "--account", "worker")
    dedicated = gs("provider", "reclaim", str(third), "--account", "provider", ok=False)
    assert "is dedicated: it cannot be reclaimed" in dedicated.output
    net.anvil.increase_time(60)
    closed = gs.json("lease", "close", str(third), "--account", "client")
    assert closed["billing_end"] == world.lease(third).billing_end > 0

    mine = gs.json("lease", "list", "--account", "client")["leases"]
    assert {r["lease_id"] for r in mine} >= {lease_id, second, third}
    statuses = {r["lease_id"]: r["status"] for r in mine}
    assert statuses[lease_id] == "Cancelled" and statuses[third] == "Running"
    theirs = gs.json("provider", "lease", "list", "--account", "provider")["leases"]
    assert {r["lease_id"] for r in theirs} == {r["lease_id"] for r in mine}
    assert "no leases" in gs("lease", "list", "--account", "other").output


def test_market_and_match_read_the_lease_terms(world: World, tmp_path: Path) -> None:
    gs = world.cli
    db = tmp_path / "index.db"
    gs("index", "run", "--db", str(db), "--once")
    offers = {o["offer_id"]: o for o in gs.json("market", "offers", "--index", str(db))["offers"]}
    first, second = world.offers
    assert offers[first]["gpu_class"] == "reclaimable" and offers[first]["notice_seconds"] == 600
    assert offers[second]["gpu_class"] == "dedicated"
    assert offers[second]["gpus_free"] == 1  # the running lease of the test before holds one of two
    only_dedicated = gs.json("market", "offers", "--index", str(db), "--class", "dedicated")["offers"]
    assert [o["offer_id"] for o in only_dedicated] == [second]
    two_free = gs.json("market", "offers", "--index", str(db), "--free", "2")["offers"]
    assert [o["offer_id"] for o in two_free] == [first]
    # Every lease row of the index agrees with the escrow's own view of it.
    from gpusettle.index import queries
    from gpusettle.index.db import Database

    index = Database(db, read_only=True)
    total, rows = queries.leases(index, limit=100)
    assert total == world.leases.lease_count() >= 4
    for r in rows:
        chain = world.lease(r.lease_id)
        # After the end the escrow shows paid + refundable as the deposit; the index keeps what went in.
        deposit = int(r.deposit) - (int(r.refunded) if r.status == "Ended" else 0)
        assert (r.status, r.up_seconds, r.down_seconds, int(r.paid), deposit) == (
            chain.status, chain.up_seconds, chain.down_seconds, chain.paid, chain.deposit,
        ), r.lease_id  # fmt: skip
        assert int(r.collateral) == chain.collateral and (r.billing_end or 0) == chain.billing_end
        if chain.status == "Running":
            assert r.runway_end == chain.runway_end
    first_lease = queries.lease(index, rows[-1].lease_id)
    assert first_lease is not None and len(first_lease.checkpoints) == 2
    assert int(first_lease.lease.refunded) > 0 and first_lease.lease.reclaimed
    index.close()
    table = gs("market", "offers", "--index", str(db)).output
    assert "reclaimable 10 min" in table and "1/2" in table

    # The index still says offer 1 is free, but it was paused after indexing: --match says so and moves on.
    gs("provider", "offer", "pause", str(first), "--account", "provider")
    moved = gs(
        "lease", "open", "--match", "gpu=H100,class=interruptible", "--index", str(db), "--for", "10m",
        "--spec-hash", SPEC, "--account", "client", "--json",
    )  # fmt: skip
    assert f"offer {first} does not fit on-chain: it is paused" in moved.output
    lease_id = json.loads(moved.stdout)["lease_id"]
    assert world.lease(lease_id).offer_id == second
    gs("provider", "offer", "resume", str(first), "--account", "provider")
    none = gs(
        "lease", "open", "--match", "gpu=B200", "--index", str(db), "--for", "10m", "--spec-hash", SPEC,
        "--account", "client", ok=False,
    )  # fmt: skip
    assert "no active offer with 1 free GPU(s) fits" in none.output


def test_dispute_a_checkpoint_and_lapse_it_when_the_arbiter_does_not_rule(world: World) -> None:
    """`lease dispute` posts the bond and says the ruling deadline; `lease lapse-dispute` is refused until the
    deadline, then returns the bond and the lease runs again. Every refusal sends nothing."""
    gs, net = world.cli, world.net
    client = world.accounts["client"].address
    opened = gs.json(
        "lease", "open", "--offer", str(world.offers[0]), "--gpus", "1", "--for", "2h", "--spec-hash", SPEC,
        "--class", "interruptible", "--account", "client",
    )  # fmt: skip
    lease_id = opened["lease_id"]
    gs.json("provider", "lease", "accept", str(lease_id), "--account", "worker")
    early = gs("lease", "dispute", str(lease_id), "--reason", "idle GPU", "--account", "client", ok=False)
    assert "has no checkpoint yet" in early.output and "hint:" in early.output, early.output
    net.anvil.increase_time(300)
    world.checkpoint(lease_id, up=200, down=0)
    stranger = gs("lease", "dispute", str(lease_id), "--reason", "x", "--account", "other", ok=False)
    assert f"belongs to {client}" in stranger.output and world.lease(lease_id).status == "Running"

    bond = world.leases.lease_parameters(lease_id)["lease_dispute_bond"]
    balance = net.gs.token_balance(client)
    disputed = gs.json("lease", "dispute", str(lease_id), "--reason", "idle GPU", "--account", "client")
    deadline = disputed["ruling_deadline"]
    assert int(disputed["bond"]) == bond and deadline > net.gs.chain.timestamp() + 86_400
    assert disputed["reason_hash"] == "0x" + keccak256(b"idle GPU").hex()
    info = world.lease(lease_id)
    assert (info.status, info.ruling_deadline, info.dispute_bond) == ("Disputed", deadline, bond)
    assert net.gs.token_balance(client) == balance - bond
    assert "the arbiter rules by" in gs("lease", "status", str(lease_id), "--account", "client").output

    waiting = gs("lease", "lapse-dispute", str(lease_id), "--account", "other", ok=False)
    assert (
        f"may still rule on lease {lease_id}'s dispute" in waiting.output and str(deadline) in waiting.output
    )
    assert world.lease(lease_id).status == "Disputed"

    net.anvil.increase_time(deadline - net.gs.chain.timestamp() + 60)
    lapsed = gs.json("lease", "lapse-dispute", str(lease_id), "--account", "other")
    assert (lapsed["lease_id"], int(lapsed["bond_returned"]), lapsed["client"]) == (lease_id, bond, client)
    assert net.gs.token_balance(client) == balance
    assert world.lease(lease_id).status == "Running"
    again = gs("lease", "lapse-dispute", str(lease_id), "--account", "other", ok=False)
    assert "is Running, not Disputed" in again.output and "hint:" in again.output
    late = gs("lease", "dispute", str(lease_id), "--reason", "idle GPU", "--account", "client", ok=False)
    assert "dispute window" in late.output and "closed" in late.output, late.output
