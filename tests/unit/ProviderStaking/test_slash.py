import brownie
import pytest

from tests.fixtures.contracts import E18, PROVIDER_STAKE

from .conftest import ZERO, assert_event, assert_no_event, stake_of, typed_error, unauthorized

UNBONDING = 4_000 * E18
BONDED = PROVIDER_STAKE - UNBONDING


@pytest.fixture
def split(staking, bonded):
    """provider2 with 6,000 bonded and 4,000 unbonding; returns its releaseAt."""
    staking.requestUnstake(UNBONDING, {"from": bonded})
    return stake_of(staking, bonded)[2]


def _slash(staking, escrow_signer, who, amount, recipient):
    expected = staking.slash.call(who, amount, recipient, 0, {"from": escrow_signer})
    tx = staking.slash(who, amount, recipient, 0, {"from": escrow_signer})
    assert tx.return_value == expected
    return tx


@pytest.mark.parametrize(
    "amount, after_bonded, after_unbonding",
    [
        (1, BONDED - 1, UNBONDING),
        (1_000 * E18, BONDED - 1_000 * E18, UNBONDING),
        (BONDED, 0, UNBONDING),  # all of the bonded stake, none of the unbonding
        (BONDED + 1, 0, UNBONDING - 1),  # bonded first, then unbonding
        (7_000 * E18, 0, PROVIDER_STAKE - 7_000 * E18),
        (PROVIDER_STAKE, 0, 0),
    ],
)
def test_slash_takes_bonded_then_unbonding(staking, token, bonded, split, escrow_signer, treasury,
                                          amount, after_bonded, after_unbonding):
    staking_before = token.balanceOf(staking)
    tx = _slash(staking, escrow_signer, bonded, amount, treasury)

    assert tx.return_value == amount
    assert_event(tx, "Slashed", staking, provider=bonded, requested=amount, amount=amount, recipient=treasury)
    assert_event(tx, "Transfer", token, **{"from": staking, "to": treasury, "value": amount})
    assert stake_of(staking, bonded) == (after_bonded, after_unbonding, split, False)
    assert token.balanceOf(treasury) == amount
    assert token.balanceOf(staking) == staking_before - amount
    assert staking.totalSlashedOf(bonded) == amount


@pytest.mark.parametrize("amount", [PROVIDER_STAKE + 1, 3 * PROVIDER_STAKE, 2**256 - 1])
def test_slash_never_takes_more_than_exists(staking, token, bonded, split, escrow_signer, treasury, amount):
    tx = _slash(staking, escrow_signer, bonded, amount, treasury)

    assert tx.return_value == PROVIDER_STAKE
    assert_event(tx, "Slashed", staking, provider=bonded, requested=amount, amount=PROVIDER_STAKE, recipient=treasury)
    assert stake_of(staking, bonded) == (0, 0, split, False)
    assert token.balanceOf(treasury) == PROVIDER_STAKE
    assert staking.totalSlashedOf(bonded) == PROVIDER_STAKE


def test_slash_of_nothing_returns_zero(staking, token, escrow, escrow_signer, rando, treasury):
    staking_before = token.balanceOf(staking)
    tx = _slash(staking, escrow_signer, rando, 5 * E18, treasury)
    assert tx.return_value == 0
    assert_no_event(tx, "Slashed")
    assert_no_event(tx, "Transfer")
    assert token.balanceOf(staking) == staking_before
    assert staking.totalSlashedOf(rando) == 0


def test_slash_zero_amount_returns_zero(staking, token, bonded, escrow_signer, treasury):
    tx = _slash(staking, escrow_signer, bonded, 0, treasury)
    assert tx.return_value == 0
    assert_no_event(tx, "Slashed")
    assert stake_of(staking, bonded) == (PROVIDER_STAKE, 0, 0, False)
    assert token.balanceOf(treasury) == 0


