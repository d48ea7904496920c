import brownie
import pytest

from tests.fixtures.contracts import ESCROW_PARAMS

from .conftest import HOUR, ZERO, assert_event, typed_error, unauthorized

DISPUTE_WINDOW_INDEX = 4


def deploy_escrow(JobEscrow, token, staking, deployer, guardian, arbiter, treasury, oracle, dispute_window):
    params = list(ESCROW_PARAMS)
    params[DISPUTE_WINDOW_INDEX] = dispute_window
    return JobEscrow.deploy(token, staking, deployer, guardian, arbiter, treasury, [oracle], 1, params,
                            {"from": deployer})


@pytest.fixture(scope="module")
def new_escrow(JobEscrow, token, bare_staking, deployer, guardian, arbiter, treasury, oracle):
    """A JobEscrow built against `bare_staking` (2-hour unbonding) with a 90-minute dispute window."""
    return deploy_escrow(JobEscrow, token, bare_staking, deployer, guardian, arbiter, treasury, oracle, 90 * 60)


def test_governance_names_the_escrow(bare_staking, new_escrow, deployer):
    assert bare_staking.escrow() == ZERO
    tx = bare_staking.setEscrow(new_escrow, {"from": deployer})
    assert_event(tx, "EscrowSet", bare_staking, escrow=new_escrow)
    assert bare_staking.escrow() == new_escrow


def test_an_address_without_escrow_code_is_refused(bare_staking, deployer, rando):
    """setEscrow reads the escrow's dispute window, so an account with no code (which could otherwise slash
    at will) cannot be named."""
    with brownie.reverts():
        bare_staking.setEscrow(rando, {"from": deployer})
    assert bare_staking.escrow() == ZERO


def test_zero_escrow_reverts(bare_staking, deployer):
    with brownie.reverts(typed_error("ZeroAddress()")):
        bare_staking.setEscrow(ZERO, {"from": deployer})
    assert bare_staking.escrow() == ZERO


@pytest.mark.parametrize("who", ["rando", "provider", "guardian", "arbiter"])
def test_only_governance_names_the_escrow(bare_staking, new_escrow, who, request):
    caller = request.getfixturevalue(who)
    with brownie.reverts(unauthorized(caller, "governance")):
        bare_staking.setEscrow(new_escrow, {"from": caller})
    assert bare_staking.escrow() == ZERO


def test_escrow_is_named_once(bare_staking, new_escrow, deployer, rando):
    bare_staking.setEscrow(new_escrow, {"from": deployer})
    for candidate in (rando, new_escrow):
        with brownie.reverts(typed_error("ProviderStakingEscrowAlreadySet(address)", new_escrow)):
            bare_staking.setEscrow(candidate, {"from": deployer})
    assert bare_staking.escrow() == new_escrow


def test_wired_staking_rejects_a_second_escrow(staking, escrow, deployer, rando):
    with brownie.reverts(typed_error("ProviderStakingEscrowAlreadySet(address)", escrow)):
        staking.setEscrow(rando, {"from": deployer})
    assert staking.escrow() == escrow


def test_named_escrow_enforces_its_dispute_window(bare_staking, new_escrow, deployer):
    bare_staking.setEscrow(new_escrow, {"from": deployer})
    with brownie.reverts(typed_error("ProviderStakingParameterOutOfRange(uint8,uint256,uint256,uint256)",
                                     1, 90 * 60, 90 * 60 + 1, 90 * 24 * HOUR)):
        bare_staking.setParameter(1, 90 * 60, {"from": deployer})


def test_set_escrow_keeps_unbonding_above_its_dispute_window(bare_staking, new_escrow, deployer):
    """Spec, Dispute: the unbonding period is longer than the dispute window. Before the escrow is named the
    staking contract only enforces the 1-hour floor, so governance can shorten unbonding to 1 hour after the
    escrow (90-minute window) was built; naming that escrow must then not leave unbonding <= the window."""
    bare_staking.setParameter(1, HOUR, {"from": deployer})
    window = new_escrow.parameters()[DISPUTE_WINDOW_INDEX]
    assert window == 90 * 60
    try:
        bare_staking.setEscrow(new_escrow, {"from": deployer})
    except brownie.exceptions.VirtualMachineError:
        return  # refusing the pairing keeps the invariant
    assert bare_staking.unbondingPeriod() > window, (
        f"unbonding {bare_staking.unbondingPeriod()} s <= the escrow's dispute window {window} s"
    )
