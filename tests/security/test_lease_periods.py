"""Attack: make checkpoints pay a lease's time twice, pay time that was never bought, or leave a lease that no
checkpoint can end.

What stops it (SECURITY.md, "Leases"): periods chain exactly (fromTime is the lease's paidThrough), so an
overlapping, stale or gapped period is skipped; up plus down seconds must equal the period and the period must be
in the past, else the whole batch reverts; a period may not run past the billing end (runway, end time, close or
reclaim as known when the batch lands), so nothing is paid beyond the deposit; a checkpoint that reaches the billing
end ends the lease. A close or reclaim that lands in the same block as a checkpoint (or as the acceptance) fixes a
billing end that is already paid through: the lease must end there, and the provider must not be slashed for a
final checkpoint that could never exist.
"""

import brownie
import pytest

from tests.fixtures.contracts import PRICE
from tests.fixtures.leases import (
    L_ENDED,
    L_RUNNING,
    LEASE_FEE_BPS,
    LEASE_GRACE,
    SKIP_NOT_CONTIGUOUS,
    SKIP_PAST_END,
)
from tests.helpers.lease_signing import Checkpoint

from .conftest import MAX_U64, at, err, events_of, now, warp
from .lease_support import one_block, send

pytestmark = pytest.mark.usefixtures("staked_provider")
RATE = 2 * PRICE  # create_lease's default: 2 GPUs


def _skips(tx):
    return [(e["leaseId"], e["fromTime"], e["reason"]) for e in events_of(tx, "CheckpointSkipped")]


def test_overlapping_and_gapped_periods_are_skipped(lease_escrow, create_lease, checkpoint, submit, lworld):
    lease_id = create_lease()
    first = checkpoint(lease_id, seconds=600)
    submit([first])
    a, b = first.fromTime, first.toTime
    warp(b + 1000)
    shapes = [
        Checkpoint(lease_id, a, b + 500, 1100, 0),  # the paid period again and more
        Checkpoint(lease_id, a + 300, b + 300, 600, 0),  # overlaps its second half
        Checkpoint(lease_id, b - 1, b + 500, 501, 0),  # one second of overlap
        Checkpoint(lease_id, b + 1, b + 500, 499, 0),  # one second of gap
        Checkpoint(lease_id, b + 100, b + 500, 400, 0),  # a gap
    ]
    before = lworld()
    tx = submit(shapes)
    assert tx.return_value == 0
    assert _skips(tx) == [(lease_id, c.fromTime, SKIP_NOT_CONTIGUOUS) for c in shapes]
    assert lworld() == before


def test_in_one_batch_a_period_overlapping_the_one_before_is_skipped(
    lease_escrow, create_lease, checkpoint, submit, staked_provider
):
    lease_id = create_lease()
    start = lease_escrow.getLease(lease_id)["paidThrough"]
    warp(start + 1000)
    batch = [
        Checkpoint(lease_id, start, start + 600, 600, 0),
        Checkpoint(lease_id, start + 500, start + 900, 400, 0),
        Checkpoint(lease_id, start + 600, start + 900, 300, 0),
    ]
    tx = submit(batch)
    assert tx.return_value == 2
    assert _skips(tx) == [(lease_id, start + 500, SKIP_NOT_CONTIGUOUS)]
    v = lease_escrow.getLease(lease_id).dict()
    assert (v["paidThrough"], v["upSeconds"], v["paid"]) == (start + 900, 900, 900 * RATE)


@pytest.mark.parametrize(
    "shape", ["one more", "one less", "up beyond the period", "u64 max", "empty", "reversed", "future"]
)
def test_impossible_numbers_revert_the_whole_batch(
    lease_escrow, create_lease, checkpoint, submit, client2, lworld, shape
):
    """An honest checkpoint for another lease rides along: the whole batch reverts, it is not paid either."""
    honest_id = create_lease(gpus=1, sender=client2)
    lease_id = create_lease(gpus=1)
    honest = checkpoint(honest_id, seconds=600)
    s = lease_escrow.getLease(lease_id)["paidThrough"]
    period = now() - s - 1
    bad = {
        "one more": Checkpoint(lease_id, s, s + period, period, 1),
        "one less": Checkpoint(lease_id, s, s + period, period - 2, 1),
        "up beyond the period": Checkpoint(lease_id, s, s + period, period + 100, 0),
        "u64 max": Checkpoint(lease_id, s, s + period, MAX_U64, period + 1),  # sums past 2^64, not wrapped
        "empty": Checkpoint(lease_id, s, s, 0, 0),
        "reversed": Checkpoint(lease_id, s + 10, s, 0, 0),
        "future": Checkpoint(lease_id, s, now() + 3600, now() + 3600 - s, 0),
    }[shape]
    ts = now() + 1
    before = lworld()
    expected = err(
        "LeaseEscrowImpossibleCheckpoint(uint256,uint256,uint256,uint256,uint256,uint256)",
        lease_id,
        bad.fromTime,
        bad.toTime,
        bad.upSeconds,
        bad.downSeconds,
        ts,
    )
    with at(ts), brownie.reverts(expected):
        submit([honest, bad])
    assert lworld() == before


