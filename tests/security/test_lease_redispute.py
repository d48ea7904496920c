"""Attack (found while modelling upheld rulings in the lease machine, issue 11): the same checkpoint could be
disputed again after its ruling. A lease's dispute is about everything it paid up to its last checkpoint, and the
dispute window runs from that checkpoint, so after a ruling the client could dispute the very same checkpoint again:

- after an upheld ruling (the lease Ended by it), a second upheld ruling slashed the provider again and paid the
  client a second compensation for the same paid time;
- after a rejection or a lapse, each new dispute stopped the lease's checkpoints again and froze the provider's stake
  again, for up to the ruling period each time, over a checkpoint the arbiter had already ruled on (or failed to).

What must hold (docs/PROTOCOL.md, "Leases", disputes): a lease's checkpointed state (paid through a given second) is
disputed at most once. A new checkpoint after the ruling can be disputed as usual.
"""

import brownie
import pytest

from tests.fixtures.contracts import PRICE
from tests.fixtures.leases import LEASE_DISPUTE_SLASH_BPS

from .conftest import BPS, DAY, at, err

pytestmark = pytest.mark.usefixtures("staked_provider")
RATE = 2 * PRICE
REASON = b"\x0e" * 32
ENDED = 3


def already(lease_id, paid_through):
    return err("LeaseEscrowAlreadyDisputed(uint256,uint256)", lease_id, paid_through)


def test_an_upheld_checkpoint_cannot_be_disputed_and_paid_again(
    lease_escrow, staking, token, create_lease, checkpoint, submit, client, staked_provider, arbiter, deployer
):
    lease_id = create_lease()
    submit([checkpoint(lease_id, seconds=5000)])
    lease_escrow.disputeCheckpoint(lease_id, REASON, {"from": client})
    first = lease_escrow.resolveCheckpointDispute(lease_id, True, {"from": arbiter})
    paid = 5000 * RATE
    assert first.events["CheckpointDisputeResolved"]["compensation"] == paid * LEASE_DISPUTE_SLASH_BPS // BPS
    v = lease_escrow.getLease(lease_id)
    assert v["status"] == ENDED
    staking.unjail(staked_provider, {"from": deployer})
    bonded, balance = staking.stakeOf(staked_provider)[0], token.balanceOf(client)
    # Before the fix the second dispute went through, and a second upheld ruling paid `paid` again.
    with brownie.reverts(already(lease_id, v["paidThrough"])):
        lease_escrow.disputeCheckpoint(lease_id, REASON, {"from": client})
    assert (staking.stakeOf(staked_provider)[0], token.balanceOf(client)) == (bonded, balance)


def test_a_rejected_checkpoint_is_not_disputed_twice_but_the_next_one_can_be(
    lease_escrow, create_lease, checkpoint, submit, client, arbiter
):
    lease_id = create_lease()
    submit([checkpoint(lease_id, seconds=600)])
    lease_escrow.disputeCheckpoint(lease_id, REASON, {"from": client})
    lease_escrow.resolveCheckpointDispute(lease_id, False, {"from": arbiter})
    through = lease_escrow.getLease(lease_id)["paidThrough"]
    with brownie.reverts(already(lease_id, through)):
        lease_escrow.disputeCheckpoint(lease_id, REASON, {"from": client})
    submit([checkpoint(lease_id, seconds=600)])
    lease_escrow.disputeCheckpoint(lease_id, REASON, {"from": client})  # a new checkpoint: disputable


def test_a_lapsed_dispute_cannot_be_opened_again_to_stall_the_lease(
    lease_escrow, escrow, create_lease, checkpoint, submit, client, rando, deployer
):
    """A 3-day dispute window and a 1-day ruling period: after the lapse the window is still open, and the client
    must not stop the provider's checkpoints for another ruling period over the same checkpoint."""
    escrow.setParameter(9, DAY, {"from": deployer})  # JobParameter.RulingPeriod
    lease_escrow.setParameter(4, 3 * DAY, {"from": deployer})  # LeaseParameter.DisputeWindow, fixed at opening
    lease_id = create_lease()
    submit([checkpoint(lease_id, seconds=600)])
    tx = lease_escrow.disputeCheckpoint(lease_id, REASON, {"from": client})
    with at(tx.timestamp + DAY + 1):
        lease_escrow.closeUnruledCheckpointDispute(lease_id, {"from": rando})
    with brownie.reverts(already(lease_id, lease_escrow.getLease(lease_id)["paidThrough"])):
        lease_escrow.disputeCheckpoint(lease_id, REASON, {"from": client})
