"""transferGovernance / acceptGovernance (Governed) on ProviderStaking."""

import brownie
import pytest

from tests.fixtures.contracts import MIN_STAKE

from .conftest import ZERO, assert_event, typed_error, unauthorized


def test_initial_governance(staking, deployer):
    assert staking.governance() == deployer
    assert staking.pendingGovernance() == ZERO


def test_transfer_starts_handoff(staking, deployer, rando):
    tx = staking.transferGovernance(rando, {"from": deployer})
    assert_event(tx, "GovernanceTransferStarted", staking, current=deployer, next=rando)
    assert staking.pendingGovernance() == rando
    # Nothing changes until the next governance accepts.
    assert staking.governance() == deployer
    staking.setParameter(0, 1, {"from": deployer})
    with brownie.reverts(unauthorized(rando, "governance")):
        staking.setParameter(0, 2, {"from": rando})


def test_accept_completes_handoff(staking, deployer, rando):
    staking.transferGovernance(rando, {"from": deployer})
    tx = staking.acceptGovernance({"from": rando})

    assert_event(tx, "GovernanceTransferred", staking, previous=deployer, current=rando)
    assert staking.governance() == rando
    assert staking.pendingGovernance() == ZERO
    staking.setParameter(0, 5, {"from": rando})
    assert staking.minStake() == 5
    with brownie.reverts(unauthorized(deployer, "governance")):
        staking.setParameter(0, 6, {"from": deployer})


def test_new_governance_takes_the_jail_keys(staking, escrow, deployer, rando, provider2):
    staking.transferGovernance(rando, {"from": deployer})
    staking.acceptGovernance({"from": rando})
    with brownie.reverts(unauthorized(deployer, "escrowOrGovernance")):
        staking.jail(provider2, {"from": deployer})
    staking.jail(provider2, {"from": rando})
    with brownie.reverts(unauthorized(deployer, "governance")):
        staking.unjail(provider2, {"from": deployer})
    staking.unjail(provider2, {"from": rando})


@pytest.mark.parametrize("who", ["rando", "provider", "guardian"])
def test_only_governance_transfers(staking, deployer, who, request):
    caller = request.getfixturevalue(who)
    with brownie.reverts(unauthorized(caller, "governance")):
        staking.transferGovernance(caller, {"from": caller})
    assert staking.pendingGovernance() == ZERO
    assert staking.governance() == deployer


def test_transfer_to_zero_reverts(staking, deployer, rando):
    staking.transferGovernance(rando, {"from": deployer})
    with brownie.reverts(typed_error("ZeroAddress()")):
        staking.transferGovernance(ZERO, {"from": deployer})
    assert staking.pendingGovernance() == rando


def test_accept_by_other_reverts(staking, deployer, rando, provider):
    staking.transferGovernance(rando, {"from": deployer})
    for caller in (provider, deployer):
        with brownie.reverts(unauthorized(caller, "pendingGovernance")):
            staking.acceptGovernance({"from": caller})
    assert staking.governance() == deployer
    assert staking.pendingGovernance() == rando


def test_accept_without_pending_reverts(staking, deployer, rando):
    with brownie.reverts(unauthorized(rando, "pendingGovernance")):
        staking.acceptGovernance({"from": rando})
    assert staking.governance() == deployer


def test_accept_twice_reverts(staking, deployer, rando):
    staking.transferGovernance(rando, {"from": deployer})
    staking.acceptGovernance({"from": rando})
    with brownie.reverts(unauthorized(rando, "pendingGovernance")):
        staking.acceptGovernance({"from": rando})
    assert staking.governance() == rando


def test_second_transfer_replaces_the_first(staking, deployer, rando, provider):
    staking.transferGovernance(rando, {"from": deployer})
    tx = staking.transferGovernance(provider, {"from": deployer})
    assert_event(tx, "GovernanceTransferStarted", staking, current=deployer, next=provider)
    with brownie.reverts(unauthorized(rando, "pendingGovernance")):
        staking.acceptGovernance({"from": rando})
    staking.acceptGovernance({"from": provider})
    assert staking.governance() == provider


def test_handoff_can_go_back(staking, deployer, rando):
    staking.transferGovernance(rando, {"from": deployer})
    staking.acceptGovernance({"from": rando})
    staking.transferGovernance(deployer, {"from": rando})
    tx = staking.acceptGovernance({"from": deployer})
    assert_event(tx, "GovernanceTransferred", staking, previous=rando, current=deployer)
    assert staking.minStake() == MIN_STAKE
