"""setParameter (hard caps, fixed per lease at opening), pauses, constructor."""

import brownie
import pytest
import rlp
from eth_utils import keccak, to_checksum_address

from tests.fixtures.contracts import PRICE
from tests.fixtures.leases import COLLATERAL_SECONDS, LEASE_PARAMS
from tests.helpers.revert import unauthorized
from tests.unit.LeaseEscrow.conftest import err

DAY = 24 * 3600
UNBONDING = 7 * DAY


def prange(param, value, lo, hi):
    return err("LeaseEscrowParameterOutOfRange(uint8,uint256,uint256,uint256)", param, value, lo, hi)


def test_constructor_sets_everything(lease_escrow, token, staking, escrow, deployer):
    assert tuple(lease_escrow.parameters()) == tuple(LEASE_PARAMS)
    assert (lease_escrow.token(), lease_escrow.staking(), lease_escrow.jobEscrow()) == (token, staking, escrow)
    assert lease_escrow.governance() == deployer
    assert staking.leaseEscrow() == lease_escrow
    assert tuple(lease_escrow.pauseState()) == (False, False)


@pytest.mark.parametrize("param,bad,lo,hi", [
    (0, 1_001, 0, 1_000), (1, 30 * DAY + 1, 0, 30 * DAY), (2, 10_001, 0, 10_000), (3, 10_001, 0, 10_000),
    (4, 3599, 3600, UNBONDING - 1), (4, UNBONDING, 3600, UNBONDING - 1), (5, 59, 60, 7 * DAY),
    (6, 7 * DAY + 1, 60, 7 * DAY), (7, 10**24 + 1, 0, 10**24),
])
def test_hard_caps(lease_escrow, deployer, param, bad, lo, hi):
    with brownie.reverts(prange(param, bad, lo, hi)):
        lease_escrow.setParameter(param, bad, {"from": deployer})


def test_unknown_parameter(lease_escrow, deployer):
    with brownie.reverts(prange(8, 1, 0, 0)):
        lease_escrow.setParameter(8, 1, {"from": deployer})


def test_constructor_checks_the_caps(LeaseEscrow, token, staking, escrow, deployer):
    bad = list(LEASE_PARAMS)
    bad[0] = 5_000
    with brownie.reverts(prange(0, 5_000, 0, 1_000)):
        LeaseEscrow.deploy(token, staking, escrow, deployer, bad, {"from": deployer})


def test_only_governance_sets(lease_escrow, rando):
    with brownie.reverts(unauthorized(rando, "governance")):
        lease_escrow.setParameter(0, 1, {"from": rando})


def test_running_leases_keep_their_parameters(lease_escrow, create_lease, staked_provider, deployer):
    old = create_lease(gpus=1, accept=False)
    tx = lease_escrow.setParameter(1, 2 * COLLATERAL_SECONDS, {"from": deployer})
    ev = tx.events["ParameterSet"]
    assert (ev["param"], ev["previous"], ev["value"]) == (1, COLLATERAL_SECONDS, 2 * COLLATERAL_SECONDS)
    new = create_lease(gpus=1, accept=False)
    assert lease_escrow.leaseParameters(old)[1] == COLLATERAL_SECONDS
    assert lease_escrow.leaseParameters(new)[1] == 2 * COLLATERAL_SECONDS
    lease_escrow.acceptLease(old, {"from": staked_provider})
    lease_escrow.acceptLease(new, {"from": staked_provider})
    assert lease_escrow.getLease(old)["collateral"] == PRICE * COLLATERAL_SECONDS
    assert lease_escrow.getLease(new)["collateral"] == 2 * PRICE * COLLATERAL_SECONDS


def test_pauses_are_the_guardians_and_governance_lifts_them(lease_escrow, guardian, deployer, rando):
    for fn in (lease_escrow.pause, lease_escrow.pauseSettlement):
        with brownie.reverts(unauthorized(deployer, "guardian")):
            fn({"from": deployer})
    for fn in (lease_escrow.unpause, lease_escrow.unpauseSettlement):
        with brownie.reverts(unauthorized(rando, "guardian")):
            fn({"from": rando})
    assert lease_escrow.pause({"from": guardian}).events["OpeningPauseSet"]["paused"] is True
    assert lease_escrow.pauseSettlement({"from": guardian}).events["SettlementPauseSet"]["paused"] is True
    assert tuple(lease_escrow.pauseState()) == (True, True)
    lease_escrow.unpause({"from": deployer})
    lease_escrow.unpauseSettlement({"from": guardian})
    assert tuple(lease_escrow.pauseState()) == (False, False)


def test_the_desk_cannot_be_driven_directly(LeaseEscrowDesk, lease_escrow, deployer, rando):
    # The desk is the lease escrow's first CREATE (nonce 1). Called directly it has its own, empty storage: its
    # governance is the escrow, so nobody can set a parameter there, and nothing of the escrow's changes.
    desk = LeaseEscrowDesk.at(to_checksum_address(keccak(rlp.encode([bytes.fromhex(lease_escrow.address[2:]), 1]))[12:]))
    assert desk.governance() == lease_escrow
    before = tuple(lease_escrow.parameters())
    with brownie.reverts(unauthorized(deployer, "governance")):
        desk.setParameter(0, 1, {"from": deployer})
    assert tuple(lease_escrow.parameters()) == before


def test_unstaking_waits_for_the_lease_dispute_window(lease_escrow, staking, deployer):
    # The staking contract's unbonding period must outlast the lease escrow's dispute window too.
    with brownie.reverts(err("ProviderStakingParameterOutOfRange(uint8,uint256,uint256,uint256)", 1,
                             lease_escrow.disputeWindow(), lease_escrow.disputeWindow() + 1, 90 * DAY)):
        staking.setParameter(1, lease_escrow.disputeWindow(), {"from": deployer})
