"""Attack: a governance, guardian or arbiter key (or anyone without one) pushes a parameter past its hard cap, takes
a role it does not hold, installs a broken oracle set, or pauses the escrow to trap funds.

What stops it (SECURITY.md, roles table and "Pausing"): every setter checks its caller and its hard range (fee 10%,
slash fractions 100%, dispute window 1 h..30 d and below the unbonding period, acceptance window 1 min..7 d, grace
5 min..7 d, bond 1M tokens, minimum stake 10M tokens, unbonding 1 h..90 d and above the dispute window); an oracle set
needs 1 <= threshold <= size <= 32 distinct non-zero addresses; governance moves in two steps; only createJob,
createJobWithPermit and acceptJob check the pause. Every refusal is the exact custom error, with nothing changed.
"""

import brownie
import pytest
from eth_account import Account

from tests.fixtures.contracts import DISPUTE_WINDOW, E18, PRICE, TIMEOUT_GRACE, UNBONDING_PERIOD
from tests.fixtures.jobs import SPEC_HASH
from tests.helpers.limits import limits

from .conftest import (
    DAY,
    HOUR,
    MAX_U256,
    ZERO,
    at,
    attest_r,
    err,
    now,
    receipt_for,
    sign_r,
    unauthorized,
    warp,
)

# Hard ranges of JobEscrow.setParameter with the fixture's unbonding period of 7 days (the dispute window must stay
# below it, which is tighter than its own 30-day cap).
ESCROW_RANGES = {
    0: (0, 1_000),
    1: (0, 10_000),
    2: (0, 10_000),
    3: (0, 10_000),
    4: (3600, UNBONDING_PERIOD - 1),
    5: (60, 7 * DAY),
    6: (300, 7 * DAY),
    7: (0, 1_000_000 * E18),
    8: (300, DAY),
    9: (DAY, 60 * DAY),
}


def escrow_range(param, value, lo, hi):
    return err("JobEscrowParameterOutOfRange(uint8,uint256,uint256,uint256)", param, value, lo, hi)


def staking_range(param, value, lo, hi):
    return err("ProviderStakingParameterOutOfRange(uint8,uint256,uint256,uint256)", param, value, lo, hi)


@pytest.fixture(scope="module")
def state(escrow, staking):
    def _state():
        return (tuple(escrow.parameters()), tuple(escrow.oracleSet()[0]), escrow.oracleSet()[1:],
                tuple(escrow.roles()), escrow.governance(), escrow.pendingGovernance(), escrow.paused(),
                staking.minStake(), staking.unbondingPeriod(), staking.governance(), staking.pendingGovernance(),
                staking.escrow())

    return _state


# ------------------------------------------------------------------ caps


@pytest.mark.parametrize("param", list(ESCROW_RANGES))
def test_escrow_parameter_beyond_its_cap_is_refused(escrow, deployer, state, param):
    lo, hi = ESCROW_RANGES[param]
    before = state()
    bad = [hi + 1, MAX_U256] + ([lo - 1, 0] if lo > 0 else [])
    for value in bad:
        with brownie.reverts(escrow_range(param, value, lo, hi)):
            escrow.setParameter(param, value, {"from": deployer})
    assert state() == before
    # Both ends of the range are accepted (so the refusals above are about the value alone).
    for value in (lo, hi):
        escrow.setParameter(param, value, {"from": deployer})
        assert escrow.parameters()[param] == value


def test_dispute_window_hard_cap_is_30_days_even_with_a_longer_unbonding(escrow, staking, deployer):
    staking.setParameter(1, 90 * DAY, {"from": deployer})
    with brownie.reverts(escrow_range(4, 30 * DAY + 1, 3600, 30 * DAY)):
        escrow.setParameter(4, 30 * DAY + 1, {"from": deployer})
    escrow.setParameter(4, 30 * DAY, {"from": deployer})
    # Now the unbonding period cannot drop to or below the window again.
    with brownie.reverts(staking_range(1, 30 * DAY, 30 * DAY + 1, 90 * DAY)):
        staking.setParameter(1, 30 * DAY, {"from": deployer})


