"""Lease ruling reserve, bookkeeping (from the attack review of 5ebd53f, where it held). The provider's lease-locked sum is always exactly the sum over its unreleased
leases of collateral + floor(upSeconds x rate x disputeSlashBps / BPS) (the lease's own parameter set), across odd
rates, an odd slash fraction (3,333 bps beside a lease under the old 10,000), two checkpoints of one lease in a
batch, provider A/B/A runs, uptime penalties in the batch, a rejected dispute then more checkpoints, an upheld
ruling (slashes exactly the reserve), an expiry that draws collateral, and releases; bonded >= both escrows' locked
after every step; the staking contract's leaseLocked flag (seen through settlementContext) matches locked != 0."""

import pytest

from tests.fixtures.contracts import PROVIDER_STAKE
from tests.fixtures.leases import LEASE_DISPUTE_WINDOW, LEASE_FEE_BPS, LEASE_GRACE, ruling_reserve
from tests.helpers.lease_signing import Checkpoint

from .conftest import BPS, now, warp

pytestmark = pytest.mark.usefixtures("staked_provider")
REASON = b"\x0c" * 32


def test_lease_locked_sum_tracks_collateral_plus_reserve_exactly(
    lease_escrow, escrow, staking, token, create_lease, submit, client, staked_provider, provider2, worker2,
    deployer, arbiter
):
    pa, pb = staked_provider, provider2
    token.approve(staking, PROVIDER_STAKE, {"from": pb})
    staking.stake(PROVIDER_STAKE, {"from": pb})
    staking.setWorker(worker2, {"from": pb})

    a2 = create_lease(gpus=2, offer_id=1, hours=30)  # parameter set 1: slash 10,000 bps
    lease_escrow.setParameter(3, 3_333, {"from": deployer})  # set 2: slash 3,333 bps
    staking.addOffer("L40S", 3, 48, 333_333_333_333_337, "ipfs://a", {"from": pa})  # offer 2
    staking.setOfferAvailability(2, 0, 0, 9_000, {"from": pa})
    staking.addOffer("A100", 2, 40, 777_777_777_777_771, "ipfs://b", {"from": pb})  # offer 3
    staking.setOfferAvailability(3, 0, 0, 9_500, {"from": pb})
    a1 = create_lease(gpus=3, offer_id=2, hours=30)
    b = create_lease(gpus=1, offer_id=3, hours=30)
    leases = {pa: [a1, a2], pb: [b]}

    def expected(p):
        total = 0
        for lid in leases[p]:
            v = lease_escrow.getLease(lid).dict()
            if v["collateralReleased"]:
                continue
            bps = lease_escrow.leaseParameters(lid)[3]
            total += v["collateral"] + v["upSeconds"] * v["ratePerSecond"] * bps // BPS
        return total

    def check():
        for p in (pa, pb):
            locked = int(lease_escrow.lockedCollateral(p))
            assert locked == expected(p)
            bonded = int(staking.stakeOf(p)[0])
            assert bonded >= locked + int(escrow.unstakeBlockers(p)[0])
            assert int(staking.settlementContext(p)[1]) == (bonded - locked if locked else bonded)

    def seg(lid, to, down):
        start = lease_escrow.getLease(lid)["paidThrough"]
        return Checkpoint(lid, start, to, to - start - down, down)

    penalties = 0
    for k in range(5):
        warp(now() + 1_009 + 137 * k)
        t = now()
        mid = lease_escrow.getLease(a1)["paidThrough"] + 401 + k
        first = seg(a1, mid, 131 + k)  # 30%+ down: an uptime penalty inside the run
        second = Checkpoint(a1, mid, t - 3, t - 3 - mid - 2, 2)
        batch = [first, second, seg(b, t, 61 + k), seg(a2, t - 1, 3)]  # A, A, B, A
        tx = submit(batch)
        assert "CheckpointSkipped" not in tx.events
        penalties += sum(1 for e in tx.events["CheckpointSettled"] if e["penalty"])
        check()
        if k == 1:  # a rejected dispute, then more checkpoints
            lease_escrow.disputeCheckpoint(a1, REASON, {"from": client})
            lease_escrow.resolveCheckpointDispute(a1, False, {"from": arbiter})
            check()
    assert penalties >= 5

    # B: an upheld ruling slashes exactly its reserve and leaves provider B nothing locked, flag cleared.
    vb = lease_escrow.getLease(b).dict()
    reserve_b = vb["upSeconds"] * vb["ratePerSecond"] * 3_333 // BPS
    lease_escrow.disputeCheckpoint(b, REASON, {"from": client})
    tx = lease_escrow.resolveCheckpointDispute(b, True, {"from": arbiter})
    assert tx.events["CheckpointDisputeResolved"]["slashed"] == reserve_b
    check()
    assert int(lease_escrow.lockedCollateral(pb)) == 0

    # A1 closes and gets its final checkpoint; A2 closes and expires (the expiry draws its collateral).
    t1 = lease_escrow.closeLease(a1, {"from": client}).timestamp
    t2 = lease_escrow.closeLease(a2, {"from": client}).timestamp
    submit([seg(a1, t1, 1)])
    check()
    warp(t2 + LEASE_GRACE)
    lease_escrow.claimLeaseExpiry(a2, {"from": client})
    check()
    warp(now() + LEASE_DISPUTE_WINDOW + 1)
    lease_escrow.releaseLeaseCollateral([a1, a2], {"from": client})
    check()
    assert int(lease_escrow.lockedCollateral(pa)) == 0


