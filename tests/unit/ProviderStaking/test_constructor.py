import brownie

from tests.fixtures.contracts import E18

from .conftest import DAY, HOUR, ZERO, typed_error

OUT_OF_RANGE = "ProviderStakingParameterOutOfRange(uint8,uint256,uint256,uint256)"
MAX_MIN_STAKE = 10_000_000 * E18


def test_constructor_sets_everything(ProviderStaking, token, deployer, rando):
    staking = ProviderStaking.deploy(token, rando, 5 * E18, 3 * DAY, {"from": deployer})
    assert staking.token() == token
    assert staking.governance() == rando
    assert staking.pendingGovernance() == ZERO
    assert staking.minStake() == 5 * E18
    assert staking.unbondingPeriod() == 3 * DAY
    assert staking.escrow() == ZERO
    assert staking.offerCount() == 0

    tx = staking.tx
    assert [dict(e) for e in tx.events["ParameterSet"]] == [
        {"param": 0, "previous": 0, "value": 5 * E18},
        {"param": 1, "previous": 0, "value": 3 * DAY},
    ]
    assert dict(tx.events["GovernanceTransferred"]) == {"previous": ZERO, "current": rando}


def test_constructor_accepts_the_bounds(ProviderStaking, token, deployer):
    low = ProviderStaking.deploy(token, deployer, 0, HOUR, {"from": deployer})
    high = ProviderStaking.deploy(token, deployer, MAX_MIN_STAKE, 90 * DAY, {"from": deployer})
    assert (low.minStake(), low.unbondingPeriod()) == (0, HOUR)
    assert (high.minStake(), high.unbondingPeriod()) == (MAX_MIN_STAKE, 90 * DAY)


def test_zero_token_reverts(ProviderStaking, deployer):
    with brownie.reverts(typed_error("ZeroAddress()")):
        ProviderStaking.deploy(ZERO, deployer, E18, DAY, {"from": deployer})


def test_zero_governance_reverts(ProviderStaking, token, deployer):
    with brownie.reverts(typed_error("ZeroAddress()")):
        ProviderStaking.deploy(token, ZERO, E18, DAY, {"from": deployer})


def test_min_stake_above_cap_reverts(ProviderStaking, token, deployer):
    with brownie.reverts(typed_error(OUT_OF_RANGE, 0, MAX_MIN_STAKE + 1, 0, MAX_MIN_STAKE)):
        ProviderStaking.deploy(token, deployer, MAX_MIN_STAKE + 1, DAY, {"from": deployer})


def test_unbonding_below_floor_reverts(ProviderStaking, token, deployer):
    with brownie.reverts(typed_error(OUT_OF_RANGE, 1, HOUR - 1, HOUR, 90 * DAY)):
        ProviderStaking.deploy(token, deployer, E18, HOUR - 1, {"from": deployer})


def test_unbonding_above_cap_reverts(ProviderStaking, token, deployer):
    with brownie.reverts(typed_error(OUT_OF_RANGE, 1, 90 * DAY + 1, HOUR, 90 * DAY)):
        ProviderStaking.deploy(token, deployer, E18, 90 * DAY + 1, {"from": deployer})
