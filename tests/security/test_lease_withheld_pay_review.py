"""Attack review of cfcb46d: attacks on the withheld lease pay that held (each asserts the safe behaviour).

* bookkeeping across an A/B/A batch with penalties, free stake squeezed to a few tokens by a stranger's job, unreserved
  accumulating over several checkpoints of two leases, a rejected dispute followed by more checkpoints and an upheld
  second dispute on a Running lease, a close + final checkpoint, an expiry, and releases: lease-locked == sum of
  collateral + reserve - unreserved, bonded >= both escrows' locks, escrow balance == owed + withheld pay, the
  leaseLocked flag == (locked != 0 or frozen != 0);
* a provider that unstakes all free stake before a long period cannot withdraw the unbonding stake ahead of the
  ruling when its collateral does not cover the fee-share gap (the freeze holds it), and the ruling is made whole;
* parameter sets fee = 0 (withheld == unreserved), dispute slash = 0 (nothing withheld), fee 10% + slash 100% (gap =
  fee share, covered by the collateral);
* a ruling after the lease ended takes collateral first and hands all the withheld pay back; release pays it once.
"""

import brownie
import pytest

from tests.fixtures.contracts import PRICE, PROVIDER_STAKE
from tests.fixtures.leases import LEASE_DISPUTE_WINDOW, LEASE_GRACE
from tests.helpers.lease_signing import Checkpoint
from tests.security.conftest import BPS, DAY, HOUR, now, warp

from .lease_withheld_support import expected_locked, free_of, owed_with_withheld, squeeze, tokens, withheld_of

pytestmark = pytest.mark.usefixtures("staked_provider")
REASON = b"\x52" * 32


