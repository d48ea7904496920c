"""Reorganisations of depth 1 to 5 (anvil_reorg): the index rewinds and ends equal to a fresh index of
the final chain."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gpusettle.bench.market_world import JOB_GPUS, MarketWorld, make_market
from gpusettle.devnet import FastSender

from .conftest import dump, follower, fresh_dump

ACTIVITY_JOBS = 2


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MarketWorld]:
    anvil, world = make_market(tmp_path_factory.mktemp("reorg"), jobs_per_offer=2)
    # Every activity below leaves up to ACTIVITY_JOBS jobs holding GPUs of offers[2] (10 activities in
    # all): give that offer room for them all, so capacity never refuses a createJob of the test.
    gs = world.net.gs
    offer = gs.offer(world.offers[2])
    provider = FastSender(gs, world.providers[2])
    provider.call(
        gs.staking, "updateOffer", offer.offer_id, 64, offer.vram_gb, offer.price_per_gpu_second, ""
    )
    provider.wait()
    try:
        yield world
    finally:
        anvil.stop()


def _activity(world: MarketWorld, salt: int) -> None:
    """A few blocks of events: an offer's price changes, a job opens, another is accepted."""
    gs = world.net.gs
    provider = FastSender(gs, world.providers[1])
    provider.call(gs.staking, "updateOffer", world.offers[1], 4, 80, 8 * 10**14 + salt, f"v{salt}")
    provider.wait()
    world.net.open_jobs(
        world.client,
        world.offers[2],
        ACTIVITY_JOBS,
        max_gpu_seconds=1000 + salt,
        spec_hash=bytes([salt]) * 32,
        approve=False,
        gpus=JOB_GPUS,
    )
    open_jobs = [
        j
        for j in range(1, gs.job_count() + 1)
        if gs.job(j).status == "Open" and gs.job(j).provider == world.providers[2].address
    ]
    world.net.accept_jobs(world.workers[2], open_jobs[:1])
    # And a lease on the same offer, opened and accepted: the lease tables rewind with the rest.
    escrow = gs.lease_escrow
    assert escrow is not None, "the market's deployment has no LeaseEscrow"
    client = FastSender(gs, world.client, gas=600_000)
    client.call(gs.token, "approve", escrow.address, 2**256 - 1)
    price = gs.offer(world.offers[2]).price_per_gpu_second
    client.call(escrow, "openLease", world.offers[2], 1, price, 2, 0, bytes([salt % 256]) * 32, price * 3600, 0)
    (lease_id,) = [
        int(e.args["leaseId"])
        for r in client.wait()
        for e in gs.chain.decode_logs(r["logs"])
        if e.name == "LeaseOpened"
    ]
    worker = FastSender(gs, world.workers[2], gas=600_000)
    worker.call(escrow, "acceptLease", lease_id)
    worker.wait()


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
def test_reorg_rewinds_to_the_final_chain(chain: MarketWorld, tmp_path: Path, depth: int) -> None:
    f = follower(chain, tmp_path / "followed.db")
    f.step()
    _activity(chain, depth)  # at least 4 blocks with events at the head
    assert f.step().events > 0
    head = chain.net.gs.chain.block_number()
    chain.net.anvil.rpc("anvil_reorg", [depth, []])  # the newest `depth` blocks are replaced by empty ones
    assert chain.net.gs.chain.block_number() == head
    _activity(chain, 100 + depth)  # the new branch goes on with other events
    result = f.step()
    assert result.rewound_to is not None and result.rewound_to <= head - depth
    followed = dump(f.db)
    assert followed["leases"], "the activity opens leases: the lease tables are compared, not empty"
    assert followed == fresh_dump(chain, tmp_path / "fresh.db")


def test_confirmations_keep_a_shallow_reorg_out_of_the_index(chain: MarketWorld, tmp_path: Path) -> None:
    f = follower(chain, tmp_path / "confirmed.db", confirmations=3)
    _activity(chain, 50)
    f.step()
    chain.net.anvil.rpc("anvil_reorg", [2, []])
    result = f.step()
    assert result.rewound_to is None, "blocks within the confirmations were never indexed"
    f_all = follower(chain, tmp_path / "fresh.db", confirmations=3)
    f_all.step()
    assert dump(f.db) == dump(f_all.db)


def test_a_reorg_deeper_than_the_window_is_a_clear_error(chain: MarketWorld, tmp_path: Path) -> None:
    from gpusettle.chain.logs import ReorgTooDeepError

    f = follower(chain, tmp_path / "shallow.db", reorg_window=2)
    f.step()
    _activity(chain, 70)
    f.step()
    last = f.last_block
    chain.net.anvil.rpc("anvil_reorg", [5, []])
    with pytest.raises(ReorgTooDeepError) as err:
        f.step()
    assert err.value.hint is not None and "rebuild the index" in err.value.hint
    assert f.last_block == last, "nothing was rewound or applied"