@pytest.mark.parametrize("param", [10, 11, 255])  # 9 is the ruling period (audit lower 1)
def test_unknown_escrow_parameter_is_refused(escrow, deployer, state, param):
    before = state()
    for value in (0, 1, MAX_U256):
        with brownie.reverts(escrow_range(param, value, 0, 0)):
            escrow.setParameter(param, value, {"from": deployer})
    assert state() == before


def test_staking_parameters_beyond_their_caps_are_refused(staking, deployer, state):
    before = state()
    lowest_unbonding = DISPUTE_WINDOW + 1
    cases = [
        (0, 10_000_000 * E18 + 1, 0, 10_000_000 * E18),
        (0, MAX_U256, 0, 10_000_000 * E18),
        (1, DISPUTE_WINDOW, lowest_unbonding, 90 * DAY),
        (1, HOUR, lowest_unbonding, 90 * DAY),
        (1, 0, lowest_unbonding, 90 * DAY),
        (1, 90 * DAY + 1, lowest_unbonding, 90 * DAY),
        (2, 1, 0, 0),
        (255, 1, 0, 0),
    ]
    for param, value, lo, hi in cases:
        with brownie.reverts(staking_range(param, value, lo, hi)):
            staking.setParameter(param, value, {"from": deployer})
    assert state() == before
    for param, value in ((0, 10_000_000 * E18), (0, 0), (1, lowest_unbonding), (1, 90 * DAY)):
        staking.setParameter(param, value, {"from": deployer})


def test_oracle_set_outside_its_bounds_is_refused(escrow, deployer, state, oracle):
    before = state()
    many = [Account.from_key("0x" + f"{i + 1:064x}").address for i in range(33)]
    for oracles, threshold in (([], 1), ([], 0), (many, 1), (many[:3], 0), (many[:3], 4), ([oracle], 2)):
        with brownie.reverts(err("JobEscrowInvalidOracleSet(uint256,uint256)", len(oracles), threshold)):
            escrow.setOracleSet(oracles, threshold, {"from": deployer})
    with brownie.reverts(err("JobEscrowInvalidOracle(address)", ZERO)):
        escrow.setOracleSet([oracle, ZERO], 1, {"from": deployer})
    with brownie.reverts(err("JobEscrowInvalidOracle(address)", many[1])):
        escrow.setOracleSet([many[0], many[1], many[2], many[1]], 2, {"from": deployer})
    assert state() == before
    escrow.setOracleSet(many[:32], 32, {"from": deployer})  # the largest set there can be
    assert escrow.oracleSet()[1] == 32


def test_role_setter_refuses_unknown_roles_and_the_zero_address(escrow, deployer, state, rando):
    before = state()
    for role in (3, 255):
        with brownie.reverts(err("JobEscrowUnknownRole(uint8)", role)):
            escrow.setRole(role, rando, {"from": deployer})
    for role in (0, 1, 2):
        with brownie.reverts(err("ZeroAddress()")):
            escrow.setRole(role, ZERO, {"from": deployer})
    assert state() == before


# ----------------------------------------------------------------- roles


@pytest.fixture(scope="module")
def outsiders(guardian, arbiter, treasury, rando, client, provider, worker):
    return [guardian, arbiter, treasury, rando, client, provider, worker]


def test_only_governance_can_govern(escrow, staking, deployer, outsiders, state, oracle):
    before = state()
    calls = [
        (escrow.setParameter, lambda who: (0, 100)),
        (escrow.setOracleSet, lambda who: ([oracle], 1)),
        (escrow.setRole, lambda who: (0, who)),
        (escrow.transferGovernance, lambda who: (who,)),
        (staking.setParameter, lambda who: (0, 1)),
        (staking.transferGovernance, lambda who: (who,)),
        (staking.setEscrow, lambda who: (who,)),
        (staking.unjail, lambda who: (who,)),
    ]
    for who in outsiders:
        for fn, args in calls:
            with brownie.reverts(unauthorized(who, "governance")):
                fn(*args(who), {"from": who})
    assert state() == before


def test_only_the_guardian_pauses_and_only_guardian_or_governance_unpause(escrow, deployer, guardian, arbiter,
                                                                          rando, state):
    for who in (deployer, arbiter, rando):
        with brownie.reverts(unauthorized(who, "guardian")):
            escrow.pause({"from": who})
    escrow.pause({"from": guardian})
    for who in (arbiter, rando):
        with brownie.reverts(unauthorized(who, "guardian")):
            escrow.unpause({"from": who})
    escrow.unpause({"from": deployer})
    assert not escrow.paused()


