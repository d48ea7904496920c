import brownie
import pytest

from tests.fixtures.contracts import PROVIDER_STAKE

from .conftest import assert_event, assert_no_event, stake_of, typed_error, unauthorized


def test_escrow_can_jail(staking, bonded, escrow_signer):
    tx = staking.jail(bonded, {"from": escrow_signer})
    assert_event(tx, "Jailed", staking, provider=bonded)
    assert stake_of(staking, bonded) == (PROVIDER_STAKE, 0, 0, True)


def test_governance_can_jail(staking, bonded, deployer):
    tx = staking.jail(bonded, {"from": deployer})
    assert_event(tx, "Jailed", staking, provider=bonded)
    assert stake_of(staking, bonded)[3] is True


def test_governance_can_jail_before_escrow_is_named(bare_staking, deployer, rando):
    tx = bare_staking.jail(rando, {"from": deployer})
    assert_event(tx, "Jailed", bare_staking, provider=rando)
    assert bare_staking.stakeOf(rando)[3] is True


def test_jail_any_address(staking, escrow, deployer, rando):
    staking.jail(rando, {"from": deployer})
    assert stake_of(staking, rando) == (0, 0, 0, True)


def test_jail_twice_is_a_no_op(staking, bonded, deployer, escrow_signer):
    staking.jail(bonded, {"from": deployer})
    tx = staking.jail(bonded, {"from": escrow_signer})
    assert_no_event(tx, "Jailed")
    assert stake_of(staking, bonded)[3] is True


@pytest.mark.parametrize("who", ["rando", "provider2", "arbiter", "guardian", "treasury", "worker"])
def test_others_cannot_jail(staking, bonded, escrow, who, request):
    caller = request.getfixturevalue(who)
    with brownie.reverts(unauthorized(caller, "escrowOrGovernance")):
        staking.jail(bonded, {"from": caller})
    assert stake_of(staking, bonded)[3] is False


def test_provider_cannot_jail_a_rival(staking, bonded, staked_provider):
    with brownie.reverts(unauthorized(staked_provider, "escrowOrGovernance")):
        staking.jail(bonded, {"from": staked_provider})


def test_jail_stops_new_jobs_but_keeps_stake(staking, escrow, staked_provider, deployer, client):
    staking.jail(staked_provider, {"from": deployer})
    assert stake_of(staking, staked_provider)[:2] == (PROVIDER_STAKE, 0)
    with brownie.reverts(typed_error("ProviderStakingJailed(address)", staked_provider)):
        staking.jobTerms(1)
