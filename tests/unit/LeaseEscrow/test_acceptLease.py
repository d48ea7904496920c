"""acceptLease: billing starts, collateral locked from free stake (bonded less jobs' and leases' locked)."""

import brownie

from tests.fixtures.contracts import GPU_COUNT, MIN_STAKE, PRICE, PROVIDER_STAKE
from tests.fixtures.leases import COLLATERAL_SECONDS, L_OPEN, L_RUNNING, LEASE_ACCEPT_WINDOW
from tests.helpers.revert import unauthorized
from tests.unit.JobEscrow.conftest import at, now, warp
from tests.unit.LeaseEscrow.conftest import err, lunknown, lwrong


def test_accept_starts_billing_and_locks_collateral(lease_escrow, staking, create_lease, staked_provider):
    lease_id = create_lease(gpus=2, accept=False)
    ts = now() + 7
    with at(ts):
        tx = lease_escrow.acceptLease(lease_id, {"from": staked_provider})
    collateral = 2 * PRICE * COLLATERAL_SECONDS
    ev = tx.events["LeaseAccepted"]
    assert (ev["leaseId"], ev["provider"], ev["startedAt"], ev["collateral"]) == (lease_id, staked_provider, ts,
                                                                                  collateral)
    v = lease_escrow.getLease(lease_id).dict()
    assert v["status"] == L_RUNNING and v["startedAt"] == ts and v["paidThrough"] == ts
    assert v["collateral"] == collateral
    assert lease_escrow.lockedCollateral(staked_provider) == collateral
    assert tuple(staking.lockedCollateral(staked_provider)) == (0, collateral)
    assert v["runwayEnd"] == ts + 10 * 3600


def test_the_worker_key_may_accept(lease_escrow, create_lease, worker):
    lease_id = create_lease(accept=False)
    lease_escrow.acceptLease(lease_id, {"from": worker})
    assert lease_escrow.getLease(lease_id)["status"] == L_RUNNING


def test_others_may_not(lease_escrow, create_lease, client, rando):
    lease_id = create_lease(accept=False)
    for who in (client, rando):
        with brownie.reverts(err("LeaseEscrowNotProviderOrWorker(uint256,address)", lease_id, who)):
            lease_escrow.acceptLease(lease_id, {"from": who})


def test_only_open_leases(lease_escrow, create_lease, staked_provider):
    lease_id = create_lease()
    with brownie.reverts(lwrong(lease_id, L_RUNNING, L_OPEN)):
        lease_escrow.acceptLease(lease_id, {"from": staked_provider})
    with brownie.reverts(lunknown(99)):
        lease_escrow.acceptLease(99, {"from": staked_provider})


def test_acceptance_closes(lease_escrow, create_lease, staked_provider):
    lease_id = create_lease(accept=False)
    accept_by = lease_escrow.getLease(lease_id)["acceptBy"]
    warp(accept_by + 1)
    with brownie.reverts(err("LeaseEscrowAcceptanceClosed(uint256,uint256,uint256)", lease_id, accept_by,
                             accept_by + 2)), at(accept_by + 2):
        lease_escrow.acceptLease(lease_id, {"from": staked_provider})


def test_jailed_provider_cannot_accept(lease_escrow, staking, create_lease, staked_provider, deployer):
    lease_id = create_lease(accept=False)
    staking.jail(staked_provider, {"from": deployer})
    with brownie.reverts(err("LeaseEscrowProviderJailed(address)", staked_provider)):
        lease_escrow.acceptLease(lease_id, {"from": staked_provider})


def test_below_minimum_stake_cannot_accept(lease_escrow, staking, create_lease, staked_provider):
    lease_id = create_lease(accept=False)
    staking.requestUnstake(PROVIDER_STAKE - MIN_STAKE + 1, {"from": staked_provider})
    with brownie.reverts(err("LeaseEscrowBelowMinimumStake(address,uint256,uint256)", staked_provider,
                             MIN_STAKE - 1, MIN_STAKE)):
        lease_escrow.acceptLease(lease_id, {"from": staked_provider})


