"""Attack (outside audit, issue 8, lower finding 5): deploy the contracts on a token whose supply does not fit 96 bits.

The contracts keep stakes, unbonding sums, locked collateral, earnings, fees and slash totals in 96-bit fields and
rely on every token amount fitting them: ProviderStaking adds to the unbonding stake unchecked, and casts its
per-provider slash total with `toUint96`, so one slash past 2^96 would make every later slash of that provider
revert, `claimTimeout` included. With a larger supply a provider (or the clients' deposits together) can reach
those bounds.

What must hold (docs/PROTOCOL.md, "Bounds"): the constructors of ProviderStaking, JobEscrow and LeaseEscrow refuse a
token whose total supply exceeds 2^96 - 1 (the largest 96-bit value), with `<Contract>SupplyTooLarge(supply, max)`;
a token of exactly that supply is accepted. ComputeToken mints its supply once and has no mint function, so the
supply can only shrink afterwards (burn).
"""

import brownie
import pytest

from tests.fixtures.contracts import ESCROW_PARAMS, MIN_STAKE, UNBONDING_PERIOD
from tests.fixtures.leases import LEASE_PARAMS

from .conftest import MAX_U96, err

TOO_LARGE = (MAX_U96 + 1, 2**100)


@pytest.fixture(scope="module")
def fitting(ComputeToken, ProviderStaking, deployer):
    """A token of exactly the largest supply the contracts take, and a staking contract on it."""
    tok = ComputeToken.deploy("Fits", "FIT", deployer, MAX_U96, {"from": deployer})
    return tok, ProviderStaking.deploy(tok, deployer, MIN_STAKE, UNBONDING_PERIOD, {"from": deployer})


@pytest.mark.parametrize("supply", TOO_LARGE)
def test_staking_refuses_a_token_whose_supply_exceeds_96_bits(ComputeToken, ProviderStaking, deployer, supply):
    tok = ComputeToken.deploy("Over", "OVR", deployer, supply, {"from": deployer})
    with brownie.reverts(err("ProviderStakingSupplyTooLarge(uint256,uint256)", supply, MAX_U96)):
        ProviderStaking.deploy(tok, deployer, MIN_STAKE, UNBONDING_PERIOD, {"from": deployer})


@pytest.mark.parametrize("supply", TOO_LARGE)
def test_job_escrow_refuses_a_token_whose_supply_exceeds_96_bits(ComputeToken, JobEscrow, deployer, guardian, arbiter,
                                                                  treasury, oracle, fitting, supply):
    tok = ComputeToken.deploy("Over", "OVR", deployer, supply, {"from": deployer})
    with brownie.reverts(err("JobEscrowSupplyTooLarge(uint256,uint256)", supply, MAX_U96)):
        JobEscrow.deploy(tok, fitting[1], deployer, guardian, arbiter, treasury, [oracle], 1, ESCROW_PARAMS,
                         {"from": deployer})


@pytest.mark.parametrize("supply", TOO_LARGE)
def test_lease_escrow_refuses_a_token_whose_supply_exceeds_96_bits(ComputeToken, JobEscrow, LeaseEscrow, deployer,
                                                                    guardian, arbiter, treasury, oracle, fitting,
                                                                    supply):
    tok = ComputeToken.deploy("Over", "OVR", deployer, supply, {"from": deployer})
    jobs = JobEscrow.deploy(fitting[0], fitting[1], deployer, guardian, arbiter, treasury, [oracle], 1, ESCROW_PARAMS,
                            {"from": deployer})
    with brownie.reverts(err("LeaseEscrowSupplyTooLarge(uint256,uint256)", supply, MAX_U96)):
        LeaseEscrow.deploy(tok, fitting[1], jobs, deployer, LEASE_PARAMS, {"from": deployer})


def test_a_token_of_exactly_the_largest_supply_is_accepted_and_all_of_it_can_be_staked(
        JobEscrow, LeaseEscrow, deployer, guardian, arbiter, treasury, oracle, fitting):
    tok, staking = fitting
    jobs = JobEscrow.deploy(tok, staking, deployer, guardian, arbiter, treasury, [oracle], 1, ESCROW_PARAMS,
                            {"from": deployer})
    LeaseEscrow.deploy(tok, staking, jobs, deployer, LEASE_PARAMS, {"from": deployer})
    tok.approve(staking, MAX_U96, {"from": deployer})
    staking.stake(MAX_U96, {"from": deployer})
    assert staking.stakeOf(deployer)[0] == MAX_U96 == tok.balanceOf(staking)
