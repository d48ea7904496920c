import brownie
import pytest
from brownie import chain

from tests.fixtures.contracts import DISPUTE_WINDOW, E18, PRICE, PROVIDER_STAKE, UNBONDING_PERIOD

from .conftest import assert_event, next_block_at, now, stake_of, typed_error


@pytest.fixture
def unbonding(staking, bonded):
    """`bonded` (provider2) has 600 tokens unbonding; returns their release time."""
    tx = staking.requestUnstake(600 * E18, {"from": bonded})
    return tx.timestamp + UNBONDING_PERIOD


def test_withdraw_at_release_time(staking, token, bonded, unbonding):
    before = token.balanceOf(bonded)
    next_block_at(unbonding)
    tx = staking.withdraw({"from": bonded})

    assert tx.timestamp == unbonding
    assert_event(tx, "Withdrawn", staking, provider=bonded, amount=600 * E18)
    assert_event(tx, "Transfer", token, **{"from": staking, "to": bonded, "value": 600 * E18})
    assert stake_of(staking, bonded) == (PROVIDER_STAKE - 600 * E18, 0, 0, False)
    assert token.balanceOf(bonded) == before + 600 * E18
    assert token.balanceOf(staking) == PROVIDER_STAKE - 600 * E18


def test_withdraw_one_second_early_reverts(staking, token, bonded, unbonding):
    next_block_at(unbonding - 1)
    with brownie.reverts(typed_error("ProviderStakingStillUnbonding(address,uint256,uint256)",
                                     bonded, unbonding, unbonding - 1)):
        staking.withdraw({"from": bonded})
    assert stake_of(staking, bonded) == (PROVIDER_STAKE - 600 * E18, 600 * E18, unbonding, False)
    assert token.balanceOf(staking) == PROVIDER_STAKE


def test_withdraw_right_after_request_reverts(staking, bonded, unbonding):
    ts = now() + 1
    next_block_at(ts)
    with brownie.reverts(typed_error("ProviderStakingStillUnbonding(address,uint256,uint256)", bonded, unbonding, ts)):
        staking.withdraw({"from": bonded})


def test_withdraw_long_after_release(staking, token, bonded, unbonding):
    chain.sleep(10 * UNBONDING_PERIOD)
    chain.mine()
    tx = staking.withdraw({"from": bonded})
    assert_event(tx, "Withdrawn", staking, provider=bonded, amount=600 * E18)
    assert stake_of(staking, bonded)[1:] == (0, 0, False)


def test_new_request_postpones_the_whole_balance(staking, token, bonded, unbonding):
    """The release time of all unbonding stake resets on each request."""
    next_block_at(unbonding - 100)
    second = staking.requestUnstake(E18, {"from": bonded})
    new_release = second.timestamp + UNBONDING_PERIOD

    next_block_at(unbonding)
    with brownie.reverts(typed_error("ProviderStakingStillUnbonding(address,uint256,uint256)",
                                     bonded, new_release, unbonding)):
        staking.withdraw({"from": bonded})

    next_block_at(new_release)
    tx = staking.withdraw({"from": bonded})
    assert_event(tx, "Withdrawn", staking, provider=bonded, amount=601 * E18)


def test_nothing_to_withdraw_reverts(staking, bonded):
    with brownie.reverts(typed_error("ProviderStakingNothingToWithdraw(address)", bonded)):
        staking.withdraw({"from": bonded})
    assert stake_of(staking, bonded) == (PROVIDER_STAKE, 0, 0, False)


def test_stranger_has_nothing_to_withdraw(staking, escrow, rando):
    with brownie.reverts(typed_error("ProviderStakingNothingToWithdraw(address)", rando)):
        staking.withdraw({"from": rando})


def test_second_withdraw_reverts(staking, bonded, unbonding):
    next_block_at(unbonding)
    staking.withdraw({"from": bonded})
    with brownie.reverts(typed_error("ProviderStakingNothingToWithdraw(address)", bonded)):
        staking.withdraw({"from": bonded})


def test_withdraw_pays_what_is_left_after_a_slash(staking, token, bonded, unbonding, escrow_signer, treasury):
    staking.slash(bonded, PROVIDER_STAKE - 600 * E18 + 250 * E18, treasury, {"from": escrow_signer})
    assert stake_of(staking, bonded)[:2] == (0, 350 * E18)

    next_block_at(unbonding)
    before = token.balanceOf(bonded)
    tx = staking.withdraw({"from": bonded})
    assert_event(tx, "Withdrawn", staking, provider=bonded, amount=350 * E18)
    assert token.balanceOf(bonded) == before + 350 * E18
    assert token.balanceOf(staking) == 0


def test_fully_slashed_unbonding_leaves_nothing(staking, bonded, unbonding, escrow_signer, treasury):
    staking.slash(bonded, PROVIDER_STAKE, treasury, {"from": escrow_signer})
    next_block_at(unbonding)
    with brownie.reverts(typed_error("ProviderStakingNothingToWithdraw(address)", bonded)):
        staking.withdraw({"from": bonded})


