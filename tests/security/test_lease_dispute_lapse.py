"""Attack (issue 11, the lease side of the outside audit of issue 8, lower finding 1): a checkpoint dispute had no
ruling deadline. A client disputes a lease's checkpoint for the flat bond and the arbiter never rules (absent, key
lost, or simply slow): the lease stays Disputed forever, no checkpoint lands, the dispute's freeze keeps part of the
provider's stake from ever leaving, the lease's collateral stays locked and the client's bond is stuck. The job
escrow's fix (a ruling deadline and `closeUnruledDispute`) did not cover leases.

What must hold (docs/PROTOCOL.md, "Leases", disputes; SECURITY.md, "Lower 1"): a checkpoint dispute is ruled by its
ruling deadline, `disputed at + the job escrow's RulingPeriod` (the arbiter is the same for both markets; the period
is read once, when the dispute opens, so a later change never moves it). After the deadline the arbiter's ruling is
refused with the deadline in the error, and anyone may close the dispute: it lapses like a rejected ruling (the
lease runs again, or stays Ended, and what the dispute froze is released) except that the bond goes back to the
client, since the arbiter, not the client, failed to act.
"""

import brownie
import pytest

from tests.fixtures.contracts import PRICE
from tests.fixtures.leases import (
    COLLATERAL_SECONDS,
    LEASE_DISPUTE_BOND,
    LEASE_DISPUTE_SLASH_BPS,
    LEASE_GRACE,
)

from .conftest import BPS, DAY, at, err

pytestmark = pytest.mark.usefixtures("staked_provider")
RATE = 2 * PRICE  # create_lease's default: 2 GPUs
COLLATERAL = RATE * COLLATERAL_SECONDS
REASON = b"\x0c" * 32
RUNNING, ENDED, DISPUTED = 2, 3, 5


def status(lease_escrow, lease_id):
    return int(lease_escrow.getLease(lease_id)["status"])


def dispute(lease_escrow, create_lease, checkpoint, submit, client, seconds=5000):
    """A lease whose first checkpoint paid `seconds` (5,000 s of rate locked as its ruling reserve),
    disputed by its client; returns (lease, dispute tx)."""
    lease_id = create_lease()
    submit([checkpoint(lease_id, seconds=seconds)])
    return lease_id, lease_escrow.disputeCheckpoint(lease_id, REASON, {"from": client})


