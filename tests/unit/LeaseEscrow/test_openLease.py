"""openLease: pulls the deposit, reserves the GPUs, locks the offer's terms; every refusal carries its values and
changes nothing."""

import brownie
import pytest

from tests.fixtures.contracts import GPU_COUNT, PRICE
from tests.fixtures.leases import L_OPEN, LEASE_ACCEPT_WINDOW, LEASE_SPEC, MAX_U64, block_time
from tests.unit.JobEscrow.conftest import at, now
from tests.unit.LeaseEscrow.conftest import err

MAX_LEASE_DURATION = 3 * 365 * 24 * 3600


@pytest.fixture
def approved(token, lease_escrow, client):
    token.approve(lease_escrow, 2**256 - 1, {"from": client})


def test_opens_and_pulls_the_deposit(lease_escrow, staking, token, staked_provider, client, approved):
    deposit = PRICE * 2 * 3600
    before = token.balanceOf(client)
    tx = lease_escrow.openLease(1, 2, PRICE, 2, 0, LEASE_SPEC, deposit, 0, {"from": client})
    ev = tx.events["LeaseOpened"]
    assert ev["leaseId"] == 1 and ev["client"] == client and ev["provider"] == staked_provider
    assert (ev["offerId"], ev["gpuCount"], ev["ratePerSecond"], ev["deposit"], ev["endTime"]) == (
        1, 2, 2 * PRICE, deposit, 0)
    assert ev["acceptBy"] == tx.timestamp + LEASE_ACCEPT_WINDOW
    assert (ev["availabilityClass"], ev["noticeSeconds"], ev["specHash"]) == (0, 0, "0x" + LEASE_SPEC.hex())
    assert token.balanceOf(client) == before - deposit
    assert token.balanceOf(lease_escrow) == deposit
    assert staking.freeGpus(1) == GPU_COUNT - 2
    assert tx.events["GpusReserved"]["reserved"] == 2
    v = lease_escrow.getLease(1).dict()
    assert v["status"] == L_OPEN and v["deposit"] == deposit and v["pricePerGpuSecond"] == PRICE
    assert v["acceptBy"] == ev["acceptBy"] and v["startedAt"] == 0 and v["collateral"] == 0
    assert lease_escrow.leaseCount() == 1


def test_acceptance_closes_before_the_end_time(lease_escrow, staked_provider, client, approved):
    end = block_time() + 100
    tx = lease_escrow.openLease(1, 1, PRICE, 2, 0, LEASE_SPEC, PRICE * 100, end, {"from": client})
    assert tx.events["LeaseOpened"]["acceptBy"] == end - 1


def test_refuses_a_max_class_above_2(lease_escrow, staked_provider, client, approved):
    with brownie.reverts(err("LeaseEscrowInvalidMaxClass(uint8)", 3)):
        lease_escrow.openLease(1, 1, PRICE, 3, 0, LEASE_SPEC, PRICE * 10, 0, {"from": client})


@pytest.mark.parametrize("offset", [0, -5, MAX_LEASE_DURATION + 1])
def test_refuses_an_end_time_outside_the_range(lease_escrow, staked_provider, client, approved, offset):
    ts = now() + 5
    with brownie.reverts(err("LeaseEscrowInvalidEndTime(uint256,uint256,uint256)", ts + offset, ts,
                             ts + MAX_LEASE_DURATION)), at(ts):
        lease_escrow.openLease(1, 1, PRICE, 2, 0, LEASE_SPEC, PRICE * 10, ts + offset, {"from": client})
    assert lease_escrow.leaseCount() == 0


@pytest.mark.parametrize("gpus,max_price", [(0, PRICE), (GPU_COUNT + 1, PRICE), (1, PRICE - 1)])
def test_refuses_an_offer_that_no_longer_fits(lease_escrow, staked_provider, client, approved, gpus, max_price):
    with brownie.reverts(err("LeaseEscrowOfferNoLongerFits(uint256,uint256,uint256,uint256,uint256)",
                             1, gpus, GPU_COUNT, max_price, PRICE)):
        lease_escrow.openLease(1, gpus, max_price, 2, 0, LEASE_SPEC, PRICE * 10, 0, {"from": client})


