"""Attack tried by the outside review of 2026-12-03 (held): make a lease checkpoint's catch-up lock, or the provider unstake, the stake an open JOB
dispute froze, then see whether the job ruling and a lease ruling still find their whole slashes.

  job J (1,000 deposit, 200 collateral) settles paying 100; its client disputes: 800 frozen beyond the reserve;
  a stranger's open job squeezes free stake to ~0 and a lease checkpoint of 10 h lands (72 tokens of reserve
  unreserved, pay withheld); the squeeze is cancelled; the next checkpoint catches up; the provider unstakes
  everything the staking contract calls free; then both rulings are upheld.

Asserted: the job ruling slashes its 1,000 (client gets 100 + bond, treasury the rest) and the lease ruling slashes
everything the lease paid; the lease escrow's balance equals what it owes.
"""

import pytest

from tests.fixtures.contracts import E18, PRICE
from tests.fixtures.jobs import SPEC_HASH
from tests.security.conftest import DAY, HOUR, now, receipt_for

from .lease_withheld_support import free_of, owed_with_withheld, squeeze, withheld_of

pytestmark = pytest.mark.usefixtures("staked_provider")


def test_catch_up_and_unstaking_leave_the_job_freeze_and_the_lease_reserve_in_reach(
    lease_escrow, escrow, staking, token, create_lease, checkpoint, submit, client, client2, staked_provider,
    provider2, arbiter, sign, attest, rando, accounts
):
    p = staked_provider
    lease_client = accounts[9]
    token.transfer(lease_client, 100_000 * E18, {"from": rando})
    staking.addOffer("jobs", 4, 80, PRICE, "ipfs://j", {"from": p})  # offer 2: the job and the squeeze
    lid = create_lease(hours=300, sender=lease_client)
    submit([checkpoint(lid, seconds=HOUR)])

    token.approve(escrow, 2**256 - 1, {"from": client})
    jid = escrow.createJob(2, 1_000_000, now() + 7 * DAY, SPEC_HASH, 1, PRICE, {"from": client}).events[
        "JobCreated"]["jobId"]
    escrow.acceptJob(jid, {"from": p})
    r = receipt_for(escrow, jid, gpu_seconds=100_000)
    escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})
    escrow.dispute(jid, b"\x01" * 32, {"from": client})
    assert escrow.unstakeBlockers(p)[3] == 800 * E18

    sq = squeeze(lease_escrow, escrow, staking, token, p, 2, 1, client2, left=1 * E18)
    tx = submit([checkpoint(lid, seconds=10 * HOUR)])
    assert "LeasePayWithheld" in tx.events
    escrow.cancelJob(sq, {"from": client2})
    tx = submit([checkpoint(lid, seconds=HOUR)])
    print("after catch-up: withheld", withheld_of(lease_escrow, lid), "free", free_of(lease_escrow, escrow, staking, p))

    free = free_of(lease_escrow, escrow, staking, p)
    if free:
        staking.requestUnstake(free, {"from": p})
    assert free_of(lease_escrow, escrow, staking, p) == 0

    t = escrow.resolveDispute(jid, True, {"from": arbiter})
    assert t.events["DisputeResolved"]["slashed"] == 1_000 * E18

    lease_escrow.disputeCheckpoint(lid, b"\x02" * 32, {"from": lease_client})
    paid = lease_escrow.getLease(lid)["paid"]
    t = lease_escrow.resolveCheckpointDispute(lid, True, {"from": arbiter})
    ev = t.events["CheckpointDisputeResolved"]
    print("lease paid", paid / E18, "slashed", ev["slashed"] / E18, "compensation", ev["compensation"] / E18)
    assert ev["slashed"] == paid and ev["compensation"] == paid
    assert token.balanceOf(lease_escrow) == owed_with_withheld(lease_escrow, (p, provider2))