def test_an_unruled_checkpoint_dispute_lapses_and_the_bond_goes_back_to_the_client(
    lease_escrow, escrow, staking, token, create_lease, checkpoint, submit, client, staked_provider, rando
):
    provider = staked_provider
    lease_id, tx = dispute(lease_escrow, create_lease, checkpoint, submit, client)
    deadline = tx.timestamp + int(escrow.rulingPeriod())
    # The checkpoint locked the ruling's slash as the lease's ruling reserve: the dispute freezes nothing more.
    frozen = 0
    assert int(lease_escrow.lockedCollateral(provider)) == COLLATERAL + 5000 * RATE * LEASE_DISPUTE_SLASH_BPS // BPS
    assert tx.events["CheckpointDisputed"]["rulingDeadline"] == deadline
    assert lease_escrow.getLease(lease_id)["rulingDeadline"] == deadline
    assert int(lease_escrow.unstakeBlockers(provider)[3]) == frozen

    # Before the deadline nobody can close it: the arbiter still may rule.
    with at(deadline), brownie.reverts(err("LeaseEscrowRulingDeadlineNotReached(uint256,uint256,uint256)",
                                           lease_id, deadline, deadline)):
        lease_escrow.closeUnruledCheckpointDispute(lease_id, {"from": rando})

    balance = token.balanceOf(client)
    with at(deadline + 1):
        tx = lease_escrow.closeUnruledCheckpointDispute(lease_id, {"from": rando})
    ev = tx.events["CheckpointDisputeLapsed"]
    assert (ev["leaseId"], ev["client"], ev["bond"], ev["frozen"]) == (lease_id, client, LEASE_DISPUTE_BOND, frozen)
    assert token.balanceOf(client) - balance == LEASE_DISPUTE_BOND
    assert status(lease_escrow, lease_id) == RUNNING
    assert lease_escrow.getLease(lease_id)["rulingDeadline"] == 0
    # Nothing slashed; the open dispute is gone, the collateral and the reserve stay locked for the running lease.
    locked, open_disputes, _, frozen_now = (int(x) for x in lease_escrow.unstakeBlockers(provider))
    assert (locked, open_disputes, frozen_now) == (COLLATERAL + 5000 * RATE * LEASE_DISPUTE_SLASH_BPS // BPS, 0, 0)
    # Checkpoints land again, contiguous with the last one.
    submit([checkpoint(lease_id, seconds=60)])
    assert int(lease_escrow.getLease(lease_id)["upSeconds"]) == 5060


def test_the_arbiter_cannot_rule_after_the_deadline_nor_close_twice(
    lease_escrow, escrow, create_lease, checkpoint, submit, client, arbiter, rando
):
    lease_id, tx = dispute(lease_escrow, create_lease, checkpoint, submit, client)
    deadline = tx.timestamp + int(escrow.rulingPeriod())
    with at(deadline + 1), brownie.reverts(err("LeaseEscrowRulingDeadlinePassed(uint256,uint256,uint256)",
                                               lease_id, deadline, deadline + 1)):
        lease_escrow.resolveCheckpointDispute(lease_id, True, {"from": arbiter})
    lease_escrow.closeUnruledCheckpointDispute(lease_id, {"from": rando})
    with brownie.reverts(err("LeaseEscrowWrongStatus(uint256,uint8,uint8)", lease_id, RUNNING, DISPUTED)):
        lease_escrow.closeUnruledCheckpointDispute(lease_id, {"from": rando})


def test_a_ruling_on_the_deadline_itself_still_counts(
    lease_escrow, escrow, token, create_lease, checkpoint, submit, client, arbiter
):
    lease_id, tx = dispute(lease_escrow, create_lease, checkpoint, submit, client)
    with at(tx.timestamp + int(escrow.rulingPeriod())):
        tx = lease_escrow.resolveCheckpointDispute(lease_id, True, {"from": arbiter})
    assert tx.events["CheckpointDisputeResolved"]["slashed"] == 5000 * RATE * LEASE_DISPUTE_SLASH_BPS // BPS


def test_a_later_ruling_period_change_does_not_move_an_open_disputes_deadline(
    lease_escrow, escrow, create_lease, checkpoint, submit, client, deployer, rando
):
    lease_id, tx = dispute(lease_escrow, create_lease, checkpoint, submit, client)
    deadline = tx.timestamp + int(escrow.rulingPeriod())
    ruling_period = 9  # JobParameter.RulingPeriod
    escrow.setParameter(ruling_period, 60 * DAY, {"from": deployer})
    assert lease_escrow.getLease(lease_id)["rulingDeadline"] == deadline
    with at(deadline + 1):
        lease_escrow.closeUnruledCheckpointDispute(lease_id, {"from": rando})


def test_a_lapsed_dispute_of_an_ended_lease_leaves_it_ended_and_its_expiry_clock_restarts(
    lease_escrow, escrow, token, create_lease, checkpoint, submit, client, rando
):
    """A dispute of the final checkpoint: the lease was Ended before it and is Ended after the lapse, and the
    client's refund is what it was. A dispute of a running lease: the expiry's grace runs from the lapse."""
    lease_id = create_lease()
    submit([checkpoint(lease_id, seconds=100)])
    tx = lease_escrow.closeLease(lease_id, {"from": client})
    submit([checkpoint(lease_id, to=tx.timestamp)])
    assert status(lease_escrow, lease_id) == ENDED
    refundable = int(lease_escrow.getLease(lease_id)["refundable"])
    tx = lease_escrow.disputeCheckpoint(lease_id, REASON, {"from": client})
    with at(tx.timestamp + int(escrow.rulingPeriod()) + 1):
        lease_escrow.closeUnruledCheckpointDispute(lease_id, {"from": rando})
    assert status(lease_escrow, lease_id) == ENDED
    assert int(lease_escrow.getLease(lease_id)["refundable"]) == refundable

    lease2, tx = dispute(lease_escrow, create_lease, checkpoint, submit, client, seconds=50)
    lapse_at = tx.timestamp + int(escrow.rulingPeriod()) + 1
    with at(lapse_at):
        lease_escrow.closeUnruledCheckpointDispute(lease2, {"from": rando})
    # The runway ran out long ago, but no checkpoint could land while disputed: grace runs from the lapse.
    claimable = lapse_at + LEASE_GRACE
    with at(claimable - 1), brownie.reverts(err("LeaseEscrowExpiryNotReached(uint256,uint256,uint256)", lease2,
                                                claimable, claimable - 1)):
        lease_escrow.claimLeaseExpiry(lease2, {"from": client})
