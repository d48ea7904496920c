"""Checkpoint building and posting against a model LeaseEscrow (tests/oracle/fake_lease_chain.py):
contiguous periods from paidThrough, the uptime rule's up and down, a final checkpoint at billing end,
each period paid exactly once through a restart, a fee bump, a reorganisation and a skipped checkpoint;
and the co-signing rule of peers."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from eth_account import Account

from gpusettle.chain import OracleSet
from gpusettle.eip712 import Domain, recover
from gpusettle.leases.eip712 import checkpoint_attestation_digest, checkpoints_hash, lease_domain
from gpusettle.oracle.chainview import StaticChainView
from gpusettle.oracle.checkpoint_poster import CheckpointPoster
from gpusettle.oracle.checkpoint_quorum import CheckpointQuorum
from gpusettle.oracle.checkpoints import CheckpointBuilder, CheckpointSettings, cosign_refusal, next_period
from gpusettle.oracle.leaseview import StaticLeaseView
from gpusettle.oracle.poster import PosterSettings
from gpusettle.oracle.store import (
    CHECKPOINT_BUILT,
    CHECKPOINT_POSTED,
    CHECKPOINT_SETTLED,
    CHECKPOINT_SKIPPED,
    NewHeartbeat,
    SQLiteStore,
    TxAttempt,
)
from tests.oracle.fake_lease_chain import ESCROW_ADDRESS, FakeLeaseChain, FakeLeaseContract
from tests.oracle.helpers import (
    CHAIN_ID,
    ESCROW,
    INTERVAL,
    LEASE_ESCROW,
    PROVIDER_CS,
    WORKER,
    heartbeat_doc,
    lease_terms,
)

T0 = 1_000_020  # a bucket boundary (30 | T0)
SETTINGS = CheckpointSettings(every=300, settle_lag=45)
ORACLE = Account.from_key(bytes.fromhex("44" * 32))


def beats(store: SQLiteStore, lease: int, first: int, count: int, up: bool = True) -> None:
    """One heartbeat in each of `count` buckets from the one holding `first`."""
    for k in range(count):
        doc = heartbeat_doc(lease, ts=first + k * INTERVAL + 2, up=up)
        record = NewHeartbeat(
            lease,
            doc["sequence"],
            PROVIDER_CS,
            WORKER,
            doc["timestamp"],
            up,
            bytes([k % 256]) * 32,
            json.dumps(doc),
        )
        store.add_heartbeat(record).result(10)


def running(lease_id: int = 1, **extra: Any) -> Any:
    """A running lease started at T0; `extra` overrides its terms."""
    terms: dict[str, Any] = {"started": T0, "paid_through": T0, "runwayEnd": T0 + 100_000, **extra}
    return lease_terms(lease_id, **terms)


def test_next_period() -> None:
    lease = running()
    assert next_period(lease, T0 + 200, SETTINGS) is None  # not enough due yet
    assert next_period(lease, T0 + 400, SETTINGS) == (T0, T0 + 355, False)
    closed = running(billingEnd=T0 + 100)
    assert next_period(closed, T0 + 120, SETTINGS) is None  # billing ended, late heartbeats may still come
    assert next_period(closed, T0 + 150, SETTINGS) == (T0, T0 + 100, True)
    assert next_period(running(billingEnd=T0), T0 + 500, SETTINGS) is None  # nothing to bill


def test_builder_uses_the_uptime_rule_and_waits_for_the_one_in_flight(store: SQLiteStore) -> None:
    beats(store, 1, T0, 6)  # buckets [T0, T0+180) up
    beats(store, 1, T0 + 180, 2, up=False)  # [T0+180, T0+240) down by its own word
    builder = CheckpointBuilder(store, INTERVAL, SETTINGS)
    assert builder.step([running()], T0 + 345) == 1
    (cp,) = store.lease_checkpoints(1)
    assert (cp.from_time, cp.to_time, cp.up_seconds, cp.down_seconds) == (T0, T0 + 300, 180, 120)
    assert cp.root != bytes(32) and not cp.final
    assert builder.step([running()], T0 + 900) == 0  # the first is not settled yet
    assert builder.step([running(status=1)], T0 + 900) == 0  # not running: nothing


class Rig:
    """Builder, poster and the model chain over one store."""

    def __init__(self, store: SQLiteStore, leases: StaticLeaseView, now: int) -> None:
        self.store = store
        self.leases = leases
        self.chain = FakeLeaseChain(leases, now)
        # The poster's clock is wall time (the store stamps rows with it); the chain's is the lease's.
        self.clock = [time.time()]
        self.builder = CheckpointBuilder(store, INTERVAL, SETTINGS)
        self.view = StaticChainView(CHAIN_ID, ESCROW, {}, oracle_set=OracleSet((ORACLE.address,), 1, 1))
        self.poster = self.new_poster()

    def new_poster(self) -> CheckpointPoster:
        quorum = CheckpointQuorum(
            lease_domain(CHAIN_ID, ESCROW_ADDRESS),
            Domain(CHAIN_ID, ESCROW),
            bytes(ORACLE.key),
            ORACLE.address,
        )
        return CheckpointPoster(
            store=self.store,
            chain=self.chain,
            contract=FakeLeaseContract(),
            account=ORACLE,
            quorum=quorum,
            view=self.view,
            confirmations=2,
            settings=PosterSettings(batch_wait=0.0, stuck_after=20.0, rebroadcast_every=5.0),
            clock=lambda: self.clock[0],
        )

    def tick(self, seconds: int) -> None:
        self.clock[0] += seconds
        self.chain.now += seconds

    def build(self) -> int:
        return self.builder.step(list(self.leases.lease_table.values()), self.chain.now)


def test_periods_are_paid_once_each_and_the_last_is_final(store: SQLiteStore) -> None:
    leases = StaticLeaseView(CHAIN_ID, LEASE_ESCROW, {1: running(), 2: running(2)})
    rig = Rig(store, leases, T0 + 345)
    beats(store, 1, T0, 40)
    assert rig.build() == 2
    assert rig.poster.step()  # one batch with both leases
    assert [c.status for c in store.checkpoints(CHECKPOINT_POSTED)] == [CHECKPOINT_POSTED] * 2
    rig.chain.mine(empty=1)
    rig.poster.step()
    assert {c.status for c in store.lease_checkpoints(1) + store.lease_checkpoints(2)} == {CHECKPOINT_SETTLED}
    assert leases.lease_table[1].paidThrough == T0 + 300
    # The client closes lease 1; the next checkpoint runs from paidThrough to the billing end, final.
    leases.lease_table[1] = leases.lease_table[1].model_copy(update={"billingEnd": T0 + 500})
    rig.tick(300)
    assert rig.build() == 2
    final = next(c for c in store.checkpoints(CHECKPOINT_BUILT) if c.lease_id == 1)
    assert (final.from_time, final.to_time, final.final, final.up_seconds) == (T0 + 300, T0 + 500, True, 200)
    rig.poster.step()
    rig.chain.mine(empty=1)
    rig.poster.step()
    assert leases.lease_table[1].status == 3  # Ended
    assert rig.chain.paid == {(1, T0): 1, (2, T0): 1, (1, T0 + 300): 1, (2, T0 + 300): 1}
    assert (2, T0) in rig.chain.paid and store.lease_checkpoints(2)[0].down_seconds == 300


def test_a_restart_after_storing_reposts_the_same_transaction_and_pays_once(store: SQLiteStore) -> None:
    leases = StaticLeaseView(CHAIN_ID, LEASE_ESCROW, {1: running()})
    rig = Rig(store, leases, T0 + 345)
    rig.build()
    rig.poster.step()
    sent = dict(rig.chain.pool)
    rig.chain.pool.clear()  # the node lost it, and the oracle dies before it sees anything
    rig.poster = rig.new_poster()  # a new process over the same store
    rig.tick(6)
    rig.poster.step()  # rebroadcasts the stored transaction: same nonce, same bytes
    assert rig.chain.pool.keys() == sent.keys()
    rig.chain.mine(empty=1)
    rig.poster.step()
    assert rig.chain.paid == {(1, T0): 1}
    assert store.lease_checkpoints(1)[0].status == CHECKPOINT_SETTLED
    assert rig.chain.mine() == 0 and rig.poster.step() is False  # nothing posted twice


def test_a_stuck_transaction_is_replaced_with_higher_fees(store: SQLiteStore) -> None:
    leases = StaticLeaseView(CHAIN_ID, LEASE_ESCROW, {1: running()})
    rig = Rig(store, leases, T0 + 345)
    rig.build()
    rig.poster.step()
    rig.tick(25)
    rig.poster.step()
    (batch,) = store.open_checkpoint_batches()
    assert len(batch.attempts) == 2 and batch.attempts[1].max_fee > batch.attempts[0].max_fee
    rig.chain.mine(empty=1)
    rig.poster.step()
    assert rig.chain.paid == {(1, T0): 1} and store.open_checkpoint_batches() == []


def test_a_reorganised_batch_is_broadcast_again_and_paid_once(store: SQLiteStore) -> None:
    leases = StaticLeaseView(CHAIN_ID, LEASE_ESCROW, {1: running()})
    rig = Rig(store, leases, T0 + 345)
    rig.build()
    rig.poster.step()
    rig.chain.mine()
    rig.poster.step()  # mined, one block deep: not final
    assert store.open_checkpoint_batches()[0].mined_hash is not None
    rig.chain.reorg(1)
    rig.poster.step()  # gone: pending again, broadcast again
    assert store.open_checkpoint_batches()[0].mined_hash is None and rig.chain.pool
    rig.chain.mine(empty=1)
    rig.poster.step()
    assert rig.chain.paid == {(1, T0): 1} and store.lease_checkpoints(1)[0].status == CHECKPOINT_SETTLED


def test_a_skipped_checkpoint_is_rebuilt_from_the_chains_paid_through(store: SQLiteStore) -> None:
    leases = StaticLeaseView(CHAIN_ID, LEASE_ESCROW, {1: running()})
    rig = Rig(store, leases, T0 + 345)
    rig.build()
    rig.poster.step()
    # Another oracle's batch paid [T0, T0+240) first.
    leases.lease_table[1] = leases.lease_table[1].model_copy(update={"paidThrough": T0 + 240})
    rig.chain.mine(empty=1)
    rig.poster.step()
    (skipped,) = store.lease_checkpoints(1)
    assert skipped.status == CHECKPOINT_SKIPPED and "not contiguous" in (skipped.note or "")
    rig.tick(300)
    assert rig.build() == 1
    rebuilt = store.checkpoints(CHECKPOINT_BUILT)[0]
    assert rebuilt.from_time == T0 + 240
    rig.poster.step()
    rig.chain.mine(empty=1)
    rig.poster.step()
    assert rig.chain.paid == {(1, T0 + 240): 1}


def test_checkpoint_and_receipt_batches_share_one_nonce_sequence(store: SQLiteStore) -> None:
    leases = StaticLeaseView(CHAIN_ID, LEASE_ESCROW, {1: running()})
    rig = Rig(store, leases, T0 + 345)
    # A receipt batch is open at nonce 0 (not mined yet).
    from gpusettle.oracle.store import NewReceipt

    store.add_receipt(NewReceipt(9, "0xP", "0xW", b"\x09" * 32, "{}", 1)).result(10)
    store.set_status([9], "verified")
    store.create_batch([9], 1, 0, TxAttempt("0xr", 0, 0, b"r", 1, 1, 0.0))
    rig.build()
    rig.poster.step()
    assert store.open_checkpoint_batches()[0].nonce == 1


def test_quorum_signature_recovers_and_cosign_rule() -> None:
    cp_lease = running()
    from gpusettle.leases.models import Checkpoint

    cp = Checkpoint(
        leaseId=1,
        fromTime=T0,
        toTime=T0 + 300,
        upSeconds=200,
        downSeconds=100,
        heartbeatsRoot="0x" + "00" * 32,
    )
    quorum = CheckpointQuorum(
        lease_domain(CHAIN_ID, ESCROW_ADDRESS), Domain(CHAIN_ID, ESCROW), bytes(ORACLE.key), ORACLE.address
    )
    att = quorum.attest([cp], 4, [ORACLE.address], 1)
    digest = checkpoint_attestation_digest(checkpoints_hash([cp]), 4, lease_domain(CHAIN_ID, ESCROW_ADDRESS))
    assert recover(digest, att.signatures[0]) == ORACLE.address
    from gpusettle.oracle.quorum import QuorumError

    with pytest.raises(QuorumError):
        quorum.attest([cp], 4, [WORKER], 1)  # not a member and no peers
    assert cosign_refusal(cp, cp_lease, T0 + 400, 200, SETTINGS) is None
    assert "saw 150" in (cosign_refusal(cp, cp_lease, T0 + 400, 150, SETTINGS) or "")
    assert "after the chain" in (cosign_refusal(cp, cp_lease, T0 + 200, 300, SETTINGS) or "")
    assert "paid through" in (
        cosign_refusal(cp, running(paid_through=T0 + 30), T0 + 400, 300, SETTINGS) or ""
    )
    assert "billing end" in (cosign_refusal(cp, running(billingEnd=T0 + 100), T0 + 400, 300, SETTINGS) or "")
    assert "not running" in (cosign_refusal(cp, running(status=3), T0 + 400, 300, SETTINGS) or "")
    assert "does not exist" in (cosign_refusal(cp, None, T0 + 400, 300, SETTINGS) or "")