def test_lease_collateral_must_fit_stake_net_of_jobs(lease_escrow, escrow, token, create_lease, staked_provider,
                                                    client, deployer):
    token.approve(escrow, 2**256 - 1, {"from": client})
    # A 1-GPU job locks 20% of its deposit: 9,000 of the 10,000 staked.
    escrow.createJob(1, 45_000_000, now() + 7 * 24 * 3600, b"\x01" * 32, 1, PRICE, {"from": client})
    assert escrow.providerRecord(staked_provider)["lockedCollateral"] == 9_000 * 10**18
    lease_escrow.setParameter(1, 30 * 24 * 3600, {"from": deployer})  # collateral: 30 days of the rate
    lease_id = create_lease(gpus=3, hours=1, accept=False)
    with brownie.reverts(err("LeaseEscrowInsufficientFreeStake(address,uint256,uint256)", staked_provider,
                             1_000 * 10**18, 3 * PRICE * 30 * 24 * 3600)):
        lease_escrow.acceptLease(lease_id, {"from": staked_provider})


def test_job_collateral_must_fit_stake_net_of_leases(lease_escrow, escrow, token, create_lease, staked_provider,
                                                     client):
    create_lease(gpus=2)
    lease_locked = 2 * PRICE * COLLATERAL_SECONDS
    free = PROVIDER_STAKE - lease_locked
    max_s = free // (PRICE * 2_000 // 10_000) + 1
    token.approve(escrow, 2**256 - 1, {"from": client})
    with brownie.reverts(err("JobEscrowInsufficientFreeStake(address,uint256,uint256)", staked_provider, free,
                             (PRICE * max_s * 2_000 + 9_999) // 10_000)):
        escrow.createJob(1, max_s, now() + 7 * 24 * 3600, b"\x01" * 32, 1, PRICE, {"from": client})
    escrow.createJob(1, max_s - 1, now() + 7 * 24 * 3600, b"\x01" * 32, 1, PRICE, {"from": client})


def test_insufficient_free_stake(lease_escrow, token, staking, create_lease, staked_provider, deployer):
    # One hour of four GPUs at a high price: collateral above the whole stake.
    staking.updateOffer(1, GPU_COUNT, 80, PROVIDER_STAKE // (GPU_COUNT * COLLATERAL_SECONDS) + 1, "ipfs://offer",
                        {"from": staked_provider})
    price = staking.offer(1)["pricePerGpuSecond"]
    lease_id = create_lease(gpus=GPU_COUNT, hours=1, accept=False)
    need = GPU_COUNT * price * COLLATERAL_SECONDS
    with brownie.reverts(err("LeaseEscrowInsufficientFreeStake(address,uint256,uint256)", staked_provider,
                             PROVIDER_STAKE, need)):
        lease_escrow.acceptLease(lease_id, {"from": staked_provider})


def test_worker_rotated_to_the_client_cannot_accept(lease_escrow, staking, create_lease, staked_provider, client):
    lease_id = create_lease(accept=False)
    staking.setWorker(client, {"from": staked_provider})
    with brownie.reverts(err("LeaseEscrowSelfDealing(address,address,address)", client, staked_provider, client)):
        lease_escrow.acceptLease(lease_id, {"from": staked_provider})


def test_no_acceptance_while_paused(lease_escrow, create_lease, staked_provider, guardian):
    lease_id = create_lease(accept=False)
    lease_escrow.pause({"from": guardian})
    with brownie.reverts(err("LeaseEscrowOpeningPaused()")):
        lease_escrow.acceptLease(lease_id, {"from": staked_provider})


def test_pause_is_the_guardians(lease_escrow, rando):
    with brownie.reverts(unauthorized(rando, "guardian")):
        lease_escrow.pause({"from": rando})


def test_accept_window_is_the_parameter(lease_escrow, create_lease):
    lease_id = create_lease(accept=False)
    v = lease_escrow.getLease(lease_id).dict()
    assert v["acceptBy"] - now() <= LEASE_ACCEPT_WINDOW
