"""cancelLease and declineLease: a full refund and the GPUs back, before acceptance only."""

import brownie

from tests.fixtures.contracts import GPU_COUNT, PRICE
from tests.fixtures.leases import L_CANCELLED, L_OPEN, L_RUNNING
from tests.unit.JobEscrow.conftest import warp
from tests.unit.LeaseEscrow.conftest import err, lunknown, lwrong


def test_client_cancels_for_a_full_refund(lease_escrow, staking, token, create_lease, client):
    before = token.balanceOf(client)
    lease_id = create_lease(gpus=2, hours=1, accept=False)
    deposit = 2 * PRICE * 3600
    assert staking.freeGpus(1) == GPU_COUNT - 2
    tx = lease_escrow.cancelLease(lease_id, {"from": client})
    ev = tx.events["LeaseCancelled"]
    assert (ev["leaseId"], ev["by"], ev["refund"]) == (lease_id, client, deposit)
    assert token.balanceOf(client) == before
    assert staking.freeGpus(1) == GPU_COUNT
    assert lease_escrow.getLease(lease_id)["status"] == L_CANCELLED


def test_before_accept_by_only_the_client_cancels(lease_escrow, create_lease, rando):
    lease_id = create_lease(accept=False)
    accept_by = lease_escrow.getLease(lease_id)["acceptBy"]
    with brownie.reverts(err("LeaseEscrowCancelNotAllowed(uint256,address,uint256)", lease_id, rando, accept_by)):
        lease_escrow.cancelLease(lease_id, {"from": rando})


def test_after_accept_by_anyone_cancels(lease_escrow, token, create_lease, client, rando):
    before = token.balanceOf(client)
    lease_id = create_lease(accept=False)
    warp(lease_escrow.getLease(lease_id)["acceptBy"] + 1)
    lease_escrow.cancelLease(lease_id, {"from": rando})
    assert token.balanceOf(client) == before


def test_running_leases_are_not_cancelled(lease_escrow, create_lease, client):
    lease_id = create_lease()
    with brownie.reverts(lwrong(lease_id, L_RUNNING, L_OPEN)):
        lease_escrow.cancelLease(lease_id, {"from": client})
    with brownie.reverts(lunknown(7)):
        lease_escrow.cancelLease(7, {"from": client})


def test_provider_or_worker_declines(lease_escrow, staking, token, create_lease, staked_provider, worker, client):
    before = token.balanceOf(client)
    a = create_lease(gpus=1, accept=False)
    b = create_lease(gpus=1, accept=False)
    tx = lease_escrow.declineLease(a, {"from": staked_provider})
    assert tx.events["LeaseCancelled"]["by"] == staked_provider
    lease_escrow.declineLease(b, {"from": worker})
    assert token.balanceOf(client) == before
    assert staking.freeGpus(1) == GPU_COUNT


def test_others_cannot_decline(lease_escrow, create_lease, client, rando):
    lease_id = create_lease(accept=False)
    for who in (client, rando):
        with brownie.reverts(err("LeaseEscrowNotProviderOrWorker(uint256,address)", lease_id, who)):
            lease_escrow.declineLease(lease_id, {"from": who})


def test_decline_only_open(lease_escrow, create_lease, staked_provider):
    lease_id = create_lease()
    with brownie.reverts(lwrong(lease_id, L_RUNNING, L_OPEN)):
        lease_escrow.declineLease(lease_id, {"from": staked_provider})


def test_cancel_works_while_paused(lease_escrow, create_lease, client, guardian):
    lease_id = create_lease(accept=False)
    lease_escrow.pause({"from": guardian})
    lease_escrow.cancelLease(lease_id, {"from": client})
    assert lease_escrow.getLease(lease_id)["status"] == L_CANCELLED