def test_nothing_is_paid_past_the_runway(
    lease_escrow, token, create_lease, checkpoint, submit, client, staked_provider, lworld
):
    """A one-hour deposit: a checkpoint one second past the runway is skipped; the one that reaches it ends the
    lease, and the provider is paid at most the deposit."""
    lease_id = create_lease(hours=1)
    v = lease_escrow.getLease(lease_id).dict()
    runway = v["runwayEnd"]
    assert runway == v["startedAt"] + 3600
    warp(runway + 100)
    start = v["paidThrough"]
    past = Checkpoint(lease_id, start, runway + 1, runway + 1 - start, 0)
    before = lworld()
    tx = submit([past])
    assert _skips(tx) == [(lease_id, start, SKIP_PAST_END)]
    assert lworld() == before
    # billing ended with the runway: no top-up can buy time after the fact
    ts = now() + 5
    with (
        at(ts),
        brownie.reverts(err("LeaseEscrowBillingEnded(uint256,uint256,uint256)", lease_id, runway, ts)),
    ):
        lease_escrow.topUp(lease_id, 10**18, {"from": client})
    tx = submit([Checkpoint(lease_id, start, runway, runway - start, 0)])
    assert tx.return_value == 1
    v = lease_escrow.getLease(lease_id).dict()
    assert v["status"] == L_ENDED and v["paid"] == v["deposit"] == 3600 * RATE and v["refundable"] == 0
    earned = lease_escrow.providerRecord(staked_provider)["earnings"]
    assert earned == 3600 * RATE - 3600 * RATE * LEASE_FEE_BPS // 10_000


def test_a_checkpoint_past_the_end_time_or_a_close_is_skipped(
    lease_escrow, create_lease, checkpoint, submit, client, lworld
):
    ends = now() + 2000
    timed = create_lease(gpus=1, end_time=ends)
    closed = create_lease(gpus=1)
    warp(now() + 10)
    close_tx = lease_escrow.closeLease(closed, {"from": client})
    warp(ends + 100)
    t0 = lease_escrow.getLease(timed)["paidThrough"]
    c0 = lease_escrow.getLease(closed)["paidThrough"]
    batch = [
        Checkpoint(timed, t0, ends + 1, ends + 1 - t0, 0),
        Checkpoint(closed, c0, close_tx.timestamp + 1, close_tx.timestamp + 1 - c0, 0),
    ]
    before = lworld()
    tx = submit(batch)
    assert _skips(tx) == [(timed, t0, SKIP_PAST_END), (closed, c0, SKIP_PAST_END)]
    assert lworld() == before


def _ends_cleanly(lease_escrow, staking, token, lease_id, end, client, rando, provider):
    """The lease whose billing end is already paid through ended there, at once: the client can take back all that
    was not paid for up time, the GPUs are free again, and no expiry (with its slash) is left to claim."""
    v = lease_escrow.getLease(lease_id).dict()
    assert v["paidThrough"] == end
    bonded = staking.stakeOf(provider)[0]
    if v["status"] == L_RUNNING:
        # The lease is stuck: no checkpoint can have toTime > fromTime == paidThrough and toTime <= the billing end.
        # Its expiry then slashes the provider, who could never have posted a final checkpoint.
        warp(end + LEASE_GRACE + 1)
        tx = lease_escrow.claimLeaseExpiry(lease_id, {"from": rando})
        slashed = tx.events["LeaseExpired"]["slashed"]
        pytest.fail(
            f"lease {lease_id}: billing end {end} was already paid through, yet the lease stayed Running "
            f"until its expiry, which slashed the provider {slashed} (stake {bonded} -> "
            f"{staking.stakeOf(provider)[0]})"
        )
    assert v["status"] == L_ENDED
    assert v["billingEnd"] == end
    assert v["refundable"] == v["deposit"] - v["paid"]
    assert staking.offer(1)["reservedGpus"] == 0
    with brownie.reverts(err("LeaseEscrowWrongStatus(uint256,uint8,uint8)", lease_id, L_ENDED, L_RUNNING)):
        lease_escrow.claimLeaseExpiry(lease_id, {"from": rando})