def test_jailed_provider_can_withdraw(staking, bonded, unbonding, deployer):
    staking.jail(bonded, {"from": deployer})
    next_block_at(unbonding)
    tx = staking.withdraw({"from": bonded})
    assert_event(tx, "Withdrawn", staking, provider=bonded, amount=600 * E18)


def test_paused_escrow_does_not_block_withdraw(staking, escrow, bonded, unbonding, guardian):
    escrow.pause({"from": guardian})
    next_block_at(unbonding)
    tx = staking.withdraw({"from": bonded})
    assert_event(tx, "Withdrawn", staking, provider=bonded, amount=600 * E18)


def test_open_dispute_blocks_withdraw(staking, token, escrow, create_job, make_receipt, settle, staked_provider,
                                     client, arbiter):
    job_id = create_job(max_gpu_seconds=3600)
    settle(make_receipt(job_id, gpu_seconds=1000))
    tx = staking.requestUnstake(500 * E18, {"from": staked_provider})
    release_at = tx.timestamp + UNBONDING_PERIOD
    escrow.dispute(job_id, b"\x01" * 32, {"from": client})

    next_block_at(release_at)
    with brownie.reverts(typed_error("ProviderStakingOpenDisputes(address,uint256)", staked_provider, 1)):
        staking.withdraw({"from": staked_provider})
    assert stake_of(staking, staked_provider)[:3] == (PROVIDER_STAKE - 500 * E18, 500 * E18, release_at)

    escrow.resolveDispute(job_id, False, {"from": arbiter})
    before = token.balanceOf(staked_provider)
    tx = staking.withdraw({"from": staked_provider})
    assert_event(tx, "Withdrawn", staking, provider=staked_provider, amount=500 * E18)
    assert token.balanceOf(staked_provider) == before + 500 * E18


def test_withdraw_before_release_reports_unbonding_before_disputes(staking, escrow, create_job, make_receipt, settle,
                                                                   staked_provider, client):
    job_id = create_job(max_gpu_seconds=3600)
    settle(make_receipt(job_id, gpu_seconds=1000))
    tx = staking.requestUnstake(500 * E18, {"from": staked_provider})
    escrow.dispute(job_id, b"\x01" * 32, {"from": client})
    ts = now() + 1
    next_block_at(ts)
    with brownie.reverts(typed_error("ProviderStakingStillUnbonding(address,uint256,uint256)",
                                     staked_provider, tx.timestamp + UNBONDING_PERIOD, ts)):
        staking.withdraw({"from": staked_provider})


def test_withdraw_without_escrow(bare_staking, token, funded, provider):
    start = token.balanceOf(provider)
    token.approve(bare_staking, 5 * E18, {"from": provider})
    bare_staking.stake(5 * E18, {"from": provider})
    tx = bare_staking.requestUnstake(5 * E18, {"from": provider})
    next_block_at(tx.timestamp + bare_staking.unbondingPeriod())
    bare_staking.withdraw({"from": provider})
    assert token.balanceOf(provider) == start
    assert stake_of(bare_staking, provider) == (0, 0, 0, False)


def test_unbonding_cannot_escape_a_dispute_on_a_job_settled_while_unbonding(
    staking, token, escrow, create_job, make_receipt, settle, staked_provider, client, arbiter
):
    """Spec, Dispute: "the unbonding period is longer than the dispute window, so a provider cannot unstake
    its way out of a dispute". A provider that asks to unstake, then settles a job near the end of its
    unbonding period, must still answer a dispute raised inside that job's dispute window."""
    job_id = create_job(max_gpu_seconds=3600, deadline_in=9 * 24 * 3600)
    locked = escrow.unstakeBlockers(staked_provider)[0]
    req = staking.requestUnstake(PROVIDER_STAKE - locked, {"from": staked_provider})
    release_at = req.timestamp + UNBONDING_PERIOD

    # The job settles two hours before the release time; its dispute window runs a day past it.
    next_block_at(release_at - 2 * 3600)
    receipt = make_receipt(job_id, gpu_seconds=1000)
    settled = settle(receipt)
    assert settled.timestamp + DISPUTE_WINDOW > release_at
    paid = 1000 * PRICE

    next_block_at(release_at)
    try:
        staking.withdraw({"from": staked_provider})
    except brownie.exceptions.VirtualMachineError:
        pass  # refusing the withdrawal is one way to keep the promise

    client_before = token.balanceOf(client)
    escrow.dispute(job_id, b"\x02" * 32, {"from": client})
    tx = escrow.resolveDispute(job_id, True, {"from": arbiter})

    # DISPUTE_SLASH_BPS is 100%: an upheld dispute must take the whole payment from the provider's stake.
    assert tx.events["DisputeResolved"]["slashed"] == paid, (
        f"slashed only {tx.events['DisputeResolved']['slashed']} of {paid}: the stake left during the dispute window"
    )
    assert token.balanceOf(client) >= client_before + paid
