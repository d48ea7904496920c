import brownie

from tests.fixtures.contracts import E18

from .conftest import (
    OTHER_KEY,
    PERMIT_FUNDS,
    PERMIT_KEY,
    assert_event,
    now,
    sign_permit,
    stake_of,
    typed_error,
)

AMOUNT = 250 * E18


def test_stake_with_permit_bonds_without_prior_approve(staking, token, permit_provider):
    deadline = now() + 3600
    v, r, s = sign_permit(token, PERMIT_KEY, permit_provider, staking, AMOUNT, deadline)

    tx = staking.stakeWithPermit(AMOUNT, deadline, v, r, s, {"from": permit_provider})

    assert_event(tx, "Staked", staking, provider=permit_provider, amount=AMOUNT, bonded=AMOUNT)
    assert_event(tx, "Approval", token, owner=permit_provider, spender=staking, value=AMOUNT)
    assert stake_of(staking, permit_provider) == (AMOUNT, 0, 0, False)
    assert token.balanceOf(staking) == AMOUNT
    assert token.balanceOf(permit_provider) == PERMIT_FUNDS - AMOUNT
    assert token.allowance(permit_provider, staking) == 0
    assert token.nonces(permit_provider) == 1


def test_stake_with_permit_zero_amount_reverts(staking, token, permit_provider):
    deadline = now() + 3600
    v, r, s = sign_permit(token, PERMIT_KEY, permit_provider, staking, 0, deadline)
    with brownie.reverts(typed_error("ProviderStakingZeroAmount()")):
        staking.stakeWithPermit(0, deadline, v, r, s, {"from": permit_provider})
    assert token.nonces(permit_provider) == 0
    assert stake_of(staking, permit_provider) == (0, 0, 0, False)


def test_expired_permit_without_allowance_reverts(staking, token, permit_provider):
    deadline = now() + 100
    v, r, s = sign_permit(token, PERMIT_KEY, permit_provider, staking, AMOUNT, deadline)
    brownie.chain.sleep(200)
    brownie.chain.mine()

    with brownie.reverts(typed_error("ERC20InsufficientAllowance(address,uint256,uint256)", staking, 0, AMOUNT)):
        staking.stakeWithPermit(AMOUNT, deadline, v, r, s, {"from": permit_provider})
    assert token.nonces(permit_provider) == 0
    assert token.balanceOf(permit_provider) == PERMIT_FUNDS
    assert stake_of(staking, permit_provider) == (0, 0, 0, False)


def test_permit_signed_by_another_key_reverts(staking, token, permit_provider):
    deadline = now() + 3600
    v, r, s = sign_permit(token, OTHER_KEY, permit_provider, staking, AMOUNT, deadline)

    with brownie.reverts(typed_error("ERC20InsufficientAllowance(address,uint256,uint256)", staking, 0, AMOUNT)):
        staking.stakeWithPermit(AMOUNT, deadline, v, r, s, {"from": permit_provider})
    assert token.allowance(permit_provider, staking) == 0
    assert stake_of(staking, permit_provider) == (0, 0, 0, False)


def test_permit_for_a_smaller_amount_reverts(staking, token, permit_provider):
    """The permit is checked for exactly `amount`: a signature over a smaller value does not verify."""
    deadline = now() + 3600
    v, r, s = sign_permit(token, PERMIT_KEY, permit_provider, staking, AMOUNT - 1, deadline)

    with brownie.reverts(typed_error("ERC20InsufficientAllowance(address,uint256,uint256)", staking, 0, AMOUNT)):
        staking.stakeWithPermit(AMOUNT, deadline, v, r, s, {"from": permit_provider})
    assert stake_of(staking, permit_provider) == (0, 0, 0, False)


def test_permit_cannot_be_used_by_someone_else(staking, token, permit_provider, provider, funded):
    """A permit names its owner; another caller using it stakes nothing from the owner."""
    deadline = now() + 3600
    v, r, s = sign_permit(token, PERMIT_KEY, permit_provider, staking, AMOUNT, deadline)

    with brownie.reverts(typed_error("ERC20InsufficientAllowance(address,uint256,uint256)", staking, 0, AMOUNT)):
        staking.stakeWithPermit(AMOUNT, deadline, v, r, s, {"from": provider})
    assert token.allowance(permit_provider, staking) == 0
    assert stake_of(staking, provider) == (0, 0, 0, False)


def test_replayed_permit_reverts(staking, token, permit_provider):
    deadline = now() + 3600
    v, r, s = sign_permit(token, PERMIT_KEY, permit_provider, staking, AMOUNT, deadline)
    staking.stakeWithPermit(AMOUNT, deadline, v, r, s, {"from": permit_provider})

    with brownie.reverts(typed_error("ERC20InsufficientAllowance(address,uint256,uint256)", staking, 0, AMOUNT)):
        staking.stakeWithPermit(AMOUNT, deadline, v, r, s, {"from": permit_provider})
    assert stake_of(staking, permit_provider) == (AMOUNT, 0, 0, False)
    assert token.nonces(permit_provider) == 1


def test_front_run_permit_still_stakes(staking, token, permit_provider, rando):
    """Someone submits the permit first: the allowance it set is used and the stake goes through."""
    deadline = now() + 3600
    v, r, s = sign_permit(token, PERMIT_KEY, permit_provider, staking, AMOUNT, deadline)
    token.permit(permit_provider, staking, AMOUNT, deadline, v, r, s, {"from": rando})

    tx = staking.stakeWithPermit(AMOUNT, deadline, v, r, s, {"from": permit_provider})

    assert_event(tx, "Staked", staking, provider=permit_provider, amount=AMOUNT, bonded=AMOUNT)
    assert stake_of(staking, permit_provider) == (AMOUNT, 0, 0, False)
    assert token.allowance(permit_provider, staking) == 0


def test_bad_permit_with_existing_allowance_stakes(staking, token, permit_provider):
    """A failing permit is ignored when an ordinary allowance already covers the amount."""
    token.approve(staking, AMOUNT, {"from": permit_provider})
    deadline = now() + 3600
    v, r, s = sign_permit(token, OTHER_KEY, permit_provider, staking, AMOUNT, deadline)

    tx = staking.stakeWithPermit(AMOUNT, deadline, v, r, s, {"from": permit_provider})

    assert_event(tx, "Staked", staking, provider=permit_provider, amount=AMOUNT, bonded=AMOUNT)
    assert token.nonces(permit_provider) == 0