def test_only_the_arbiter_rules_and_only_the_escrow_slashes(escrow, staking, deployer, guardian, arbiter, rando,
                                                            staked_provider, job_at):
    job_id = job_at()
    for who in (deployer, guardian, rando, staked_provider):
        with brownie.reverts(unauthorized(who, "arbiter")):
            escrow.reportFraud(job_id, b"\x01" * 32, {"from": who})
        with brownie.reverts(unauthorized(who, "arbiter")):
            escrow.resolveDispute(job_id, True, {"from": who})
    for who in (deployer, arbiter, rando):
        with brownie.reverts(unauthorized(who, "escrow")):
            staking.slash(staked_provider, 1, who, 0, {"from": who})
        if who != deployer:
            with brownie.reverts(unauthorized(who, "escrowOrGovernance")):
                staking.jail(staked_provider, {"from": who})
    with brownie.reverts(err("ProviderStakingEscrowAlreadySet(address)", escrow)):
        staking.setEscrow(rando, {"from": deployer})


@pytest.mark.parametrize("which", ["escrow", "staking"])
def test_governance_moves_in_two_steps_and_the_old_key_loses_power(escrow, staking, deployer, rando, guardian,
                                                                   which):
    c = escrow if which == "escrow" else staking
    with brownie.reverts(err("ZeroAddress()")):
        c.transferGovernance(ZERO, {"from": deployer})
    c.transferGovernance(rando, {"from": deployer})
    # Until it accepts, the nominee has no power and the current governance keeps it.
    with brownie.reverts(unauthorized(rando, "governance")):
        c.setParameter(0, 1, {"from": rando})
    with brownie.reverts(unauthorized(guardian, "pendingGovernance")):
        c.acceptGovernance({"from": guardian})
    c.setParameter(0, 1, {"from": deployer})
    c.acceptGovernance({"from": rando})
    assert (c.governance(), c.pendingGovernance()) == (rando, ZERO)
    with brownie.reverts(unauthorized(deployer, "governance")):
        c.setParameter(0, 2, {"from": deployer})
    with brownie.reverts(unauthorized(deployer, "pendingGovernance")):
        c.acceptGovernance({"from": deployer})
    c.setParameter(0, 2, {"from": rando})


# --------------------------------------------------------------- pausing


@pytest.fixture(scope="module")
def pausable_world(escrow, staking, token, staked_provider, client, client2, arbiter, rando, worker_key, oracle_key,
                   job_at):
    """Work in every state, set up before the guardian pauses."""

    def settled(billed=1000):
        j = job_at()
        r = receipt_for(escrow, j, gpu_seconds=billed)
        escrow.settle(r.as_tuple(), sign_r(r, worker_key, escrow), attest_r([r], [oracle_key], escrow),
                      {"from": rando})
        return j

    unbond = staking.requestUnstake(1_000 * E18, {"from": staked_provider}).timestamp
    w = {
        "unbond": unbond,
        "open": job_at(accept=False),
        "expired": job_at(accept=False),
        "declined": job_at(accept=False),
        "timeout": job_at(deadline_in=2 * HOUR),
        "fraud": job_at(),
        "settled": settled(),
        "disputed": settled(),
    }
    escrow.dispute(w["disputed"], b"\x01" * 32, {"from": client})
    w["to_dispute"] = settled()
    w["running"] = [job_at(), job_at()]
    w["receipts"] = [receipt_for(escrow, j, gpu_seconds=500) for j in w["running"]]
    return w


def _sign_batch(escrow, rs, worker_key, oracle_key):
    return ([r.as_tuple() for r in rs], [sign_r(r, worker_key, escrow) for r in rs],
            attest_r(rs, [oracle_key], escrow))


PAUSED_PATHS = ["cancel by client", "decline by provider", "cancel after acceptance window", "claimTimeout",
                "settle", "settleBatch", "claimRefunds", "dispute", "resolveDispute", "reportFraud",
                "withdrawEarnings", "withdrawFees", "stake", "requestUnstake", "withdraw"]


