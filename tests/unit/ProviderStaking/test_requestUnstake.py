import brownie
from brownie import chain

from tests.fixtures.contracts import COLLATERAL_BPS, DISPUTE_WINDOW, E18, PRICE, PROVIDER_STAKE, UNBONDING_PERIOD

from .conftest import DAY, HOUR, assert_event, ints, next_block_at, now, stake_of, typed_error


def test_request_moves_bonded_to_unbonding(staking, token, bonded):
    tx = staking.requestUnstake(400 * E18, {"from": bonded})

    release_at = tx.timestamp + UNBONDING_PERIOD
    assert_event(tx, "UnstakeRequested", staking, provider=bonded, amount=400 * E18, unbonding=400 * E18,
                 releaseAt=release_at)
    assert stake_of(staking, bonded) == (PROVIDER_STAKE - 400 * E18, 400 * E18, release_at, False)
    # Nothing leaves the contract until withdraw.
    assert token.balanceOf(staking) == PROVIDER_STAKE


def test_request_whole_bond(staking, bonded):
    tx = staking.requestUnstake(PROVIDER_STAKE, {"from": bonded})
    assert stake_of(staking, bonded) == (0, PROVIDER_STAKE, tx.timestamp + UNBONDING_PERIOD, False)


def test_second_request_accumulates_and_resets_release_time(staking, bonded):
    first = staking.requestUnstake(100 * E18, {"from": bonded})
    chain.sleep(3 * DAY)
    chain.mine()

    second = staking.requestUnstake(50 * E18, {"from": bonded})

    assert second.timestamp >= first.timestamp + 3 * DAY
    release_at = second.timestamp + UNBONDING_PERIOD
    assert_event(second, "UnstakeRequested", staking, provider=bonded, amount=50 * E18, unbonding=150 * E18,
                 releaseAt=release_at)
    assert stake_of(staking, bonded) == (PROVIDER_STAKE - 150 * E18, 150 * E18, release_at, False)


def test_request_after_release_time_passed_resets_it(staking, bonded):
    staking.requestUnstake(100 * E18, {"from": bonded})
    chain.sleep(UNBONDING_PERIOD + 1)
    chain.mine()

    tx = staking.requestUnstake(E18, {"from": bonded})

    assert stake_of(staking, bonded)[1:3] == (101 * E18, tx.timestamp + UNBONDING_PERIOD)


def test_request_uses_current_unbonding_period(staking, bonded, deployer):
    staking.setParameter(1, 30 * DAY, {"from": deployer})
    tx = staking.requestUnstake(E18, {"from": bonded})
    assert stake_of(staking, bonded)[2] == tx.timestamp + 30 * DAY


def test_request_zero_reverts(staking, bonded):
    with brownie.reverts(typed_error("ProviderStakingZeroAmount()")):
        staking.requestUnstake(0, {"from": bonded})
    assert stake_of(staking, bonded) == (PROVIDER_STAKE, 0, 0, False)


def test_request_more_than_bonded_reverts(staking, bonded):
    with brownie.reverts(typed_error("ProviderStakingInsufficientFreeStake(address,uint256,uint256)",
                                     bonded, PROVIDER_STAKE, PROVIDER_STAKE + 1)):
        staking.requestUnstake(PROVIDER_STAKE + 1, {"from": bonded})
    assert stake_of(staking, bonded) == (PROVIDER_STAKE, 0, 0, False)


def test_request_without_stake_reverts(staking, escrow, rando):
    with brownie.reverts(typed_error("ProviderStakingInsufficientFreeStake(address,uint256,uint256)", rando, 0, 1)):
        staking.requestUnstake(1, {"from": rando})
    assert stake_of(staking, rando) == (0, 0, 0, False)


def test_unbonding_stake_cannot_be_requested_again(staking, bonded):
    staking.requestUnstake(PROVIDER_STAKE, {"from": bonded})
    with brownie.reverts(typed_error("ProviderStakingInsufficientFreeStake(address,uint256,uint256)", bonded, 0, 1)):
        staking.requestUnstake(1, {"from": bonded})


def test_locked_collateral_cannot_be_unstaked(staking, escrow, create_job, staked_provider):
    create_job(max_gpu_seconds=3600)
    locked = 3600 * PRICE * COLLATERAL_BPS // 10_000
    assert ints(escrow.unstakeBlockers(staked_provider))[:2] == (locked, 0)
    free = PROVIDER_STAKE - locked

    with brownie.reverts(typed_error("ProviderStakingInsufficientFreeStake(address,uint256,uint256)",
                                     staked_provider, free, free + 1)):
        staking.requestUnstake(free + 1, {"from": staked_provider})
    assert stake_of(staking, staked_provider) == (PROVIDER_STAKE, 0, 0, False)

    # Exactly the free part may go.
    staking.requestUnstake(free, {"from": staked_provider})
    assert stake_of(staking, staked_provider)[:2] == (locked, free)
    with brownie.reverts(typed_error("ProviderStakingInsufficientFreeStake(address,uint256,uint256)",
                                     staked_provider, 0, 1)):
        staking.requestUnstake(1, {"from": staked_provider})