def test_total_slashed_accumulates(staking, bonded, escrow_signer, treasury, client):
    _slash(staking, escrow_signer, bonded, 3 * E18, treasury)
    _slash(staking, escrow_signer, bonded, 4 * E18, client)
    assert staking.totalSlashedOf(bonded) == 7 * E18
    assert stake_of(staking, bonded)[0] == PROVIDER_STAKE - 7 * E18


def test_slash_does_not_jail(staking, bonded, escrow_signer, treasury):
    _slash(staking, escrow_signer, bonded, E18, treasury)
    assert stake_of(staking, bonded)[3] is False


def test_slash_reaches_locked_collateral(staking, escrow, create_job, staked_provider, escrow_signer, treasury):
    create_job(max_gpu_seconds=3600)
    tx = _slash(staking, escrow_signer, staked_provider, PROVIDER_STAKE, treasury)
    assert tx.return_value == PROVIDER_STAKE
    assert stake_of(staking, staked_provider)[:2] == (0, 0)


@pytest.mark.parametrize("who", ["rando", "deployer", "provider2", "arbiter", "guardian"])
def test_only_escrow_may_slash(staking, token, bonded, escrow, who, request, treasury):
    caller = request.getfixturevalue(who)
    with brownie.reverts(unauthorized(caller, "escrow")):
        staking.slash(bonded, E18, treasury, 0, {"from": caller})
    assert stake_of(staking, bonded) == (PROVIDER_STAKE, 0, 0, False)
    assert token.balanceOf(treasury) == 0
    assert staking.totalSlashedOf(bonded) == 0


def test_nobody_may_slash_before_escrow_is_named(bare_staking, deployer, rando, treasury):
    for caller in (deployer, rando):
        with brownie.reverts(unauthorized(caller, "escrow")):
            bare_staking.slash(rando, 1, treasury, 0, {"from": caller})


def test_zero_recipient_reverts(staking, token, bonded, escrow_signer):
    with brownie.reverts(typed_error("ZeroAddress()")):
        staking.slash(bonded, E18, ZERO, 0, {"from": escrow_signer})
    assert stake_of(staking, bonded) == (PROVIDER_STAKE, 0, 0, False)
    assert staking.totalSlashedOf(bonded) == 0


def test_fraud_report_slashes_through_the_escrow(staking, escrow, token, create_job, staked_provider, arbiter):
    """The real escrow path: reportFraud slashes into the escrow and jails the provider."""
    job_id = create_job(max_gpu_seconds=3600)
    tx = escrow.reportFraud(job_id, b"\x0f" * 32, {"from": arbiter})
    slashed = tx.events["FraudReported"]["slashed"]
    assert slashed > 0
    assert_event(tx, "Slashed", staking, provider=staked_provider, requested=slashed, amount=slashed,
                 recipient=escrow)
    assert_event(tx, "Jailed", staking, provider=staked_provider)
    assert stake_of(staking, staked_provider)[0] == PROVIDER_STAKE - slashed
    assert staking.totalSlashedOf(staked_provider) == slashed


@pytest.mark.parametrize(
    "keep, amount, after_bonded, after_unbonding",
    [
        (2_000 * E18, 1_000 * E18, BONDED - 1_000 * E18, UNBONDING),  # free bonded stake covers it
        (2_000 * E18, BONDED - 2_000 * E18 + 1, 2_000 * E18, UNBONDING - 1),  # then unbonding stake
        (2_000 * E18, PROVIDER_STAKE, 2_000 * E18, 0),  # never the kept part
        (BONDED, 1, BONDED, UNBONDING - 1),
        (BONDED + 1, 1, BONDED, UNBONDING - 1),  # keeping more than is bonded keeps all of it
    ],
)
def test_slash_never_takes_the_kept_bonded_stake(staking, token, bonded, split, escrow_signer, treasury, keep,
                                                 amount, after_bonded, after_unbonding):
    tx = staking.slash(bonded, amount, treasury, keep, {"from": escrow_signer})
    taken = (BONDED - after_bonded) + (UNBONDING - after_unbonding)
    assert tx.return_value == taken
    assert stake_of(staking, bonded) == (after_bonded, after_unbonding, split, False)
    assert token.balanceOf(treasury) == taken
