"""Real leases on the explorer tests' market chain: one running with two paid checkpoints (one with down
time), one closed by its client and ended by its final checkpoint with the refund claimed, and one still
waiting for its provider. A handful of transactions on the module's chain, before it is indexed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gpusettle.bench.market_world import MarketWorld
from gpusettle.devnet import FastSender
from gpusettle.eip712 import sign_digest
from gpusettle.leases.eip712 import checkpoint_attestation_digest, checkpoints_hash, lease_domain
from gpusettle.leases.models import Checkpoint

__all__ = ["ENDED_OFFER", "RUNNING_OFFER", "MarketLeases", "open_market_leases"]

RUNNING_OFFER = 6
"""The market offer (index into OFFERS) of the running and the open lease: the H200 offer, whose jobs all
wait for acceptance (five of its eight GPUs free; provider 0, the other with room, was jailed by the
market's upheld dispute)."""
ENDED_OFFER = 5
"""The market offer of the ended lease: the L40S offer, one of its four GPUs free."""
ROOT = "0x" + "5e" * 32
"""The heartbeat commitment of every checkpoint here (the contract only records it)."""
PERIOD = 60
"""Seconds per checkpoint."""
DOWN = 15
"""Down seconds of the running lease's second checkpoint."""


@dataclass
class MarketLeases:
    """The leases' ids, their GPU counts and the accepted leases' billing start."""

    running: int
    ended: int
    open: int
    started: dict[int, int]
    gpus: dict[int, int]


def _lease_ids(gs: Any, receipts: list[Any], name: str) -> list[int]:
    return [
        int(e.args["leaseId"]) for r in receipts for e in gs.chain.decode_logs(r["logs"]) if e.name == name
    ]


def _post(world: MarketWorld, checkpoints: list[Checkpoint]) -> None:
    gs = world.net.gs
    escrow = gs.lease_escrow
    assert escrow is not None
    domain = lease_domain(gs.chain.chain_id, escrow.address)
    digest = checkpoint_attestation_digest(checkpoints_hash(checkpoints), gs.oracle_set().epoch, domain)
    signature = sign_digest(digest, bytes(world.oracle.key))
    poster = FastSender(gs, world.oracle)
    poster.call(
        escrow,
        "submitCheckpoints",
        [c.as_tuple() for c in checkpoints],
        [(signature.r, signature.vs)],
        gas=1_000_000,
    )
    receipts = poster.wait()
    settled = len(_lease_ids(gs, receipts, "CheckpointSettled"))
    assert settled == len(checkpoints), f"{settled} of {len(checkpoints)} checkpoints settled"


def open_market_leases(world: MarketWorld) -> MarketLeases:
    """Open, accept, checkpoint and close the leases; returns their ids."""
    gs = world.net.gs
    escrow = gs.lease_escrow
    assert escrow is not None, "the market's deployment has no LeaseEscrow"
    anvil = world.net.anvil
    running_offer, ended_offer = world.offers[RUNNING_OFFER], world.offers[ENDED_OFFER]
    client = FastSender(gs, world.client, gas=600_000)
    client.call(gs.token, "approve", escrow.address, 2**256 - 1)
    for offer_id, count in ((running_offer, 2), (ended_offer, 1), (running_offer, 1)):
        price = gs.offer(offer_id).price_per_gpu_second
        client.call(escrow, "openLease", offer_id, count, price, 2, 0, b"\x07" * 32, price * count * 3600, 0)
    running, ended, waiting = _lease_ids(gs, client.wait(), "LeaseOpened")
    started: dict[int, int] = {}
    for lease_id, who in ((running, RUNNING_OFFER), (ended, ENDED_OFFER)):
        worker = FastSender(gs, world.workers[who], gas=600_000)
        worker.call(escrow, "acceptLease", lease_id)
        for r in worker.wait():
            for e in gs.chain.decode_logs(r["logs"]):
                if e.name == "LeaseAccepted":
                    started[lease_id] = int(e.args["startedAt"])
    # Two periods pass; the oracle pays both of the running lease and the first of the other.
    anvil.rpc("evm_increaseTime", [2 * PERIOD + 10])
    anvil.rpc("evm_mine")
    s_run, s_end = started[running], started[ended]
    _post(
        world,
        [
            Checkpoint(leaseId=running, fromTime=s_run, toTime=s_run + PERIOD, upSeconds=PERIOD,
                       downSeconds=0, heartbeatsRoot=ROOT),
            Checkpoint(leaseId=running, fromTime=s_run + PERIOD, toTime=s_run + 2 * PERIOD,
                       upSeconds=PERIOD - DOWN, downSeconds=DOWN, heartbeatsRoot=ROOT),
            Checkpoint(leaseId=ended, fromTime=s_end, toTime=s_end + PERIOD, upSeconds=PERIOD,
                       downSeconds=0, heartbeatsRoot=ROOT),
        ],
    )  # fmt: skip
    # The client closes the second lease; its final checkpoint ends it and anyone sends the refund.
    client.call(escrow, "closeLease", ended)
    closed = client.wait()[0]
    billing_end = int(gs.chain.w3.eth.get_block(closed["blockNumber"])["timestamp"])
    _post(
        world,
        [
            Checkpoint(leaseId=ended, fromTime=s_end + PERIOD, toTime=billing_end,
                       upSeconds=billing_end - s_end - PERIOD, downSeconds=0, heartbeatsRoot=ROOT),
        ],
    )  # fmt: skip
    client.call(escrow, "claimRefund", ended)
    client.wait()
    return MarketLeases(
        running=running,
        ended=ended,
        open=waiting,
        started=started,
        gpus={running: 2, ended: 1, waiting: 1},
    )