def test_a_close_in_the_same_block_as_a_checkpoint_ends_the_lease(
    lease_escrow, staking, token, create_lease, attest_checkpoints, client, rando, staked_provider
):
    """The oracle posts a checkpoint up to the block's own time; the client's close lands right after it, in the same
    block: the billing end is the time just paid through."""
    lease_id = create_lease()
    start = lease_escrow.getLease(lease_id)["paidThrough"]
    ts = now() + 600
    cp = Checkpoint(lease_id, start, ts, ts - start, 0)
    with one_block(ts) as sent:
        send(sent, lease_escrow.submitCheckpoints, [cp.as_tuple()], attest_checkpoints([cp]), sender=rando)
        send(sent, lease_escrow.closeLease, lease_id, sender=client)
    assert [tx.status for tx in sent] == [1, 1]
    _ends_cleanly(lease_escrow, staking, token, lease_id, ts, client, rando, staked_provider)


def test_a_checkpoint_after_a_close_in_the_same_block_is_final(
    lease_escrow, staking, token, create_lease, attest_checkpoints, client, rando, staked_provider
):
    lease_id = create_lease()
    start = lease_escrow.getLease(lease_id)["paidThrough"]
    ts = now() + 600
    cp = Checkpoint(lease_id, start, ts, ts - 60 - start, 60)
    with one_block(ts) as sent:
        send(sent, lease_escrow.closeLease, lease_id, sender=client)
        send(sent, lease_escrow.submitCheckpoints, [cp.as_tuple()], attest_checkpoints([cp]), sender=rando)
    assert [tx.status for tx in sent] == [1, 1]
    assert "LeaseEnded" in sent[1].events
    _ends_cleanly(lease_escrow, staking, token, lease_id, ts, client, rando, staked_provider)


def test_a_close_in_the_acceptance_block_ends_the_lease(
    lease_escrow, staking, token, create_lease, worker, client, rando, staked_provider
):
    """The client closes in the very block its lease is accepted: nothing was used, nothing is owed, and the
    provider, who could post no checkpoint for an empty period, keeps its collateral."""
    lease_id = create_lease(accept=False)
    ts = now() + 10
    with one_block(ts) as sent:
        send(sent, lease_escrow.acceptLease, lease_id, sender=worker)
        send(sent, lease_escrow.closeLease, lease_id, sender=client)
    assert [tx.status for tx in sent] == [1, 1]
    _ends_cleanly(lease_escrow, staking, token, lease_id, ts, client, rando, staked_provider)


@pytest.fixture
def interruptible(staking, staked_provider):
    """Offer 1 made interruptible (notice 0), before any lease opens on it."""
    staking.setOfferAvailability(1, 2, 0, 0, {"from": staked_provider})


def test_a_reclaim_without_notice_in_the_same_block_as_a_checkpoint_ends_the_lease(
    interruptible,
    lease_escrow,
    staking,
    token,
    create_lease,
    attest_checkpoints,
    worker,
    client,
    rando,
    staked_provider,
):
    lease_id = create_lease()
    start = lease_escrow.getLease(lease_id)["paidThrough"]
    ts = now() + 600
    cp = Checkpoint(lease_id, start, ts, ts - start, 0)
    with one_block(ts) as sent:
        send(sent, lease_escrow.submitCheckpoints, [cp.as_tuple()], attest_checkpoints([cp]), sender=rando)
        send(sent, lease_escrow.reclaimLease, lease_id, sender=worker)
    assert [tx.status for tx in sent] == [1, 1]
    _ends_cleanly(lease_escrow, staking, token, lease_id, ts, client, rando, staked_provider)


def test_a_reclaim_with_notice_pays_only_to_the_notice_end(
    lease_escrow, staking, create_lease, checkpoint, submit, worker, staked_provider, lworld
):
    staking.setOfferAvailability(1, 1, 900, 0, {"from": staked_provider})
    lease_id = create_lease()
    tx = lease_escrow.reclaimLease(lease_id, {"from": worker})
    end = tx.timestamp + 900
    assert tx.events["LeaseReclaimed"]["billingEnd"] == end
    # a second reclaim cannot move the end later, nor can the offer's new notice
    staking.setOfferAvailability(1, 1, 86_400, 0, {"from": staked_provider})
    lease_escrow.reclaimLease(lease_id, {"from": worker})
    assert lease_escrow.getLease(lease_id)["billingEnd"] == end
    warp(end + 60)
    start = lease_escrow.getLease(lease_id)["paidThrough"]
    before = lworld()
    assert _skips(submit([Checkpoint(lease_id, start, end + 1, end + 1 - start, 0)])) == [
        (lease_id, start, SKIP_PAST_END)
    ]
    assert lworld() == before
    submit([Checkpoint(lease_id, start, end, end - start, 0)])
    assert lease_escrow.getLease(lease_id)["status"] == L_ENDED
