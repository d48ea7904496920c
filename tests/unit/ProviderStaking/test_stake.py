import brownie

from tests.fixtures.contracts import CLIENT_FUNDS, E18

from .conftest import assert_event, stake_of, typed_error


def test_stake_bonds_and_pulls_tokens(staking, token, funded, provider):
    token.approve(staking, 500 * E18, {"from": provider})
    tx = staking.stake(500 * E18, {"from": provider})

    assert_event(tx, "Staked", staking, provider=provider, amount=500 * E18, bonded=500 * E18)
    assert stake_of(staking, provider) == (500 * E18, 0, 0, False)
    assert token.balanceOf(staking) == 500 * E18
    assert token.balanceOf(provider) == CLIENT_FUNDS - 500 * E18
    assert token.allowance(provider, staking) == 0


def test_stake_accumulates(staking, token, funded, provider):
    token.approve(staking, 300 * E18, {"from": provider})
    staking.stake(100 * E18, {"from": provider})
    tx = staking.stake(200 * E18, {"from": provider})

    assert_event(tx, "Staked", staking, provider=provider, amount=200 * E18, bonded=300 * E18)
    assert staking.stakeOf(provider)[0] == 300 * E18
    assert token.balanceOf(staking) == 300 * E18


def test_stake_is_per_provider(staking, token, funded, provider, provider2):
    for who, amount in ((provider, 7 * E18), (provider2, 9 * E18)):
        token.approve(staking, amount, {"from": who})
        staking.stake(amount, {"from": who})

    assert staking.stakeOf(provider)[0] == 7 * E18
    assert staking.stakeOf(provider2)[0] == 9 * E18
    assert token.balanceOf(staking) == 16 * E18


def test_stake_does_not_touch_unbonding(staking, token, funded, provider):
    token.approve(staking, 30 * E18, {"from": provider})
    staking.stake(20 * E18, {"from": provider})
    staking.requestUnstake(5 * E18, {"from": provider})
    _, unbonding, release_at, _ = staking.stakeOf(provider)

    staking.stake(10 * E18, {"from": provider})

    assert stake_of(staking, provider) == (25 * E18, unbonding, release_at, False)


def test_stake_works_without_escrow(bare_staking, token, funded, provider):
    token.approve(bare_staking, E18, {"from": provider})
    bare_staking.stake(E18, {"from": provider})
    assert bare_staking.stakeOf(provider)[0] == E18


def test_stake_zero_reverts(staking, token, funded, provider):
    token.approve(staking, E18, {"from": provider})
    with brownie.reverts(typed_error("ProviderStakingZeroAmount()")):
        staking.stake(0, {"from": provider})
    assert stake_of(staking, provider) == (0, 0, 0, False)


def test_stake_without_allowance_reverts(staking, token, funded, provider):
    token.approve(staking, E18 - 1, {"from": provider})
    with brownie.reverts(
        typed_error("ERC20InsufficientAllowance(address,uint256,uint256)", staking, E18 - 1, E18)
    ):
        staking.stake(E18, {"from": provider})
    assert stake_of(staking, provider) == (0, 0, 0, False)
    assert token.balanceOf(provider) == CLIENT_FUNDS
    assert token.balanceOf(staking) == 0


def test_stake_more_than_balance_reverts(staking, token, funded, provider):
    token.approve(staking, CLIENT_FUNDS + 1, {"from": provider})
    with brownie.reverts(
        typed_error("ERC20InsufficientBalance(address,uint256,uint256)", provider, CLIENT_FUNDS, CLIENT_FUNDS + 1)
    ):
        staking.stake(CLIENT_FUNDS + 1, {"from": provider})
    assert stake_of(staking, provider) == (0, 0, 0, False)
    assert token.balanceOf(staking) == 0


def test_stake_beyond_uint96_reverts(ComputeToken, ProviderStaking, deployer):
    """The bonded stake is stored in 96 bits. The constructor refuses a token whose supply does not fit them
    (tests/security/test_oversized_supply.py), so with the largest supply it takes, all of it can be staked and
    no more."""
    big = ComputeToken.deploy("Big", "BIG", deployer, 2**96 - 1, {"from": deployer})
    st = ProviderStaking.deploy(big, deployer, 0, 3600, {"from": deployer})
    big.approve(st, 2**97, {"from": deployer})
    st.stake(2**96 - 1, {"from": deployer})

    # Refused before any token moves: the sum no longer fits the field (and no token is left to pull anyway).
    with brownie.reverts(typed_error("SafeCastOverflowedUintDowncast(uint8,uint256)", 96, 2**96)):
        st.stake(1, {"from": deployer})
    assert st.stakeOf(deployer)[0] == 2**96 - 1
    assert big.balanceOf(st) == 2**96 - 1
