"""closeLease (client) and reclaimLease (provider with the notice): billing ends, the final checkpoint pays up to it."""

import brownie

from tests.fixtures.leases import L_OPEN, L_RUNNING
from tests.unit.JobEscrow.conftest import at, now, warp
from tests.unit.LeaseEscrow.conftest import err, lwrong


def test_client_closes_now(lease_escrow, create_lease, client):
    lease_id = create_lease()
    ts = now() + 100
    with at(ts):
        tx = lease_escrow.closeLease(lease_id, {"from": client})
    ev = tx.events["LeaseClosed"]
    assert (ev["leaseId"], ev["by"], ev["billingEnd"]) == (lease_id, client, ts)
    assert lease_escrow.getLease(lease_id)["billingEnd"] == ts


def test_close_after_the_runway_ended_keeps_the_runway_end(lease_escrow, create_lease, client):
    lease_id = create_lease(hours=1)
    end = lease_escrow.runwayEnd(lease_id)
    warp(end + 50)
    tx = lease_escrow.closeLease(lease_id, {"from": client})
    assert tx.events["LeaseClosed"]["billingEnd"] == end


def test_only_the_client_closes(lease_escrow, create_lease, client, staked_provider):
    lease_id = create_lease()
    with brownie.reverts(err("LeaseEscrowNotClient(uint256,address,address)", lease_id, staked_provider, client)):
        lease_escrow.closeLease(lease_id, {"from": staked_provider})


def test_open_leases_are_cancelled_not_closed(lease_escrow, create_lease, client):
    lease_id = create_lease(accept=False)
    with brownie.reverts(lwrong(lease_id, L_OPEN, L_RUNNING)):
        lease_escrow.closeLease(lease_id, {"from": client})


def test_reclaim_with_the_notice(lease_escrow, staking, create_lease, staked_provider, worker):
    staking.setOfferAvailability(1, 1, 900, 0, {"from": staked_provider})
    lease_id = create_lease(max_class=1, min_notice=900)
    staking.setOfferAvailability(1, 1, 60, 0, {"from": staked_provider})  # the lease keeps its own notice
    ts = now() + 10
    with at(ts):
        tx = lease_escrow.reclaimLease(lease_id, {"from": worker})
    assert (tx.events["LeaseReclaimed"]["leaseId"], tx.events["LeaseReclaimed"]["billingEnd"]) == (lease_id, ts + 900)
    assert lease_escrow.getLease(lease_id)["billingEnd"] == ts + 900


def test_reclaim_interruptible_ends_billing_now(lease_escrow, staking, create_lease, staked_provider):
    staking.setOfferAvailability(1, 2, 0, 0, {"from": staked_provider})
    lease_id = create_lease()
    ts = now() + 10
    with at(ts):
        tx = lease_escrow.reclaimLease(lease_id, {"from": staked_provider})
    assert tx.events["LeaseReclaimed"]["billingEnd"] == ts


def test_reclaim_never_moves_an_earlier_end_later(lease_escrow, staking, create_lease, staked_provider):
    staking.setOfferAvailability(1, 1, 3600, 0, {"from": staked_provider})
    lease_id = create_lease(end_time=now() + 1000)
    tx = lease_escrow.reclaimLease(lease_id, {"from": staked_provider})
    assert tx.events["LeaseReclaimed"]["billingEnd"] == lease_escrow.getLease(lease_id)["endTime"]


def test_dedicated_leases_are_not_reclaimed(lease_escrow, create_lease, staked_provider):
    lease_id = create_lease()
    with brownie.reverts(err("LeaseEscrowNotReclaimable(uint256,uint8)", lease_id, 0)):
        lease_escrow.reclaimLease(lease_id, {"from": staked_provider})


def test_only_provider_or_worker_reclaims(lease_escrow, staking, create_lease, staked_provider, client):
    staking.setOfferAvailability(1, 2, 0, 0, {"from": staked_provider})
    lease_id = create_lease()
    with brownie.reverts(err("LeaseEscrowNotProviderOrWorker(uint256,address)", lease_id, client)):
        lease_escrow.reclaimLease(lease_id, {"from": client})


def test_no_reclaim_after_billing_ended(lease_escrow, staking, create_lease, staked_provider, client):
    staking.setOfferAvailability(1, 2, 0, 0, {"from": staked_provider})
    lease_id = create_lease()
    warp(now() + 10)  # a close in the acceptance's second would end the lease at once (no period to checkpoint)
    tx = lease_escrow.closeLease(lease_id, {"from": client})
    with brownie.reverts(err("LeaseEscrowBillingEnded(uint256,uint256,uint256)", lease_id, tx.timestamp,
                             tx.timestamp + 1)), at(tx.timestamp + 1):
        lease_escrow.reclaimLease(lease_id, {"from": staked_provider})
    assert lease_escrow.getLease(lease_id)["status"] == L_RUNNING
