"""Local fixtures and helpers for the ProviderStaking unit tests."""

import pytest
from brownie import accounts, chain, web3

from tests.fixtures.contracts import E18, PROVIDER_STAKE
from tests.helpers.permit import permit_typed_data, sign_permit  # noqa: F401 - used by the tests
from tests.helpers.revert import assert_event, typed_error, unauthorized  # noqa: F401 - used by the tests

ZERO = "0x0000000000000000000000000000000000000000"
DAY = 24 * 3600
HOUR = 3600
MAX_UINT256 = 2**256 - 1
MAX_UINT64 = 2**64 - 1


def assert_no_event(tx, name):
    assert name not in tx.events, f"unexpected {name}: {tx.events[name]}"


def ints(values):
    """A brownie ReturnValue of integers as a plain tuple (ReturnValue == tuple raises on some types)."""
    return tuple(int(v) for v in values)


def now():
    return chain[-1].timestamp


def next_block_at(ts):
    """The next block (the next transaction) gets timestamp `ts` exactly."""
    web3.provider.make_request("evm_setNextBlockTimestamp", [int(ts)])


def stake_of(staking, who):
    """stakeOf as a plain (bonded, unbonding, releaseAt, jailed) tuple, comparable with ==."""
    bonded, unbonding, release_at, jailed = staking.stakeOf(who)
    return (int(bonded), int(unbonding), int(release_at), bool(jailed))


@pytest.fixture(scope="module")
def escrow_signer(escrow):
    """The deployed JobEscrow, impersonated so slash/jail can be called as the escrow itself."""
    web3.provider.make_request("anvil_setBalance", [escrow.address, hex(10 * E18)])
    # Impersonate explicitly every time: contract addresses repeat across modules, and brownie hands back an
    # Account it cached earlier without asking anvil again after the chain was reset.
    web3.provider.make_request("anvil_impersonateAccount", [escrow.address])
    return accounts.at(escrow.address, force=True)


@pytest.fixture
def bonded(funded, token, staking, escrow, provider2):
    """`provider2` with PROVIDER_STAKE bonded, an unlimited allowance, no worker and no offer (escrow wired).

    Function-scoped, so it is undone after each test (module-scoped chain state outlives fn_isolation).
    """
    token.approve(staking, MAX_UINT256, {"from": provider2})
    staking.stake(PROVIDER_STAKE, {"from": provider2})
    return provider2


@pytest.fixture(scope="module")
def bare_staking(ProviderStaking, token, deployer):
    """A ProviderStaking with no escrow named (1 token minimum, 2-hour unbonding)."""
    return ProviderStaking.deploy(token, deployer, E18, 2 * HOUR, {"from": deployer})


@pytest.fixture
def disputed_job(staked_provider, escrow, create_job, make_receipt, settle, client):
    """A settled job on offer 1 that the client has disputed: one open dispute against the provider."""
    job_id = create_job(max_gpu_seconds=3600)
    settle(make_receipt(job_id, gpu_seconds=1000))
    escrow.dispute(job_id, b"\x01" * 32, {"from": client})
    assert escrow.unstakeBlockers(staked_provider)[1] == 1
    return job_id


PERMIT_KEY = "0x" + "5e" * 32
OTHER_KEY = "0x" + "6f" * 32
PERMIT_FUNDS = 1_000 * E18


@pytest.fixture(scope="module")
def permit_provider(token, deployer):
    """A provider whose key we hold, with ether for gas and PERMIT_FUNDS tokens, and no allowance."""
    acct = accounts.add(PERMIT_KEY)
    deployer.transfer(acct, "10 ether")
    token.transfer(acct, PERMIT_FUNDS, {"from": deployer})
    return acct


@pytest.fixture(scope="module")
def job_on(escrow, token, staked_provider, client):
    """Open (and by default accept) a job on offer 1 for `gpus` GPUs; its id."""

    def _job(gpus=1, max_gpu_seconds=3600, accept=True):
        if token.allowance(client, escrow) < 2**255:
            token.approve(escrow, 2**256 - 1, {"from": client})
        tx = escrow.createJob(1, max_gpu_seconds, chain.time() + 7 * DAY, b"\x5a" * 32, gpus, 10**15,
                              {"from": client})
        job_id = tx.events["JobCreated"]["jobId"]
        if accept:
            escrow.acceptJob(job_id, {"from": staked_provider})
        return job_id

    return _job


@pytest.fixture(scope="module")
def receipt_for(make_receipt):
    def _r(job_id):
        return make_receipt(job_id, gpu_seconds=100)

    return _r
