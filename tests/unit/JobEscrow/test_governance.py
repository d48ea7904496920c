"""Governance handoff (transferGovernance / acceptGovernance): two steps, so a typo cannot lock governance out."""

import brownie
import pytest

from .conftest import ZERO, err, expect_event, unauthorized


def test_two_step_handoff(escrow, deployer, client2):
    assert escrow.governance() == deployer and escrow.pendingGovernance() == ZERO
    tx = escrow.transferGovernance(client2, {"from": deployer})
    expect_event(tx, "GovernanceTransferStarted", current=deployer, next=client2)
    assert escrow.governance() == deployer  # nothing changes until accepted
    assert escrow.pendingGovernance() == client2
    escrow.setParameter(0, 100, {"from": deployer})  # still governs meanwhile
    tx = escrow.acceptGovernance({"from": client2})
    expect_event(tx, "GovernanceTransferred", previous=deployer, current=client2)
    assert escrow.governance() == client2 and escrow.pendingGovernance() == ZERO


def test_new_governance_governs_and_old_does_not(escrow, deployer, client2, guardian, snap):
    escrow.transferGovernance(client2, {"from": deployer})
    escrow.acceptGovernance({"from": client2})
    before = snap()
    with brownie.reverts(unauthorized(deployer, "governance")):
        escrow.setParameter(0, 0, {"from": deployer})
    with brownie.reverts(unauthorized(deployer, "governance")):
        escrow.setRole(1, deployer, {"from": deployer})
    with brownie.reverts(unauthorized(deployer, "governance")):
        escrow.setOracleSet([deployer], 1, {"from": deployer})
    with brownie.reverts(unauthorized(deployer, "governance")):
        escrow.transferGovernance(deployer, {"from": deployer})
    escrow.pause({"from": guardian})
    with brownie.reverts(unauthorized(deployer, "guardian")):
        escrow.unpause({"from": deployer})
    assert {k: v for k, v in snap().items() if k != "paused"} == {k: v for k, v in before.items() if k != "paused"}
    escrow.unpause({"from": client2})
    escrow.setParameter(0, 0, {"from": client2})
    assert escrow.parameters()[0] == 0


def test_pending_can_be_replaced(escrow, deployer, client2, rando, snap):
    escrow.transferGovernance(client2, {"from": deployer})
    tx = escrow.transferGovernance(rando, {"from": deployer})
    expect_event(tx, "GovernanceTransferStarted", current=deployer, next=rando)
    before = snap()
    with brownie.reverts(unauthorized(client2, "pendingGovernance")):
        escrow.acceptGovernance({"from": client2})
    assert snap() == before
    escrow.acceptGovernance({"from": rando})
    assert escrow.governance() == rando


def test_handoff_to_self_is_allowed(escrow, deployer):
    escrow.transferGovernance(deployer, {"from": deployer})
    tx = escrow.acceptGovernance({"from": deployer})
    expect_event(tx, "GovernanceTransferred", previous=deployer, current=deployer)
    assert escrow.pendingGovernance() == ZERO


@pytest.mark.parametrize("who", ["rando", "guardian", "arbiter", "client2"])
def test_only_governance_starts_a_handoff(escrow, rando, guardian, arbiter, client2, snap, who):
    caller = {"rando": rando, "guardian": guardian, "arbiter": arbiter, "client2": client2}[who]
    before = snap()
    with brownie.reverts(unauthorized(caller, "governance")):
        escrow.transferGovernance(caller, {"from": caller})
    assert snap() == before


def test_rejects_zero_address(escrow, deployer, snap):
    before = snap()
    with brownie.reverts(err("ZeroAddress()")):
        escrow.transferGovernance(ZERO, {"from": deployer})
    assert snap() == before


@pytest.mark.parametrize("who", ["rando", "governance"])
def test_only_the_pending_account_accepts(escrow, deployer, client2, rando, snap, who):
    escrow.transferGovernance(client2, {"from": deployer})
    caller = rando if who == "rando" else deployer
    before = snap()
    with brownie.reverts(unauthorized(caller, "pendingGovernance")):
        escrow.acceptGovernance({"from": caller})
    assert snap() == before


def test_nothing_to_accept_without_a_handoff(escrow, rando, snap):
    before = snap()
    with brownie.reverts(unauthorized(rando, "pendingGovernance")):
        escrow.acceptGovernance({"from": rando})
    assert snap() == before


def test_cannot_accept_twice(escrow, deployer, client2, snap):
    escrow.transferGovernance(client2, {"from": deployer})
    escrow.acceptGovernance({"from": client2})
    before = snap()
    with brownie.reverts(unauthorized(client2, "pendingGovernance")):
        escrow.acceptGovernance({"from": client2})
    assert snap() == before