def test_bookkeeping_and_identity_hold_across_withholding(
    lease_escrow, escrow, staking, token, create_lease, submit, client, client2, staked_provider, provider2, worker2,
    arbiter, deployer
):
    pa, pb = staked_provider, provider2
    token.approve(staking, PROVIDER_STAKE, {"from": pb})
    staking.stake(PROVIDER_STAKE, {"from": pb})
    staking.setWorker(worker2, {"from": pb})
    staking.setOfferAvailability(1, 0, 0, 9_000, {"from": pa})
    staking.addOffer("A100", 2, 40, 777_777_777_777_771, "ipfs://b", {"from": pb})  # offer 2
    staking.setOfferAvailability(2, 0, 0, 9_500, {"from": pb})
    staking.addOffer("jobs", 4, 80, PRICE, "ipfs://j", {"from": pa})  # offer 3, for the squeezing jobs
    a1 = create_lease(gpus=1, offer_id=1, hours=300)
    lease_escrow.setParameter(3, 3_333, {"from": deployer})  # a2 under slash 3,333 bps
    a2 = create_lease(gpus=2, offer_id=1, hours=300)
    b = create_lease(gpus=1, offer_id=2, hours=300)
    leases = {pa: [a1, a2], pb: [b]}

    def check(tag):
        for p in (pa, pb):
            locked = int(lease_escrow.lockedCollateral(p))
            assert locked == expected_locked(lease_escrow, leases[p]), tag
            bonded = int(staking.stakeOf(p)[0])
            assert bonded >= locked + int(escrow.unstakeBlockers(p)[0]), tag
            assert int(staking.settlementContext(p)[1]) <= bonded
            frozen = int(lease_escrow.unstakeBlockers(p)[3])
            assert (int(staking.settlementContext(p)[1]) == bonded) == (locked == 0 and frozen == 0), tag
        owed = owed_with_withheld(lease_escrow, (pa, pb))
        bal = int(token.balanceOf(lease_escrow))
        assert bal == owed, (tag, bal, owed)

    def seg(lid, to, down):
        start = lease_escrow.getLease(lid)["paidThrough"]
        return Checkpoint(lid, start, to, to - start - down, down)

    job = squeeze(lease_escrow, escrow, staking, token, pa, 3, 2, client2, left=5 * 10**18)
    withheld_events = 0
    for k in range(5):
        warp(now() + 3 * HOUR + 137 * k)
        t = now()
        mid = lease_escrow.getLease(a1)["paidThrough"] + 1_801 + k
        batch = [seg(a1, mid, 600 + k), seg(b, t - 2, 61 + k), seg(a2, t - 1, 3),
                 Checkpoint(a1, mid, t - 3, t - 3 - mid - 2, 2)]  # A, B, A, A
        tx = submit(batch)
        assert "CheckpointSkipped" not in tx.events
        withheld_events += len(tx.events["LeasePayWithheld"]) if "LeasePayWithheld" in tx.events else 0
        check(f"batch {k}")
        if k == 1:  # a rejected dispute, then more checkpoints
            lease_escrow.disputeCheckpoint(a2, REASON, {"from": client})
            lease_escrow.resolveCheckpointDispute(a2, False, {"from": arbiter})
            check("rejected")
        if k == 2:  # the stranger's job goes and comes back, tighter
            escrow.cancelJob(job, {"from": client2})
            job = squeeze(lease_escrow, escrow, staking, token, pa, 3, 2, client2, left=1)
    assert withheld_events >= 5
    print("a1 withheld", [tokens(x) for x in withheld_of(lease_escrow, a1)],
          "a2 withheld", [tokens(x) for x in withheld_of(lease_escrow, a2)])

    # A second dispute of a2 (Running), upheld: its own backing first, the rest of the withheld pay to pa.
    v = lease_escrow.getLease(a2).dict()
    amount = v["upSeconds"] * v["ratePerSecond"] * 3_333 // BPS
    pay2, _ = withheld_of(lease_escrow, a2)
    earn = int(lease_escrow.providerRecord(pa)["earnings"])
    lease_escrow.disputeCheckpoint(a2, REASON, {"from": client})
    check("disputed")
    tx = lease_escrow.resolveCheckpointDispute(a2, True, {"from": arbiter})
    r = tx.events["CheckpointDisputeResolved"]
    back = tx.events["LeaseWithheldPayReleased"]["amount"] if "LeaseWithheldPayReleased" in tx.events else 0
    print(f"a2 ruling: due {tokens(amount)} slashed {tokens(r['slashed'])} withheld {tokens(pay2)} back {tokens(back)}")
    assert r["slashed"] == amount
    assert int(lease_escrow.providerRecord(pa)["earnings"]) == earn + back
    assert withheld_of(lease_escrow, a2) == (0, 0)
    check("upheld")

    # a1 closes and gets its final checkpoint; b closes and expires; releases after the windows.
    escrow.cancelJob(job, {"from": client2})
    t1 = lease_escrow.closeLease(a1, {"from": client}).timestamp
    tb = lease_escrow.closeLease(b, {"from": client}).timestamp
    submit([seg(a1, t1, 1)])
    check("final")
    warp(tb + LEASE_GRACE)
    lease_escrow.claimLeaseExpiry(b, {"from": client})
    check("expired")
    warp(now() + LEASE_DISPUTE_WINDOW + 1)
    pay1, _ = withheld_of(lease_escrow, a1)
    earn = int(lease_escrow.providerRecord(pa)["earnings"])
    lease_escrow.releaseLeaseCollateral([a1, b, a1], {"from": rando_of(client)})
    assert int(lease_escrow.providerRecord(pa)["earnings"]) == earn + pay1
    check("released")
    assert int(lease_escrow.lockedCollateral(pa)) == 0 and int(lease_escrow.lockedCollateral(pb)) == 0
    with brownie.reverts():
        lease_escrow.releaseLeaseCollateral([a1, b], {"from": client})


def rando_of(x):
    return x


