"""The constructor: wiring, initial parameters inside their caps, the first oracle set (epoch 1), and every way
a deployment is refused."""

import brownie
import pytest

from tests.fixtures.contracts import ESCROW_DEFAULTS, ESCROW_PARAMS, ESCROW_PARAMS_DEPLOYED, UNBONDING_PERIOD

from .conftest import ZERO, addr_of, err, events, norm, param_range

E18 = 10**18
CAPS = [(0, 0, 1_000), (1, 0, 10_000), (2, 0, 10_000), (3, 0, 10_000), (4, 3600, UNBONDING_PERIOD - 1),
        (5, 60, 7 * 86400), (6, 300, 7 * 86400), (7, 0, 1_000_000 * E18)]


@pytest.fixture(scope="module")
def deploy(JobEscrow, token, staking, deployer, guardian, arbiter, treasury, oracle):
    def _deploy(**kw):
        args = dict(token=token, staking=staking, governance=deployer, guardian=guardian, arbiter=arbiter,
                    treasury=treasury, oracles=[oracle], threshold=1, params=list(ESCROW_PARAMS))
        args.update(kw)
        return JobEscrow.deploy(args["token"], args["staking"], args["governance"], args["guardian"], args["arbiter"],
                                args["treasury"], args["oracles"], args["threshold"], args["params"],
                                {"from": deployer})

    return _deploy


def test_deploys_with_its_wiring_and_events(deploy, token, staking, deployer, guardian, arbiter, treasury, oracle,
                                            oracle_keys):
    oracles = [addr_of(k) for k in oracle_keys[:3]]
    e = deploy(oracles=oracles, threshold=2)
    tx = e.tx
    # the escrow's, then its desk's (the desk's own, unused governance is the escrow; see JobEscrowDesk)
    assert events(tx, "GovernanceTransferred") == [{"previous": ZERO, "current": deployer.address.lower()},
                                                   {"previous": ZERO, "current": e.address.lower()}]
    assert events(tx, "RoleSet") == [
        {"role": 0, "previous": ZERO, "account": treasury.address.lower()},
        {"role": 1, "previous": ZERO, "account": guardian.address.lower()},
        {"role": 2, "previous": ZERO, "account": arbiter.address.lower()}]
    assert events(tx, "ParameterSet") == [{"param": i, "previous": 0, "value": v} for i, v in enumerate(ESCROW_PARAMS)] + [
        {"param": 8, "previous": 0, "value": 600},  # the minimum run time's default
        {"param": 9, "previous": 0, "value": 14 * 86400}]  # the ruling period's default
    assert events(tx, "OracleSetUpdated") == [{"epoch": 1, "oracles": norm(oracles), "threshold": 2}]
    assert e.token() == token and e.staking() == staking and e.governance() == deployer
    assert list(e.parameters()) == ESCROW_PARAMS_DEPLOYED
    assert norm(tuple(e.oracleSet())) == norm((oracles, 2, 1))
    assert norm(tuple(e.roles())) == norm((treasury, guardian, arbiter))
    assert e.jobCount() == 0 and e.accruedFees() == 0 and e.paused() is False


def test_deploys_at_every_cap(deploy):
    e = deploy(params=[hi for _, _, hi in CAPS])
    assert list(e.parameters()) == [hi for _, _, hi in CAPS] + ESCROW_DEFAULTS
    e = deploy(params=[lo for _, lo, _ in CAPS])
    assert list(e.parameters()) == [lo for _, lo, _ in CAPS] + ESCROW_DEFAULTS


@pytest.mark.parametrize("field", ["token", "staking", "governance", "guardian", "arbiter", "treasury"])
def test_rejects_zero_address(deploy, field):
    with brownie.reverts(err("ZeroAddress()")):
        deploy(**{field: ZERO})


@pytest.mark.parametrize("param,lo,hi", CAPS)
def test_rejects_parameters_outside_caps(deploy, param, lo, hi):
    params = list(ESCROW_PARAMS)
    params[param] = hi + 1
    with brownie.reverts(param_range(param, hi + 1, lo, hi)):
        deploy(params=params)
    if lo:
        params[param] = lo - 1
        with brownie.reverts(param_range(param, lo - 1, lo, hi)):
            deploy(params=params)


@pytest.mark.parametrize("size,threshold", [(0, 1), (1, 0), (2, 3), (33, 1)])
def test_rejects_bad_oracle_set(deploy, size, threshold):
    oracles = [addr_of("0x" + f"{0x41 + i:02x}" * 32) for i in range(size)]
    with brownie.reverts(err("JobEscrowInvalidOracleSet(uint256,uint256)", size, threshold)):
        deploy(oracles=oracles, threshold=threshold)


def test_deploys_with_the_largest_oracle_set(deploy):
    """32 oracles, the most a set may hold, fit in the constructor: its creation code (which carries the desk's) and
    its arguments stay under EIP-3860's initcode limit of 49,152 bytes (a change that grows the code past it fails
    here first)."""
    oracles = [addr_of("0x" + f"{0x41 + i:02x}" * 32) for i in range(32)]
    e = deploy(oracles=oracles, threshold=17)
    assert [o.lower() for o in e.oracleSet()[0]] == [o.lower() for o in oracles]


def test_rejects_zero_or_repeated_oracle(deploy, oracle):
    with brownie.reverts(err("JobEscrowInvalidOracle(address)", ZERO)):
        deploy(oracles=[oracle, ZERO], threshold=1)
    with brownie.reverts(err("JobEscrowInvalidOracle(address)", oracle)):
        deploy(oracles=[oracle, oracle], threshold=1)