@pytest.mark.parametrize("klass,notice,guarantee,max_class,min_notice", [
    (1, 600, 9_000, 0, 0),  # reclaimable, client wants dedicated
    (1, 600, 9_000, 1, 601),  # notice shorter than the client's minimum
    (2, 0, 0, 1, 0),  # interruptible, client accepts up to reclaimable
])
def test_refuses_a_class_the_client_does_not_accept(lease_escrow, staking, staked_provider, client, approved,
                                                     klass, notice, guarantee, max_class, min_notice):
    staking.setOfferAvailability(1, klass, notice, guarantee, {"from": staked_provider})
    with brownie.reverts(err("LeaseEscrowClassNotAccepted(uint256,uint8,uint32,uint8,uint32)",
                             1, klass, notice, max_class, min_notice)):
        lease_escrow.openLease(1, 1, PRICE, max_class, min_notice, LEASE_SPEC, PRICE * 10, 0, {"from": client})


def test_accepts_a_reclaimable_offer_with_enough_notice(lease_escrow, staking, staked_provider, client, approved):
    staking.setOfferAvailability(1, 1, 600, 9_000, {"from": staked_provider})
    tx = lease_escrow.openLease(1, 1, PRICE, 1, 600, LEASE_SPEC, PRICE * 10, 0, {"from": client})
    ev = tx.events["LeaseOpened"]
    assert (ev["availabilityClass"], ev["noticeSeconds"]) == (1, 600)
    assert lease_escrow.getLease(1)["uptimeGuaranteeBps"] == 9_000


def test_refuses_self_dealing(lease_escrow, token, staked_provider, worker):
    for who in (staked_provider, worker):
        token.transfer(who, PRICE * 10, {"from": staked_provider}) if who != staked_provider else None
        token.approve(lease_escrow, 2**256 - 1, {"from": who})
        with brownie.reverts(err("LeaseEscrowSelfDealing(address,address,address)", who, staked_provider, worker)):
            lease_escrow.openLease(1, 1, PRICE, 2, 0, LEASE_SPEC, PRICE * 10, 0, {"from": who})


def test_refuses_a_deposit_below_one_second(lease_escrow, staked_provider, client, approved):
    with brownie.reverts(err("LeaseEscrowInvalidDeposit(uint256,uint256)", 2 * PRICE - 1, 2 * PRICE)):
        lease_escrow.openLease(1, 2, PRICE, 2, 0, LEASE_SPEC, 2 * PRICE - 1, 0, {"from": client})


def test_refuses_more_gpus_than_are_free(lease_escrow, staked_provider, client, approved, create_lease):
    create_lease(gpus=3, accept=False)
    with brownie.reverts(err("ProviderStakingCapacityExceeded(uint256,uint256,uint256,uint256)", 1, 2, 3, GPU_COUNT)):
        lease_escrow.openLease(1, 2, PRICE, 2, 0, LEASE_SPEC, PRICE * 10, 0, {"from": client})


def test_jobs_and_leases_share_the_capacity(lease_escrow, escrow, staked_provider, client, approved, token):
    token.approve(escrow, 2**256 - 1, {"from": client})
    escrow.createJob(1, 3600, block_time() + 7 * 24 * 3600, LEASE_SPEC, 3, PRICE, {"from": client})
    with brownie.reverts(err("ProviderStakingCapacityExceeded(uint256,uint256,uint256,uint256)", 1, 2, 3, GPU_COUNT)):
        lease_escrow.openLease(1, 2, PRICE, 2, 0, LEASE_SPEC, PRICE * 10, 0, {"from": client})
    lease_escrow.openLease(1, 1, PRICE, 2, 0, LEASE_SPEC, PRICE * 10, 0, {"from": client})


def test_refuses_a_paused_offer(lease_escrow, staking, staked_provider, client, approved):
    staking.pauseOffer(1, {"from": staked_provider})
    with brownie.reverts(err("ProviderStakingOfferPaused(uint256)", 1)):
        lease_escrow.openLease(1, 1, PRICE, 2, 0, LEASE_SPEC, PRICE * 10, 0, {"from": client})


def test_refuses_an_unknown_offer(lease_escrow, staked_provider, client, approved):
    with brownie.reverts(err("ProviderStakingUnknownOffer(uint256)", 9)):
        lease_escrow.openLease(9, 1, MAX_U64, 2, 0, LEASE_SPEC, PRICE * 10, 0, {"from": client})


def test_refuses_while_opening_is_paused(lease_escrow, staked_provider, client, approved, guardian):
    lease_escrow.pause({"from": guardian})
    with brownie.reverts(err("LeaseEscrowOpeningPaused()")):
        lease_escrow.openLease(1, 1, PRICE, 2, 0, LEASE_SPEC, PRICE * 10, 0, {"from": client})


def test_refuses_without_allowance(lease_escrow, staked_provider, client):
    with brownie.reverts():
        lease_escrow.openLease(1, 1, PRICE, 2, 0, LEASE_SPEC, PRICE * 10, 0, {"from": client})
    assert lease_escrow.leaseCount() == 0
