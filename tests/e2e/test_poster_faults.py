"""The poster against anvil's fault knobs: a transaction stuck in the mempool is replaced with higher
fees up to the cap; a reorganisation that drops a mined batch gets it posted again; both settle each
receipt exactly once."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gpusettle.chain import Gpusettle
from gpusettle.eip712 import receipt_struct_hash
from gpusettle.oracle.chainview import Web3ChainView
from gpusettle.oracle.metrics import OracleMetrics
from gpusettle.oracle.poster import GWEI, Poster, PosterSettings
from gpusettle.oracle.quorum import QuorumSigner
from gpusettle.oracle.store import NewReceipt, SQLiteStore
from tests.e2e.conftest import World, make_world, wait_until


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The shared world with room for the module's 12 2-GPU jobs at once (no worker releases settled
    jobs' GPUs here, so the offer need not fit the worker's simulated slots)."""
    anvil, w = make_world(tmp_path_factory.mktemp("poster-faults"), offer_gpus=32)
    try:
        yield w
    finally:
        for proc in w.processes:
            proc.stop()
        anvil.stop()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "oracle.sqlite")
    yield s
    s.close()


class MovableClock:
    """Wall-clock time that a test moves on instead of sleeping (the poster's injectable clock)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


def make_poster(
    world: World, store: SQLiteStore, clock: MovableClock | None = None, **settings: float
) -> Poster:
    assert world.net.record is not None
    record = world.net.record

    def factory() -> Gpusettle:
        return Gpusettle.connect(world.url, record)

    client = factory()
    signer = QuorumSigner(
        domain=world.verifier().domain, key=bytes(world.oracle.key), address=world.oracle.address
    )
    return Poster(
        store=store,
        client=client,
        account=world.oracle,
        signer=signer,
        view=Web3ChainView(factory, client),
        settings=PosterSettings(batch_wait=0, **settings),  # type: ignore[arg-type]
        metrics=OracleMetrics(),
        clock=clock or MovableClock(),
    )


def until_chain_passes(world: World, end: int) -> None:
    """Wait until both clocks are past `end`: the poster's (wall time) and the chain's. The chain's is
    read by mining an empty block, because anvil stamps blocks behind wall time after a reorganisation."""
    anvil, chain = world.net.anvil, world.net.gs.chain

    def passed() -> bool:
        if time.time() <= end:
            return False
        anvil.rpc("evm_mine", [])
        return chain.timestamp("latest") > end

    wait_until(passed, 60, f"the chain's clock to pass {end}", world)


def step_until(poster: Poster, done: Callable[[], bool], what: str, world: World) -> None:
    """Step the poster until `done()`: a node under load may report a just-sent transaction as mined a
    moment after it answered the send."""

    def stepped() -> bool:
        poster.step()
        return done()

    wait_until(stepped, 15, what, world)


def mined(store: SQLiteStore) -> Callable[[], bool]:
    """Whether the one open batch is mined (or no batch is open any more)."""

    def check() -> bool:
        open_batches = store.open_batches()
        return not open_batches or open_batches[0].mined_hash is not None

    return check


def verified_receipts(world: World, store: SQLiteStore, count: int) -> list[int]:
    accepted = world.jobs(count)
    until_chain_passes(world, max(accepted.values()) + 2)  # the receipts below end 2 s after acceptance
    for job_id, at in accepted.items():
        r = world.receipt(job_id, at)
        doc = world.sign(r)
        store.add_receipt(
            NewReceipt(
                job_id, r.provider, world.worker.address, receipt_struct_hash(r), json.dumps(doc), r.endTime
            )
        ).result()
    store.set_status(list(accepted), "verified")
    return sorted(accepted)


def settled_once(world: World, job_ids: list[int]) -> None:
    gs = world.net.gs
    for job_id in job_ids:
        assert len(gs.events("escrow", "JobSettled", jobId=job_id)) == 1
        assert gs.job(job_id).status == "Settled"


def test_stuck_transaction_is_bumped_up_to_the_cap(world: World, store: SQLiteStore) -> None:
    anvil = world.net.anvil
    cap = 5 * GWEI
    clock = MovableClock()
    poster = make_poster(world, store, clock, stuck_after=0.3, max_fee_cap=cap, priority_fee=GWEI)
    jobs = verified_receipts(world, store, 5)
    anvil.rpc("evm_setAutomine", [False])
    try:
        assert poster.step()
        for _ in range(12):
            clock.advance(0.35)  # past stuck_after: the pending transaction counts as stuck
            poster.step()
        (batch,) = store.open_batches()
        fees = [a.max_fee for a in batch.attempts]
        assert len(fees) >= 3 and fees == sorted(fees) and len(set(fees)) == len(fees)
        # Bumped until a replacement the node would take (>= +10%) no longer fits under the cap.
        assert all(f <= cap for f in fees) and fees[-1] * 110 > cap * 100
        assert len({a.nonce for a in batch.attempts}) == 1
        anvil.rpc("evm_mine", [])
    finally:
        anvil.rpc("evm_setAutomine", [True])
    for _ in range(20):
        if not store.open_batches():
            break
        poster.step()
        time.sleep(0.1)
    assert not store.open_batches()
    settled_once(world, jobs)
    mined = {store.receipt(j).tx_hash for j in jobs}  # type: ignore[union-attr]
    assert mined == {batch.attempts[-1].tx_hash}  # the highest-fee replacement is the one that counts
    assert poster.metrics.fee_bumps._value.get() == len(fees) - 1


def test_reorg_that_drops_a_batch_gets_it_posted_again(world: World, store: SQLiteStore) -> None:
    anvil = world.net.anvil
    poster = make_poster(world, store, confirmations=3)
    jobs = verified_receipts(world, store, 4)
    for _ in range(3):
        anvil.rpc("evm_mine", [])  # keep the acceptances out of reach of the reorganisation
    assert poster.step()
    step_until(poster, mined(store), "the batch to be mined", world)
    (batch,) = store.open_batches()
    assert batch.mined_hash is not None  # mined (automine) but only 1 deep
    first_tx = batch.mined_tx
    anvil.rpc("anvil_reorg", [2, []])  # the block holding it is replaced by an empty one
    for _ in range(40):
        poster.step()
        anvil.rpc("evm_mine", [])
        if not store.open_batches():
            break
        time.sleep(0.05)
    assert not store.open_batches()
    assert poster.metrics.reorgs._value.get() >= 1
    settled_once(world, jobs)
    assert {store.receipt(j).tx_hash for j in jobs} == {first_tx}  # type: ignore[union-attr]


def test_dropped_transaction_is_sent_again_and_settles_once(world: World, store: SQLiteStore) -> None:
    """The node forgets the pending settlement (anvil_dropTransaction): the poster notices it is not mined,
    sends it again (as a replacement with a bumped fee), and the jobs settle exactly once."""
    anvil = world.net.anvil
    clock = MovableClock()
    poster = make_poster(world, store, clock, stuck_after=0.3, max_fee_cap=50 * GWEI, priority_fee=GWEI)
    jobs = verified_receipts(world, store, 3)
    anvil.rpc("evm_setAutomine", [False])
    try:
        assert poster.step()
        (batch,) = store.open_batches()
        dropped = batch.attempts[-1].tx_hash
        anvil.rpc("anvil_dropTransaction", [dropped])
        pool = anvil.rpc("txpool_content", [])
        assert not any(
            tx["hash"].lower() == dropped.lower()
            for by_sender in pool["pending"].values()
            for tx in by_sender.values()
        )
        for _ in range(6):
            clock.advance(0.35)  # past stuck_after
            poster.step()
        (batch,) = store.open_batches()
        assert len(batch.attempts) >= 2  # a replacement went out after the drop
        anvil.rpc("evm_mine", [])
    finally:
        anvil.rpc("evm_setAutomine", [True])
    for _ in range(20):
        if not store.open_batches():
            break
        poster.step()
        time.sleep(0.1)
    assert not store.open_batches()
    settled_once(world, jobs)
    assert all(store.receipt(j).tx_hash != dropped for j in jobs)  # type: ignore[union-attr]
