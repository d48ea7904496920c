"""createJob: deposit pulled, collateral locked, price locked; every revert path with its values."""

import brownie
import pytest

from tests.fixtures.contracts import (
    ACCEPT_WINDOW,
    COLLATERAL_BPS,
    GPU_COUNT,
    MIN_STAKE,
    PRICE,
    PROVIDER_STAKE,
)
from tests.fixtures.jobs import SPEC_HASH
from tests.helpers.limits import limits

from .conftest import (
    BPS,
    DAY,
    MAX_U32,
    ODD_GPUS,
    ODD_PRICE,
    OPEN,
    RUNNING,
    at,
    err,
    expect_event,
    now,
    paused,
    warp,
)

MAX_JOB_DURATION = 365 * DAY


@pytest.fixture(scope="module", autouse=True)
def approved(token, escrow, client, client2, staked_provider):
    token.approve(escrow, 2**256 - 1, {"from": client})
    token.approve(escrow, 2**256 - 1, {"from": client2})


def collateral_of(deposit, bps=COLLATERAL_BPS):
    return -(-deposit * bps // BPS)


def test_opens_job_pulls_deposit_and_locks_collateral(escrow, token, staking, client, staked_provider, snap):
    before = snap()
    t = now() + 10
    deadline = t + 3 * DAY
    with at(t):
        tx = escrow.createJob(1, 3600, deadline, SPEC_HASH, *limits(escrow, 1), {"from": client})
    deposit = 3600 * PRICE
    collateral = collateral_of(deposit)
    assert tx.return_value == 1
    expect_event(tx, "JobCreated", jobId=1, client=client, provider=staked_provider, offerId=1, gpuCount=GPU_COUNT,
                 pricePerGpuSecond=PRICE, maxGpuSeconds=3600, deadline=deadline, acceptBy=t + ACCEPT_WINDOW,
                 deposit=deposit, collateral=collateral, specHash=SPEC_HASH)
    expect_event(tx, "Transfer", **{"from": client, "to": escrow, "value": deposit})
    after = snap()
    assert after["balances"][0] == before["balances"][0] - deposit
    assert token.balanceOf(escrow) == deposit
    assert escrow.jobCount() == 1
    assert escrow.providerRecord(staked_provider)["lockedCollateral"] == collateral
    assert tuple(escrow.unstakeBlockers(staked_provider)) == (collateral, 0, 0, 0)
    j = escrow.getJob(1).dict()
    assert j["status"] == OPEN
    assert j["client"] == client and j["provider"] == staked_provider
    assert (j["offerId"], j["pricePerGpuSecond"], j["maxGpuSeconds"], j["gpuCount"]) == (1, PRICE, 3600, GPU_COUNT)
    assert (j["deposit"], j["collateral"], j["acceptBy"], j["deadline"]) == (deposit, collateral, t + ACCEPT_WINDOW,
                                                                             deadline)
    assert j["specHash"] == "0x" + SPEC_HASH.hex()
    # the stake itself did not move: collateral is a lock, not a transfer
    assert staking.stakeOf(staked_provider)[0] == PROVIDER_STAKE


def test_ids_count_up_and_collateral_adds_up(escrow, client, client2, staked_provider):
    d = now() + DAY
    ids = [escrow.createJob(1, 100 * (i + 1), d, SPEC_HASH, *limits(escrow, 1), {"from": c}).return_value
           for i, c in enumerate([client, client2, client])]
    assert ids == [1, 2, 3]
    assert escrow.jobCount() == 3
    assert escrow.getJob(2)["client"] == client2
    expected = sum(collateral_of(100 * (i + 1) * PRICE) for i in range(3))
    assert escrow.providerRecord(staked_provider)["lockedCollateral"] == expected


def test_accept_by_is_capped_at_the_minimum_run_time_before_the_deadline(escrow, client):
    t = now() + 10
    min_run = escrow.minRunTime()
    with at(t):
        tx = escrow.createJob(1, 10, t + min_run + 60, SPEC_HASH, *limits(escrow, 1), {"from": client})
    assert tx.events["JobCreated"]["acceptBy"] == t + 60
    assert escrow.getJob(tx.return_value)["acceptBy"] == t + 60


def test_collateral_rounds_up(escrow, client, odd_offer, staked_provider):
    # 3 GPU-seconds at 7 wei: deposit 21, 20% of it is 4.2 -> 5 locked
    tx = escrow.createJob(odd_offer, 3, now() + DAY, SPEC_HASH, *limits(escrow, odd_offer), {"from": client})
    assert tx.events["JobCreated"]["collateral"] == 5
    assert escrow.getJob(tx.return_value)["collateral"] == 5
    assert escrow.getJob(tx.return_value)["gpuCount"] == ODD_GPUS
    assert escrow.providerRecord(staked_provider)["lockedCollateral"] == 5


def test_zero_collateral_when_fraction_is_zero(escrow, client, deployer, staked_provider):
    escrow.setParameter(1, 0, {"from": deployer})
    tx = escrow.createJob(1, 3600, now() + DAY, SPEC_HASH, *limits(escrow, 1), {"from": client})
    assert tx.events["JobCreated"]["collateral"] == 0
    assert escrow.providerRecord(staked_provider)["lockedCollateral"] == 0


def test_price_is_locked_at_creation(escrow, staking, client, staked_provider):
    job_id = escrow.createJob(1, 3600, now() + DAY, SPEC_HASH, *limits(escrow, 1), {"from": client}).return_value
    staking.updateOffer(1, 8, 80, PRICE * 3, "ipfs://dearer", {"from": staked_provider})
    j = escrow.getJob(job_id)
    assert j["pricePerGpuSecond"] == PRICE and j["gpuCount"] == GPU_COUNT and j["deposit"] == 3600 * PRICE
    # a new job takes the new terms
    j2 = escrow.getJob(escrow.createJob(1, 3600, now() + DAY, SPEC_HASH, *limits(escrow, 1), {"from": client}).return_value)
    assert j2["pricePerGpuSecond"] == PRICE * 3 and j2["gpuCount"] == 8


# ---------------------------------------------------------------- reverts


@pytest.mark.parametrize("max_gpu_seconds", [0, MAX_U32 + 1, 2**256 - 1])
def test_rejects_max_gpu_seconds_out_of_range(escrow, client, snap, max_gpu_seconds):
    before = snap()
    with brownie.reverts(err("JobEscrowInvalidMaxGpuSeconds(uint256)", max_gpu_seconds)):
        escrow.createJob(1, max_gpu_seconds, now() + DAY, SPEC_HASH, *limits(escrow, 1), {"from": client})
    assert snap() == before


def test_accepts_largest_max_gpu_seconds(escrow, client, odd_offer):
    tx = escrow.createJob(odd_offer, MAX_U32, now() + DAY, SPEC_HASH, *limits(escrow, odd_offer), {"from": client})
    assert tx.events["JobCreated"]["maxGpuSeconds"] == MAX_U32
    assert escrow.getJob(tx.return_value)["deposit"] == MAX_U32 * ODD_PRICE


@pytest.mark.parametrize("offset", [0, -1, -DAY])
def test_rejects_deadline_not_in_the_future(escrow, client, snap, offset):
    before = snap()
    t = now() + 10
    with at(t), brownie.reverts(err("JobEscrowInvalidDeadline(uint256,uint256,uint256)", t + offset, t,
                                    t + MAX_JOB_DURATION)):
        escrow.createJob(1, 3600, t + offset, SPEC_HASH, *limits(escrow, 1), {"from": client})
    assert snap() == before


def test_rejects_deadline_beyond_longest_job(escrow, client, snap):
    before = snap()
    t = now() + 10
    with at(t), brownie.reverts(err("JobEscrowInvalidDeadline(uint256,uint256,uint256)", t + MAX_JOB_DURATION + 1,
                                    t, t + MAX_JOB_DURATION)):
        escrow.createJob(1, 3600, t + MAX_JOB_DURATION + 1, SPEC_HASH, *limits(escrow, 1), {"from": client})
    assert snap() == before


def test_deadline_bounds_are_inclusive(escrow, client):
    t = now() + 10
    with at(t):
        tx = escrow.createJob(1, 10, t + MAX_JOB_DURATION, SPEC_HASH, *limits(escrow, 1), {"from": client})
    assert tx.events["JobCreated"]["deadline"] == t + MAX_JOB_DURATION
    min_run = escrow.minRunTime()
    with at(t + 1):
        tx = escrow.createJob(1, 10, t + 1 + min_run, SPEC_HASH, *limits(escrow, 1), {"from": client})
    assert tx.events["JobCreated"]["deadline"] == t + 1 + min_run
    assert tx.events["JobCreated"]["acceptBy"] == t + 1  # accept now or never
    with at(t + 2), brownie.reverts(err("JobEscrowRunTimeTooShort(uint256,uint256)", t + 1 + min_run,
                                        t + 2 + min_run)):
        escrow.createJob(1, 10, t + 1 + min_run, SPEC_HASH, *limits(escrow, 1), {"from": client})


def test_rejects_unknown_offer(escrow, client, staked_provider, snap):
    before = snap()
    with brownie.reverts(err("ProviderStakingUnknownOffer(uint256)", 99)):
        escrow.createJob(99, 3600, now() + DAY, SPEC_HASH, *limits(escrow, 99), {"from": client})
    with brownie.reverts(err("ProviderStakingUnknownOffer(uint256)", 0)):
        escrow.createJob(0, 3600, now() + DAY, SPEC_HASH, *limits(escrow, 0), {"from": client})
    assert snap() == before


def test_rejects_withdrawn_offer(escrow, staking, client, staked_provider, snap):
    staking.withdrawOffer(1, {"from": staked_provider})
    before = snap()
    with brownie.reverts(err("ProviderStakingOfferInactive(uint256)", 1)):
        escrow.createJob(1, 3600, now() + DAY, SPEC_HASH, *limits(escrow, 1), {"from": client})
    assert snap() == before


def test_rejects_jailed_provider(escrow, staking, client, deployer, staked_provider, snap):
    staking.jail(staked_provider, {"from": deployer})
    before = snap()
    with brownie.reverts(err("ProviderStakingJailed(address)", staked_provider)):
        escrow.createJob(1, 3600, now() + DAY, SPEC_HASH, *limits(escrow, 1), {"from": client})
    assert snap() == before
    staking.unjail(staked_provider, {"from": deployer})
    escrow.createJob(1, 3600, now() + DAY, SPEC_HASH, *limits(escrow, 1), {"from": client})


def test_rejects_provider_below_minimum_stake(escrow, staking, client, deployer, staked_provider, snap):
    staking.setParameter(0, PROVIDER_STAKE + 1, {"from": deployer})
    before = snap()
    with brownie.reverts(err("ProviderStakingBelowMinimum(address,uint256,uint256)", staked_provider,
                             PROVIDER_STAKE, PROVIDER_STAKE + 1)):
        escrow.createJob(1, 3600, now() + DAY, SPEC_HASH, *limits(escrow, 1), {"from": client})
    assert snap() == before


def test_rejects_provider_without_worker(escrow, staking, token, client, rando, snap):
    token.approve(staking, MIN_STAKE, {"from": rando})
    staking.stake(MIN_STAKE, {"from": rando})
    offer_id = staking.addOffer("L4", 1, 24, PRICE, "ipfs://l4", {"from": rando}).return_value
    before = snap()
    with brownie.reverts(err("ProviderStakingNoWorker(address)", rando)):
        escrow.createJob(offer_id, 3600, now() + DAY, SPEC_HASH, *limits(escrow, offer_id), {"from": client})
    assert snap() == before


def test_collateral_may_use_all_free_stake_but_no_more(escrow, client, staked_provider, snap):
    full = PROVIDER_STAKE * BPS // COLLATERAL_BPS // PRICE  # deposit whose collateral is exactly the stake
    before = snap()
    with brownie.reverts(err("JobEscrowInsufficientFreeStake(address,uint256,uint256)", staked_provider,
                             PROVIDER_STAKE, collateral_of((full + 1) * PRICE))):
        escrow.createJob(1, full + 1, now() + DAY, SPEC_HASH, *limits(escrow, 1), {"from": client})
    assert snap() == before
    tx = escrow.createJob(1, full, now() + DAY, SPEC_HASH, *limits(escrow, 1), {"from": client})
    assert tx.events["JobCreated"]["collateral"] == PROVIDER_STAKE
    # nothing is free now: even the smallest job is refused
    with brownie.reverts(err("JobEscrowInsufficientFreeStake(address,uint256,uint256)", staked_provider, 0,
                             collateral_of(PRICE))):
        escrow.createJob(1, 1, now() + DAY, SPEC_HASH, *limits(escrow, 1), {"from": client})


def test_locked_collateral_reduces_free_stake(escrow, client, staked_provider):
    first = escrow.createJob(1, 10_000_000, now() + DAY, SPEC_HASH, *limits(escrow, 1), {"from": client})
    locked = first.events["JobCreated"]["collateral"]
    need = collateral_of(45_000_000 * PRICE)
    with brownie.reverts(err("JobEscrowInsufficientFreeStake(address,uint256,uint256)", staked_provider,
                             PROVIDER_STAKE - locked, need)):
        escrow.createJob(1, 45_000_000, now() + DAY, SPEC_HASH, *limits(escrow, 1), {"from": client})
    # once the first job is cancelled its collateral is free again
    escrow.cancelJob(first.return_value, {"from": client})
    escrow.createJob(1, 45_000_000, now() + DAY, SPEC_HASH, *limits(escrow, 1), {"from": client})


def test_a_ruling_leaves_the_collateral_of_other_jobs(escrow, staking, token, client, staked_provider,
                                                     deployer, arbiter, receipt, settle, job):
    # job A locks collateral, job B is disputed and upheld: the slash takes everything but A's collateral
    escrow.setParameter(7, 0, {"from": deployer})  # no dispute bond, to keep the numbers simple
    big = 40_000_000  # 40k tokens of work: collateral 8k
    b = job(max_gpu_seconds=big, deadline_in=200 * DAY)
    # A takes the 2k of free stake left, so B's settlement cannot raise its reserve: it withholds the pay beyond it.
    a = escrow.createJob(1, 10_000_000, now() + DAY, SPEC_HASH, *limits(escrow, 1), {"from": client})
    locked = a.events["JobCreated"]["collateral"]
    settle(receipt(b, gpu_seconds=big, end=escrow.getJob(b)["acceptedAt"] + big // GPU_COUNT))
    assert escrow.withheldPay(b) > 0
    escrow.dispute(b, b"\x01" * 32, {"from": client})
    escrow.resolveDispute(b, True, {"from": arbiter})
    bonded = staking.stakeOf(staked_provider)[0]
    assert bonded == locked == escrow.providerRecord(staked_provider)["lockedCollateral"]
    staking.unjail(staked_provider, {"from": deployer})
    with brownie.reverts(err("JobEscrowInsufficientFreeStake(address,uint256,uint256)", staked_provider, 0,
                             collateral_of(PRICE))):
        escrow.createJob(1, 1, now() + DAY, SPEC_HASH, *limits(escrow, 1), {"from": client})


def test_rejects_missing_allowance(escrow, token, client, snap):
    token.approve(escrow, 3600 * PRICE - 1, {"from": client})
    before = snap()
    with brownie.reverts(err("ERC20InsufficientAllowance(address,uint256,uint256)", escrow, 3600 * PRICE - 1,
                             3600 * PRICE)):
        escrow.createJob(1, 3600, now() + DAY, SPEC_HASH, *limits(escrow, 1), {"from": client})
    assert snap() == before


def test_rejects_missing_balance(escrow, token, client, rando, snap):
    balance = token.balanceOf(client)
    token.transfer(rando, balance - 3600 * PRICE + 1, {"from": client})
    before = snap()
    with brownie.reverts(err("ERC20InsufficientBalance(address,uint256,uint256)", client, 3600 * PRICE - 1,
                             3600 * PRICE)):
        escrow.createJob(1, 3600, now() + DAY, SPEC_HASH, *limits(escrow, 1), {"from": client})
    assert snap() == before


def test_rejected_while_paused(escrow, client, guardian, snap):
    escrow.pause({"from": guardian})
    before = snap()
    with brownie.reverts(paused()):
        escrow.createJob(1, 3600, now() + DAY, SPEC_HASH, *limits(escrow, 1), {"from": client})
    assert snap() == before
    escrow.unpause({"from": guardian})
    assert escrow.createJob(1, 3600, now() + DAY, SPEC_HASH, *limits(escrow, 1), {"from": client}).return_value == 1


def test_new_job_starts_open_not_running(escrow, client):
    job_id = escrow.createJob(1, 3600, now() + DAY, SPEC_HASH, *limits(escrow, 1), {"from": client}).return_value
    j = escrow.getJob(job_id)
    assert j["status"] == OPEN != RUNNING
    assert j["acceptedAt"] == 0
    warp(now() + 1)