def test_collateral_of_unaccepted_job_is_locked_too(staking, escrow, create_job, staked_provider):
    create_job(max_gpu_seconds=36_000, accept=False)
    locked = 36_000 * PRICE * COLLATERAL_BPS // 10_000
    with brownie.reverts(typed_error("ProviderStakingInsufficientFreeStake(address,uint256,uint256)",
                                     staked_provider, PROVIDER_STAKE - locked, PROVIDER_STAKE)):
        staking.requestUnstake(PROVIDER_STAKE, {"from": staked_provider})


def test_collateral_is_free_again_once_the_settled_jobs_window_closes(staking, escrow, create_job, make_receipt,
                                                                      settle, staked_provider, rando):
    job_id = create_job(max_gpu_seconds=3600)
    tx = settle(make_receipt(job_id, gpu_seconds=1000))
    # the job's dispute reserve: what it paid (more than its collateral), while free stake covers it
    reserve = max(escrow.getJob(job_id)["collateral"], 1000 * escrow.getJob(job_id)["pricePerGpuSecond"])
    assert ints(escrow.unstakeBlockers(staked_provider))[:2] == (reserve, 0)
    brownie.chain.sleep(DISPUTE_WINDOW + 1)
    brownie.chain.mine()
    assert tx.timestamp + DISPUTE_WINDOW < brownie.chain.time()
    escrow.releaseCollateral([job_id], {"from": rando})
    assert ints(escrow.unstakeBlockers(staked_provider))[:2] == (0, 0)

    staking.requestUnstake(PROVIDER_STAKE, {"from": staked_provider})
    assert stake_of(staking, staked_provider)[:2] == (0, PROVIDER_STAKE)


def test_open_dispute_window_does_not_block_request(staking, escrow, create_job, make_receipt, settle,
                                                   staked_provider):
    """A still-disputable settlement holds back withdraw, not the request to unstake."""
    job_id = create_job(max_gpu_seconds=3600)
    tx = settle(make_receipt(job_id, gpu_seconds=1000))
    assert escrow.unstakeBlockers(staked_provider)[2] > tx.timestamp
    staking.requestUnstake(E18, {"from": staked_provider})
    assert stake_of(staking, staked_provider)[1] == E18


def test_free_stake_is_zero_when_slashed_below_locked(staking, escrow, escrow_signer, create_job, staked_provider,
                                                      treasury):
    create_job(max_gpu_seconds=3600)
    locked = 3600 * PRICE * COLLATERAL_BPS // 10_000
    staking.slash(staked_provider, PROVIDER_STAKE - locked + 1, treasury, 0, {"from": escrow_signer})
    assert stake_of(staking, staked_provider)[0] == locked - 1

    with brownie.reverts(typed_error("ProviderStakingInsufficientFreeStake(address,uint256,uint256)",
                                     staked_provider, 0, 1)):
        staking.requestUnstake(1, {"from": staked_provider})


def test_open_dispute_blocks_only_what_it_can_slash(staking, escrow, disputed_job, staked_provider):
    """Issue 8, lower finding 1: the job's reserve stays locked, the rest of its slash frozen; the rest may go."""
    locked, _, _, frozen = (int(x) for x in escrow.unstakeBlockers(staked_provider))
    assert frozen == int(escrow.getJob(disputed_job)["deposit"]) - locked
    free = PROVIDER_STAKE - locked - frozen
    with brownie.reverts(typed_error("ProviderStakingInsufficientFreeStake(address,uint256,uint256)",
                                     staked_provider, free, free + 1)):
        staking.requestUnstake(free + 1, {"from": staked_provider})
    assert stake_of(staking, staked_provider) == (PROVIDER_STAKE, 0, 0, False)
    staking.requestUnstake(free, {"from": staked_provider})
    assert stake_of(staking, staked_provider)[:2] == (locked + frozen, free)


def test_request_allowed_once_dispute_resolved(staking, escrow, disputed_job, staked_provider, arbiter):
    escrow.resolveDispute(disputed_job, False, {"from": arbiter})
    tx = staking.requestUnstake(E18, {"from": staked_provider})
    assert_event(tx, "UnstakeRequested", staking, provider=staked_provider, amount=E18, unbonding=E18,
                 releaseAt=tx.timestamp + UNBONDING_PERIOD)


def test_dispute_against_another_provider_does_not_block(staking, token, disputed_job, provider2):
    token.approve(staking, E18, {"from": provider2})
    staking.stake(E18, {"from": provider2})
    staking.requestUnstake(E18, {"from": provider2})
    assert stake_of(staking, provider2)[:2] == (0, E18)


def test_jailed_provider_can_still_request(staking, bonded, deployer):
    """Jail stops new work, never unstaking."""
    staking.jail(bonded, {"from": deployer})
    tx = staking.requestUnstake(E18, {"from": bonded})
    assert stake_of(staking, bonded) == (PROVIDER_STAKE - E18, E18, tx.timestamp + UNBONDING_PERIOD, True)


def test_paused_escrow_does_not_block_request(staking, escrow, bonded, guardian):
    escrow.pause({"from": guardian})
    staking.requestUnstake(E18, {"from": bonded})
    assert stake_of(staking, bonded)[1] == E18


def test_request_without_escrow(bare_staking, token, funded, provider):
    token.approve(bare_staking, 5 * E18, {"from": provider})
    bare_staking.stake(5 * E18, {"from": provider})
    next_block_at(now() + 10)
    tx = bare_staking.requestUnstake(5 * E18, {"from": provider})
    assert stake_of(bare_staking, provider) == (0, 5 * E18, tx.timestamp + 2 * HOUR, False)
