import brownie
import pytest

from .conftest import assert_event, stake_of, typed_error, unauthorized


@pytest.fixture
def jailed(staking, staked_provider, deployer):
    staking.jail(staked_provider, {"from": deployer})
    return staked_provider


def test_governance_unjails(staking, jailed, deployer):
    tx = staking.unjail(jailed, {"from": deployer})
    assert_event(tx, "Unjailed", staking, provider=jailed)
    assert stake_of(staking, jailed)[3] is False


def test_unjailed_provider_takes_jobs_again(staking, jailed, deployer):
    with brownie.reverts(typed_error("ProviderStakingJailed(address)", jailed)):
        staking.jobTerms(1)
    staking.unjail(jailed, {"from": deployer})
    assert staking.jobTerms(1)["provider"] == jailed


def test_unjail_not_jailed_reverts(staking, staked_provider, deployer, rando):
    for who in (staked_provider, rando):
        with brownie.reverts(typed_error("ProviderStakingNotJailed(address)", who)):
            staking.unjail(who, {"from": deployer})


def test_unjail_twice_reverts(staking, jailed, deployer):
    staking.unjail(jailed, {"from": deployer})
    with brownie.reverts(typed_error("ProviderStakingNotJailed(address)", jailed)):
        staking.unjail(jailed, {"from": deployer})


@pytest.mark.parametrize("who", ["rando", "arbiter", "guardian", "escrow_signer"])
def test_only_governance_unjails(staking, jailed, who, request):
    caller = request.getfixturevalue(who)
    with brownie.reverts(unauthorized(caller, "governance")):
        staking.unjail(jailed, {"from": caller})
    assert stake_of(staking, jailed)[3] is True


def test_provider_cannot_unjail_itself(staking, jailed):
    with brownie.reverts(unauthorized(jailed, "governance")):
        staking.unjail(jailed, {"from": jailed})
    assert stake_of(staking, jailed)[3] is True
