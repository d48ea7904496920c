"""topUp: anyone adds to an open or running lease's deposit, extending its runway; not once billing ended."""

import brownie

from tests.fixtures.contracts import PRICE
from tests.fixtures.leases import L_CANCELLED, L_RUNNING
from tests.unit.JobEscrow.conftest import at, now, warp
from tests.unit.LeaseEscrow.conftest import err, lunknown, lwrong


def test_top_up_extends_the_runway(lease_escrow, token, create_lease, rando):
    lease_id = create_lease(gpus=2, hours=1)
    v = lease_escrow.getLease(lease_id).dict()
    token.approve(lease_escrow, 2**256 - 1, {"from": rando})
    tx = lease_escrow.topUp(lease_id, 2 * PRICE * 1800, {"from": rando})
    ev = tx.events["LeaseToppedUp"]
    assert (ev["leaseId"], ev["by"], ev["amount"], ev["deposit"]) == (lease_id, rando, 2 * PRICE * 1800,
                                                                      v["deposit"] + 2 * PRICE * 1800)
    assert lease_escrow.runwayEnd(lease_id) == v["runwayEnd"] + 1800
    assert lease_escrow.getLease(lease_id)["deposit"] == v["deposit"] + 2 * PRICE * 1800


def test_top_up_of_an_open_lease(lease_escrow, create_lease, client):
    lease_id = create_lease(accept=False, hours=1)
    lease_escrow.topUp(lease_id, 5, {"from": client})
    assert lease_escrow.getLease(lease_id)["deposit"] == 2 * PRICE * 3600 + 5


def test_zero_is_refused(lease_escrow, create_lease, client):
    lease_id = create_lease()
    with brownie.reverts(err("LeaseEscrowZeroAmount()")):
        lease_escrow.topUp(lease_id, 0, {"from": client})


def test_not_after_billing_ended(lease_escrow, create_lease, client):
    lease_id = create_lease(hours=1)
    end = lease_escrow.runwayEnd(lease_id)
    warp(end)
    with brownie.reverts(err("LeaseEscrowBillingEnded(uint256,uint256,uint256)", lease_id, end, end + 1)):
        with at(end + 1):
            lease_escrow.topUp(lease_id, 1, {"from": client})


def test_not_after_a_close(lease_escrow, create_lease, client):
    lease_id = create_lease(hours=1)
    warp(now() + 10)  # a close in the acceptance's second would end the lease at once (no period to checkpoint)
    tx = lease_escrow.closeLease(lease_id, {"from": client})
    with brownie.reverts(err("LeaseEscrowBillingEnded(uint256,uint256,uint256)", lease_id, tx.timestamp,
                             tx.timestamp + 1)), at(tx.timestamp + 1):
        lease_escrow.topUp(lease_id, 1, {"from": client})


def test_not_on_cancelled_or_unknown(lease_escrow, create_lease, client):
    lease_id = create_lease(accept=False)
    lease_escrow.cancelLease(lease_id, {"from": client})
    with brownie.reverts(lwrong(lease_id, L_CANCELLED, L_RUNNING)):
        lease_escrow.topUp(lease_id, 1, {"from": client})
    with brownie.reverts(lunknown(5)):
        lease_escrow.topUp(5, 1, {"from": client})


def test_works_while_paused(lease_escrow, create_lease, client, guardian):
    lease_id = create_lease()
    lease_escrow.pause({"from": guardian})
    lease_escrow.topUp(lease_id, 1, {"from": client})
    assert lease_escrow.getLease(lease_id)["status"] == L_RUNNING
    assert now() > 0