def test_unbonding_escape_is_frozen_when_collateral_does_not_cover_the_gap(
    lease_escrow, escrow, staking, token, create_lease, checkpoint, submit, client, staked_provider, arbiter
):
    p = staked_provider
    lid = create_lease(hours=24 * 30)
    staking.requestUnstake(free_of(lease_escrow, escrow, staking, p), {"from": p})
    tx = submit([checkpoint(lid, seconds=20 * DAY // 2)])  # 10 days, all up: 1,728 tokens, all unreserved
    w = tx.events["LeasePayWithheld"]
    lease_escrow.disputeCheckpoint(lid, REASON, {"from": client})
    frozen = int(lease_escrow.unstakeBlockers(p)[3])
    print(f"withheld {tokens(w['amount'])} of unreserved {tokens(w['unreserved'])}; collateral 7.2; frozen {tokens(frozen)}")
    warp(now() + 8 * DAY)  # unbonding over, the checkpoint's window closed, the ruling not yet in
    with brownie.reverts():
        staking.withdraw({"from": p})
    v = lease_escrow.getLease(lid).dict()
    amount = v["upSeconds"] * v["ratePerSecond"]
    r = lease_escrow.resolveCheckpointDispute(lid, True, {"from": arbiter}).events["CheckpointDisputeResolved"]
    print(f"ruling: due {tokens(amount)} slashed {tokens(r['slashed'])}")
    assert r["slashed"] == amount


@pytest.mark.parametrize("fee,slash", [(0, 10_000), (250, 0), (1_000, 10_000), (1_000, 5_000)])
def test_parameter_sets(fee, slash, lease_escrow, escrow, staking, token, create_lease, checkpoint, submit, client,
                        client2, staked_provider, arbiter, deployer):
    p = staked_provider
    lease_escrow.setParameter(0, fee, {"from": deployer})
    lease_escrow.setParameter(3, slash, {"from": deployer})
    staking.addOffer("jobs", 4, 80, PRICE, "ipfs://j", {"from": p})
    lid = create_lease(hours=100)
    submit([checkpoint(lid, seconds=HOUR)])
    squeeze(lease_escrow, escrow, staking, token, p, 2, 2, client2, left=10**18)
    tx = submit([checkpoint(lid, seconds=5 * HOUR)])
    paid = 5 * HOUR * 2 * PRICE
    net = paid - paid * fee // BPS
    if slash == 0:
        assert "LeasePayWithheld" not in tx.events
    else:
        w = tx.events["LeasePayWithheld"]
        assert w["amount"] == min(w["unreserved"], net)
    assert int(lease_escrow.lockedCollateral(p)) == expected_locked(lease_escrow, [lid])
    owed = owed_with_withheld(lease_escrow, (p,))
    assert int(token.balanceOf(lease_escrow)) == owed
    lease_escrow.disputeCheckpoint(lid, REASON, {"from": client})
    v = lease_escrow.getLease(lid).dict()
    amount = v["upSeconds"] * v["ratePerSecond"] * slash // BPS
    r = lease_escrow.resolveCheckpointDispute(lid, True, {"from": arbiter}).events["CheckpointDisputeResolved"]
    print(f"fee {fee} slash {slash}: due {tokens(amount)} slashed {tokens(r['slashed'])}")
    assert r["slashed"] == amount
    assert withheld_of(lease_escrow, lid) == (0, 0)
    assert int(lease_escrow.lockedCollateral(p)) == 0
    assert int(token.balanceOf(lease_escrow)) == owed_with_withheld(lease_escrow, (p,)) + 0


def test_ruling_after_end_takes_collateral_first_and_returns_withheld(
    lease_escrow, escrow, staking, token, create_lease, checkpoint, submit, client, client2, staked_provider, arbiter
):
    p = staked_provider
    staking.addOffer("jobs", 4, 80, PRICE, "ipfs://j", {"from": p})
    end = now() + 3 * HOUR
    lid = create_lease(hours=4, end_time=end)
    submit([checkpoint(lid, seconds=2 * HOUR)])
    job = squeeze(lease_escrow, escrow, staking, token, p, 2, 2, client2, left=0)
    tx = submit([checkpoint(lid, to=end)])  # final, all unreserved
    w = tx.events["LeasePayWithheld"]
    escrow.cancelJob(job, {"from": client2})
    earn = int(lease_escrow.providerRecord(p)["earnings"])
    lease_escrow.disputeCheckpoint(lid, REASON, {"from": client})
    c0 = token.balanceOf(client)
    tx = lease_escrow.resolveCheckpointDispute(lid, True, {"from": arbiter})
    r = tx.events["CheckpointDisputeResolved"]
    amount = 3 * HOUR * 2 * PRICE
    assert r["slashed"] == r["compensation"] == amount
    assert tx.events["LeaseWithheldPayReleased"]["amount"] == w["amount"]  # the collateral covered the gap
    assert int(lease_escrow.providerRecord(p)["earnings"]) == earn + w["amount"]
    assert token.balanceOf(client) - c0 == amount + 10 * 10**18  # compensation + bond
    assert int(token.balanceOf(lease_escrow)) == owed_with_withheld(lease_escrow, (p,))
