import brownie
import pytest

from tests.fixtures.contracts import DISPUTE_WINDOW, E18, MIN_STAKE, UNBONDING_PERIOD

from .conftest import DAY, HOUR, assert_event, stake_of, typed_error, unauthorized

MAX_MIN_STAKE = 10_000_000 * E18
MAX_UNBONDING = 90 * DAY
OUT_OF_RANGE = "ProviderStakingParameterOutOfRange(uint8,uint256,uint256,uint256)"


def test_caps_are_the_documented_constants(staking):
    assert staking.MAX_MIN_STAKE() == MAX_MIN_STAKE
    assert staking.MIN_UNBONDING_PERIOD() == HOUR
    assert staking.MAX_UNBONDING_PERIOD() == MAX_UNBONDING


# ------------------------------------------------------------ 0: minimum stake


@pytest.mark.parametrize("value", [0, 1, 500 * E18, MAX_MIN_STAKE])
def test_set_min_stake(staking, escrow, deployer, value):
    tx = staking.setParameter(0, value, {"from": deployer})
    assert_event(tx, "ParameterSet", staking, param=0, previous=MIN_STAKE, value=value)
    assert staking.minStake() == value
    assert staking.unbondingPeriod() == UNBONDING_PERIOD


@pytest.mark.parametrize("value", [MAX_MIN_STAKE + 1, 2**256 - 1])
def test_min_stake_above_cap_reverts(staking, escrow, deployer, value):
    with brownie.reverts(typed_error(OUT_OF_RANGE, 0, value, 0, MAX_MIN_STAKE)):
        staking.setParameter(0, value, {"from": deployer})
    assert staking.minStake() == MIN_STAKE


def test_previous_value_is_reported(staking, escrow, deployer):
    staking.setParameter(0, 7, {"from": deployer})
    tx = staking.setParameter(0, 9, {"from": deployer})
    assert_event(tx, "ParameterSet", staking, param=0, previous=7, value=9)


# -------------------------------------------------------- 1: unbonding period


@pytest.mark.parametrize("value", [DISPUTE_WINDOW + 1, 14 * DAY, MAX_UNBONDING])
def test_set_unbonding_period(staking, escrow, deployer, value):
    tx = staking.setParameter(1, value, {"from": deployer})
    assert_event(tx, "ParameterSet", staking, param=1, previous=UNBONDING_PERIOD, value=value)
    assert staking.unbondingPeriod() == value
    assert staking.minStake() == MIN_STAKE


@pytest.mark.parametrize("value", [0, HOUR - 1, HOUR, DISPUTE_WINDOW - 1, DISPUTE_WINDOW])
def test_unbonding_not_above_dispute_window_reverts(staking, escrow, deployer, value):
    with brownie.reverts(typed_error(OUT_OF_RANGE, 1, value, DISPUTE_WINDOW + 1, MAX_UNBONDING)):
        staking.setParameter(1, value, {"from": deployer})
    assert staking.unbondingPeriod() == UNBONDING_PERIOD


@pytest.mark.parametrize("value", [MAX_UNBONDING + 1, 2**256 - 1])
def test_unbonding_above_cap_reverts(staking, escrow, deployer, value):
    with brownie.reverts(typed_error(OUT_OF_RANGE, 1, value, DISPUTE_WINDOW + 1, MAX_UNBONDING)):
        staking.setParameter(1, value, {"from": deployer})
    assert staking.unbondingPeriod() == UNBONDING_PERIOD


def test_unbonding_floor_follows_the_escrows_dispute_window(staking, escrow, deployer):
    escrow.setParameter(4, 3 * DAY, {"from": deployer})
    with brownie.reverts(typed_error(OUT_OF_RANGE, 1, 3 * DAY, 3 * DAY + 1, MAX_UNBONDING)):
        staking.setParameter(1, 3 * DAY, {"from": deployer})
    staking.setParameter(1, 3 * DAY + 1, {"from": deployer})
    assert staking.unbondingPeriod() == 3 * DAY + 1


def test_escrow_cannot_raise_its_window_to_the_unbonding_period(staking, escrow, deployer):
    """The other side of the same invariant: the dispute window stays below the unbonding period."""
    with brownie.reverts(typed_error("JobEscrowParameterOutOfRange(uint8,uint256,uint256,uint256)",
                                     4, UNBONDING_PERIOD, HOUR, UNBONDING_PERIOD - 1)):
        escrow.setParameter(4, UNBONDING_PERIOD, {"from": deployer})


def test_unbonding_floor_without_escrow_is_one_hour(bare_staking, deployer):
    with brownie.reverts(typed_error(OUT_OF_RANGE, 1, HOUR - 1, HOUR, MAX_UNBONDING)):
        bare_staking.setParameter(1, HOUR - 1, {"from": deployer})
    bare_staking.setParameter(1, HOUR, {"from": deployer})
    assert bare_staking.unbondingPeriod() == HOUR
    with brownie.reverts(typed_error(OUT_OF_RANGE, 1, MAX_UNBONDING + 1, HOUR, MAX_UNBONDING)):
        bare_staking.setParameter(1, MAX_UNBONDING + 1, {"from": deployer})


def test_new_period_does_not_move_pending_release(staking, token, bonded, deployer):
    tx = staking.requestUnstake(E18, {"from": bonded})
    staking.setParameter(1, 30 * DAY, {"from": deployer})
    assert stake_of(staking, bonded)[2] == tx.timestamp + UNBONDING_PERIOD
    later = staking.requestUnstake(E18, {"from": bonded})
    assert stake_of(staking, bonded)[2] == later.timestamp + 30 * DAY


# ------------------------------------------------------------ other params


@pytest.mark.parametrize("param", [2, 3, 255])
def test_unknown_parameter_reverts(staking, escrow, deployer, param):
    with brownie.reverts(typed_error(OUT_OF_RANGE, param, 1, 0, 0)):
        staking.setParameter(param, 1, {"from": deployer})
    assert (staking.minStake(), staking.unbondingPeriod()) == (MIN_STAKE, UNBONDING_PERIOD)


@pytest.mark.parametrize("who", ["rando", "provider", "guardian", "arbiter", "escrow_signer"])
def test_only_governance_sets_parameters(staking, escrow, who, request):
    caller = request.getfixturevalue(who)
    for param, value in ((0, 1), (1, 14 * DAY)):
        with brownie.reverts(unauthorized(caller, "governance")):
            staking.setParameter(param, value, {"from": caller})
    assert (staking.minStake(), staking.unbondingPeriod()) == (MIN_STAKE, UNBONDING_PERIOD)
