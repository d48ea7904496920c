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
    staking.slash(bonded, PROVIDER_STAKE - 600 * E18 + 250 * E18, treasury, 0, {"from": escrow_signer})
    assert stake_of(staking, bonded)[:2] == (0, 350 * E18)

    next_block_at(unbonding)
    before = token.balanceOf(bonded)
    tx = staking.withdraw({"from": bonded})
    assert_event(tx, "Withdrawn", staking, provider=bonded, amount=350 * E18)
    assert token.balanceOf(bonded) == before + 350 * E18
    assert token.balanceOf(staking) == 0


def test_fully_slashed_unbonding_leaves_nothing(staking, bonded, unbonding, escrow_signer, treasury):
    staking.slash(bonded, PROVIDER_STAKE, treasury, 0, {"from": escrow_signer})
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
                                     client, arbiter, escrow_signer):
    job_id = create_job(max_gpu_seconds=3600)
    settle(make_receipt(job_id, gpu_seconds=1000))
    tx = staking.requestUnstake(500 * E18, {"from": staked_provider})
    release_at = tx.timestamp + UNBONDING_PERIOD
    escrow.dispute(job_id, b"\x01" * 32, {"from": client})

    # The free stake covers what the dispute can slash, so only a provider short of it is held back: slash the
    # free stake away first (as an earlier ruling would) to see the unbonding stake stay.
    locked, _, _, frozen = (int(x) for x in escrow.unstakeBlockers(staked_provider))
    free = PROVIDER_STAKE - 500 * E18 - locked
    staking.slash(staked_provider, free - frozen + 1, client, locked, {"from": escrow_signer})
    next_block_at(release_at)
    with brownie.reverts(typed_error("ProviderStakingDisputeFrozen(address,uint256,uint256)", staked_provider, frozen,
                                     frozen - 1)):
        staking.withdraw({"from": staked_provider})
    assert stake_of(staking, staked_provider)[1:3] == (500 * E18, release_at)

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

    # DISPUTE_SLASH_BPS is 100% of the job's deposit: an upheld dispute must take all of it from the stake.
    slash = escrow.getJob(job_id)["deposit"]
    assert tx.events["DisputeResolved"]["slashed"] == slash, (
        f"slashed only {tx.events['DisputeResolved']['slashed']} of {slash}: the stake left during the dispute window"
    )
    assert token.balanceOf(client) >= client_before + paid


# ------------------------------------------------- settlements still open to dispute

WINDOW_OPEN = "ProviderStakingDisputeWindowOpen(address,uint256,uint256)"


@pytest.fixture
def late_settlement(staking, escrow, create_job, make_receipt, settle, staked_provider):
    """`provider` asks to unstake 500 tokens, then settles a job two hours before the release time.

    Returns (job id, releaseAt, settledAt)."""
    job_id = create_job(max_gpu_seconds=3600, deadline_in=9 * 24 * 3600)
    req = staking.requestUnstake(500 * E18, {"from": staked_provider})
    release_at = req.timestamp + UNBONDING_PERIOD
    chain.sleep(release_at - 2 * 3600 - now())
    chain.mine()
    tx = settle(make_receipt(job_id, gpu_seconds=1000))
    assert release_at - 3 * 3600 < tx.timestamp < release_at
    return job_id, release_at, tx.timestamp


def test_escrow_reports_when_the_last_settlement_stops_being_disputable(escrow, staked_provider, late_settlement):
    _, _, settled_at = late_settlement
    assert escrow.unstakeBlockers(staked_provider)[2] == settled_at + DISPUTE_WINDOW


def test_withdraw_waits_for_the_dispute_window_of_the_last_settlement(staking, token, staked_provider,
                                                                      late_settlement):
    _, release_at, settled_at = late_settlement
    until = settled_at + DISPUTE_WINDOW

    for ts in (release_at, until):
        next_block_at(ts)
        with brownie.reverts(typed_error(WINDOW_OPEN, staked_provider, until, ts)):
            staking.withdraw({"from": staked_provider})
        assert stake_of(staking, staked_provider)[1:3] == (500 * E18, release_at)

    before = token.balanceOf(staked_provider)
    next_block_at(until + 1)
    tx = staking.withdraw({"from": staked_provider})
    assert_event(tx, "Withdrawn", staking, provider=staked_provider, amount=500 * E18)
    assert token.balanceOf(staked_provider) == before + 500 * E18