def test_run_free_is_spent_exactly_across_an_a_b_a_batch(
    lease_escrow, escrow, staking, token, create_lease, submit, client, staked_provider, provider2, worker2
):
    """Provider A's free stake is cut to exactly what lease 1's period plus lease 2's first period need; in one
    batch [A1, B, A2 (1 s more than fits), A2'] the run re-read after B sees A1's reserve already locked: A2' lands
    with the one second's reserve withheld from its pay (not locked), and nothing is locked beyond bonded. Held."""

    pa, pb = staked_provider, provider2
    token.approve(staking, PROVIDER_STAKE, {"from": pb})
    staking.stake(PROVIDER_STAKE, {"from": pb})
    staking.setWorker(worker2, {"from": pb})
    staking.addOffer("A100", 1, 40, 10**15, "ipfs://b", {"from": pb})  # offer 2
    a1 = create_lease(gpus=2, offer_id=1, hours=30)
    a2 = create_lease(gpus=1, offer_id=1, hours=30)
    b = create_lease(gpus=1, offer_id=2, hours=30)
    warp(now() + 2_000)
    t = now()

    def seg(lid, to, up=None):
        start = lease_escrow.getLease(lid)["paidThrough"]
        return Checkpoint(lid, start, to, to - start, 0)

    c1, cb = seg(a1, t - 10), seg(b, t)
    r1 = c1.upSeconds * 2 * 10**15
    # A2 in two checkpoints: the first needs exactly what is left after A1, the second one more second's reserve.
    s2 = lease_escrow.getLease(a2)["paidThrough"]
    c2 = Checkpoint(a2, s2, s2 + 500, 500, 0)
    c3 = Checkpoint(a2, s2 + 500, s2 + 501, 1, 0)
    bonded = int(staking.stakeOf(pa)[0])
    free = bonded - int(lease_escrow.lockedCollateral(pa)) - int(escrow.unstakeBlockers(pa)[0])
    staking.requestUnstake(free - r1 - 500 * 10**15, {"from": pa})
    tx = submit([c1, cb, c2, c3])
    assert "CheckpointSkipped" not in tx.events
    one_second = ruling_reserve(10**15)
    assert [(e["leaseId"], e["amount"], e["unreserved"]) for e in tx.events["LeasePayWithheld"]] == [
        (a2, min(one_second, 10**15 - 10**15 * LEASE_FEE_BPS // 10_000), one_second)
    ]
    assert lease_escrow.getLease(a2)["paidThrough"] == s2 + 501
    bonded = int(staking.stakeOf(pa)[0])
    assert int(lease_escrow.lockedCollateral(pa)) == bonded  # exactly all of it, no more
