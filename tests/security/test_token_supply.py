"""Attack (outside audit, lower 5): a token whose supply exceeds 2^96 overflows the 96-bit amount fields.

ProviderStaking adds to the unbonding amount unchecked and narrows the slash total with toUint96 (which then reverts
every later slash of that provider, claimTimeout included); the escrow keeps earnings and fees in 96 bits. Must hold:
both constructors refuse such a token (`TokenSupplyTooLarge`), and accept one of exactly 2^96 - 1.
"""

import brownie

from tests.fixtures.contracts import ESCROW_PARAMS, MIN_STAKE, UNBONDING_PERIOD

from .conftest import MAX_U96, err

TOO_LARGE = "TokenSupplyTooLarge(address,uint256,uint256)"


def test_constructors_refuse_a_token_supply_beyond_96_bits(ComputeToken, ProviderStaking, JobEscrow, staking,
                                                           deployer, guardian, arbiter, treasury, oracle):
    big = ComputeToken.deploy("Big", "BIG", deployer, MAX_U96 + 1, {"from": deployer})
    with brownie.reverts(err(TOO_LARGE, big.address, MAX_U96 + 1, MAX_U96)):
        ProviderStaking.deploy(big, deployer, MIN_STAKE, UNBONDING_PERIOD, {"from": deployer})
    with brownie.reverts(err(TOO_LARGE, big.address, MAX_U96 + 1, MAX_U96)):
        JobEscrow.deploy(big, staking, deployer, guardian, arbiter, treasury, [oracle], 1, ESCROW_PARAMS,
                         {"from": deployer})


def test_constructors_accept_a_token_supply_of_exactly_96_bits(ComputeToken, ProviderStaking, JobEscrow, deployer,
                                                              guardian, arbiter, treasury, oracle):
    edge = ComputeToken.deploy("Edge", "EDGE", deployer, MAX_U96, {"from": deployer})
    staking = ProviderStaking.deploy(edge, deployer, MIN_STAKE, UNBONDING_PERIOD, {"from": deployer})
    escrow = JobEscrow.deploy(edge, staking, deployer, guardian, arbiter, treasury, [oracle], 1, ESCROW_PARAMS,
                              {"from": deployer})
    assert escrow.token() == edge.address