def test_withdraw_boundary_matches_the_dispute_boundary(staking, escrow, staked_provider, client, late_settlement):
    """The last second a client may dispute is the last second a withdraw is refused."""
    job_id, _, settled_at = late_settlement
    until = settled_at + DISPUTE_WINDOW
    next_block_at(until + 1)
    with brownie.reverts(typed_error("JobEscrowDisputeWindowClosed(uint256,uint256,uint256)",
                                     job_id, until, until + 1)):
        escrow.dispute(job_id, b"\x01" * 32, {"from": client})
    staking.withdraw({"from": staked_provider})
    assert stake_of(staking, staked_provider)[1] == 0


def test_dispute_at_the_last_second_keeps_what_its_ruling_can_slash(staking, escrow, staked_provider, client,
                                                                     late_settlement):
    """The free stake covers the freeze, so the unbonded stake leaves; what the ruling can slash stays bonded."""
    job_id, _, settled_at = late_settlement
    until = settled_at + DISPUTE_WINDOW
    next_block_at(until)
    escrow.dispute(job_id, b"\x01" * 32, {"from": client})
    locked, _, _, frozen = (int(x) for x in escrow.unstakeBlockers(staked_provider))
    assert frozen > 0
    next_block_at(until + 1)
    tx = staking.withdraw({"from": staked_provider})
    assert_event(tx, "Withdrawn", staking, provider=staked_provider, amount=500 * E18)
    free = stake_of(staking, staked_provider)[0] - locked - frozen
    with brownie.reverts(typed_error("ProviderStakingInsufficientFreeStake(address,uint256,uint256)",
                                     staked_provider, free, free + 1)):
        staking.requestUnstake(free + 1, {"from": staked_provider})


def test_shorter_dispute_window_does_not_shorten_a_settled_jobs_window(staking, escrow, staked_provider, deployer,
                                                                        late_settlement):
    """Each job keeps the window it was opened with (second review: the current window let stake leave while an
    older job was still disputable); the provider's longest job window bounds its withdrawals."""
    _, release_at, settled_at = late_settlement
    escrow.setParameter(4, 3600, {"from": deployer})
    assert escrow.unstakeBlockers(staked_provider)[2] == settled_at + DISPUTE_WINDOW
    at = max(release_at, settled_at + 3601)
    if at <= settled_at + DISPUTE_WINDOW:
        next_block_at(at)
        with brownie.reverts(typed_error("ProviderStakingDisputeWindowOpen(address,uint256,uint256)", staked_provider,
                                         settled_at + DISPUTE_WINDOW, at)):
            staking.withdraw({"from": staked_provider})
    next_block_at(max(release_at, settled_at + DISPUTE_WINDOW + 1))
    tx = staking.withdraw({"from": staked_provider})
    assert_event(tx, "Withdrawn", staking, provider=staked_provider, amount=500 * E18)


def test_another_providers_settlement_does_not_block(staking, bonded, late_settlement):
    """provider2 unbonds alongside; only provider's own settlements hold its stake back."""
    tx = staking.requestUnstake(E18, {"from": bonded})
    next_block_at(tx.timestamp + UNBONDING_PERIOD)
    staking.withdraw({"from": bonded})
    assert stake_of(staking, bonded)[1] == 0


def test_open_dispute_does_not_lift_the_window(staking, escrow, create_job, make_receipt, settle, staked_provider,
                                               client):
    """A dispute whose freeze the free stake covers does not block withdraw, but the dispute window still does."""
    staking.requestUnstake(500 * E18, {"from": staked_provider})
    chain.sleep(UNBONDING_PERIOD)
    chain.mine()
    job_id = create_job(max_gpu_seconds=3600)
    settled_at = settle(make_receipt(job_id, gpu_seconds=1000)).timestamp
    escrow.dispute(job_id, b"\x01" * 32, {"from": client})
    ts = now() + 5
    next_block_at(ts)
    with brownie.reverts(typed_error("ProviderStakingDisputeWindowOpen(address,uint256,uint256)", staked_provider,
                                     settled_at + DISPUTE_WINDOW, ts)):
        staking.withdraw({"from": staked_provider})