@pytest.mark.parametrize("path", PAUSED_PATHS)
def test_pausing_never_blocks_refunds_timeouts_settlement_withdrawals_or_unstaking(
        escrow, staking, token, guardian, staked_provider, client, arbiter, treasury, rando, worker_key, oracle_key,
        pausable_world, path):
    w = pausable_world
    escrow.pause({"from": guardian})
    assert escrow.paused()
    b = lambda who: token.balanceOf(who)
    if path == "cancel by client":
        before = b(client)
        escrow.cancelJob(w["open"], {"from": client})
        assert b(client) == before + escrow.getJob(w["open"])["deposit"]
    elif path == "decline by provider":
        escrow.cancelJob(w["declined"], {"from": staked_provider})
    elif path == "cancel after acceptance window":
        warp(escrow.getJob(w["expired"])["acceptBy"] + 1)
        escrow.cancelJob(w["expired"], {"from": rando})
    elif path == "claimTimeout":
        before = b(client)
        j = escrow.getJob(w["timeout"]).dict()
        with at(max(j["deadline"] + TIMEOUT_GRACE, now() + 1)):
            escrow.claimTimeout(w["timeout"], {"from": rando})
        # the deposit comes back; the slash is held for the open dispute's ruling (claimHeldSlash after it)
        assert b(client) == before + j["deposit"]
        assert escrow.heldSlashes(staked_provider)[0] > 0
    elif path == "settle":
        r = w["receipts"][0]
        escrow.settle(r.as_tuple(), sign_r(r, worker_key, escrow), attest_r([r], [oracle_key], escrow),
                      {"from": rando})
    elif path == "settleBatch":
        tx = escrow.settleBatch(*_sign_batch(escrow, w["receipts"], worker_key, oracle_key), {"from": rando})
        assert len(tx.events["JobSettled"]) == 2
    elif path == "claimRefunds":
        before = b(client)
        escrow.claimRefunds([w["settled"]], {"from": rando})
        assert b(client) == before + (3600 - 1000) * PRICE
    elif path == "dispute":
        escrow.dispute(w["to_dispute"], b"\x02" * 32, {"from": client})
    elif path == "resolveDispute":
        before = b(client)
        escrow.resolveDispute(w["disputed"], True, {"from": arbiter})
        assert b(client) > before
    elif path == "reportFraud":
        before = b(client)
        escrow.reportFraud(w["fraud"], b"\xee" * 32, {"from": arbiter})
        assert b(client) > before
    elif path == "withdrawEarnings":
        before = b(staked_provider)
        escrow.withdrawEarnings({"from": staked_provider})
        assert b(staked_provider) > before
    elif path == "withdrawFees":
        before = b(treasury)
        escrow.withdrawFees({"from": rando})
        assert b(treasury) > before
    elif path == "stake":
        token.approve(staking, E18, {"from": staked_provider})
        staking.stake(E18, {"from": staked_provider})
    elif path == "requestUnstake":
        escrow.resolveDispute(w["disputed"], False, {"from": arbiter})  # an open dispute would block it, by design
        staking.requestUnstake(E18, {"from": staked_provider})
    elif path == "withdraw":
        escrow.resolveDispute(w["disputed"], False, {"from": arbiter})
        warp(w["unbond"] + UNBONDING_PERIOD + DISPUTE_WINDOW + 1)
        before = b(staked_provider)
        staking.withdraw({"from": staked_provider})
        assert b(staked_provider) == before + 1_000 * E18
    assert escrow.paused()


def test_pausing_stops_new_work_only(escrow, token, guardian, deployer, staked_provider, client, job_at):
    waiting = job_at(accept=False)
    escrow.pause({"from": guardian})
    with brownie.reverts(err("EnforcedPause()")):
        escrow.createJob(1, 3600, now() + DAY, SPEC_HASH, *limits(escrow, 1), {"from": client})
    with brownie.reverts(err("EnforcedPause()")):
        escrow.createJobWithPermit(1, 3600, now() + DAY, SPEC_HASH, *limits(escrow, 1), now() + DAY, 27, b"\x00" * 32, b"\x00" * 32,
                                   {"from": client})
    with brownie.reverts(err("EnforcedPause()")):
        escrow.acceptJob(waiting, {"from": staked_provider})
    escrow.unpause({"from": deployer})
    escrow.acceptJob(waiting, {"from": staked_provider})
