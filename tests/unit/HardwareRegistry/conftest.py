"""The registry over the shared suite (tests/fixtures/contracts.py): offer 1 is the staked provider's 4 x 80 GB."""

import pytest
from brownie import chain

from tests.helpers.hardware_signing import Check, hardware_domain, sign_check


@pytest.fixture(scope="module")
def registry(HardwareRegistry, escrow, staking, deployer):
    return HardwareRegistry.deploy(escrow, staking, {"from": deployer})


@pytest.fixture(scope="module")
def hdom(registry):
    return hardware_domain(chain.id, registry.address)


@pytest.fixture(scope="module")
def now():
    return lambda: chain[-1].timestamp


@pytest.fixture(scope="module")
def attest(escrow, hdom, oracle_key):
    def _attest(check: Check, keys=None, epoch=None, dom=None):
        if epoch is None:
            epoch = escrow.oracleSet()[2]
        return sign_check(check, epoch, keys or [oracle_key], dom or hdom)

    return _attest
