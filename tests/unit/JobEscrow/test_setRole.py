"""setRole: governance names the treasury (0), guardian (1) and arbiter (2)."""

import brownie
import pytest

from .conftest import ZERO, err, expect_event, norm, unauthorized

NAMES = {0: "treasury", 1: "guardian", 2: "arbiter"}


@pytest.mark.parametrize("role", [0, 1, 2])
def test_sets_each_role(escrow, deployer, treasury, guardian, arbiter, client2, role):
    current = [treasury, guardian, arbiter]
    tx = escrow.setRole(role, client2, {"from": deployer})
    expect_event(tx, "RoleSet", role=role, previous=current[role], account=client2)
    current[role] = client2
    assert norm(tuple(escrow.roles())) == norm(tuple(current))


def test_same_account_may_hold_several_roles(escrow, deployer, client2):
    for role in (0, 1, 2):
        escrow.setRole(role, client2, {"from": deployer})
    assert norm(tuple(escrow.roles())) == norm((client2, client2, client2))
    tx = escrow.setRole(1, client2, {"from": deployer})  # setting it again is allowed and reported
    expect_event(tx, "RoleSet", role=1, previous=client2, account=client2)


def test_new_guardian_pauses_old_one_cannot(escrow, deployer, guardian, client2):
    escrow.setRole(1, client2, {"from": deployer})
    with brownie.reverts(unauthorized(guardian, "guardian")):
        escrow.pause({"from": guardian})
    escrow.pause({"from": client2})
    assert escrow.paused()


@pytest.mark.parametrize("role", [0, 1, 2, 3])
def test_rejects_zero_address(escrow, deployer, snap, role):
    before = snap()
    with brownie.reverts(err("ZeroAddress()")):
        escrow.setRole(role, ZERO, {"from": deployer})
    assert snap() == before


@pytest.mark.parametrize("role", [3, 4, 255])
def test_rejects_unknown_role(escrow, deployer, client2, snap, role):
    before = snap()
    with brownie.reverts(err("JobEscrowUnknownRole(uint8)", role)):
        escrow.setRole(role, client2, {"from": deployer})
    assert snap() == before


@pytest.mark.parametrize("who", ["rando", "guardian", "arbiter", "treasury"])
def test_only_governance(escrow, rando, guardian, arbiter, treasury, snap, who):
    caller = {"rando": rando, "guardian": guardian, "arbiter": arbiter, "treasury": treasury}[who]
    before = snap()
    for role in (0, 1, 2):
        with brownie.reverts(unauthorized(caller, "governance")):
            escrow.setRole(role, caller, {"from": caller})
    assert snap() == before
