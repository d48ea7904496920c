"""setParameter: governance sets each parameter inside its hard range; the dispute window always stays below the
staking contract's unbonding period."""

import brownie
import pytest

from tests.fixtures.contracts import ESCROW_PARAMS_DEPLOYED, UNBONDING_PERIOD
from tests.helpers.limits import limits

from .conftest import DAY, HOUR, at, err, expect_event, now, param_range, unauthorized, warp

E18 = 10**18
# (param, min, max) with the staking unbonding period of the fixtures (7 days): the window's max is 7 days - 1
BOUNDS = [
    (0, 0, 1_000),  # fee bps
    (1, 0, 10_000),  # collateral bps
    (2, 0, 10_000),  # timeout slash bps
    (3, 0, 10_000),  # dispute slash bps
    (4, HOUR, UNBONDING_PERIOD - 1),  # dispute window
    (5, 60, 7 * DAY),  # acceptance window
    (6, 300, 7 * DAY),  # timeout grace: never 0 (a receipt needs time to be posted)
    (7, 0, 1_000_000 * E18),  # dispute bond
    (8, 300, DAY),  # minimum run time
    (9, DAY, 60 * DAY),  # ruling period
]


@pytest.mark.parametrize("param,lo,hi", BOUNDS)
def test_sets_each_bound(escrow, deployer, param, lo, hi):
    for value in (lo, hi, (lo + hi) // 2):
        previous = escrow.parameters()[param]
        tx = escrow.setParameter(param, value, {"from": deployer})
        expect_event(tx, "ParameterSet", param=param, previous=previous, value=value)
        expected = list(ESCROW_PARAMS_DEPLOYED)
        expected[param] = value
        assert list(escrow.parameters()) == expected


@pytest.mark.parametrize("param,lo,hi", BOUNDS)
def test_rejects_above_the_cap(escrow, deployer, snap, param, lo, hi):
    before = snap()
    for value in (hi + 1, 2**256 - 1):
        with brownie.reverts(param_range(param, value, lo, hi)):
            escrow.setParameter(param, value, {"from": deployer})
    assert snap() == before


@pytest.mark.parametrize("param,lo,hi", [b for b in BOUNDS if b[1] > 0])
def test_rejects_below_the_floor(escrow, deployer, snap, param, lo, hi):
    before = snap()
    for value in (lo - 1, 0):
        with brownie.reverts(param_range(param, value, lo, hi)):
            escrow.setParameter(param, value, {"from": deployer})
    assert snap() == before


@pytest.mark.parametrize("who", ["rando", "guardian", "arbiter", "treasury", "client"])
def test_only_governance(escrow, rando, guardian, arbiter, treasury, client, snap, who):
    caller = {"rando": rando, "guardian": guardian, "arbiter": arbiter, "treasury": treasury, "client": client}[who]
    before = snap()
    for param, lo, _ in BOUNDS:
        with brownie.reverts(unauthorized(caller, "governance")):
            escrow.setParameter(param, lo, {"from": caller})
    assert snap() == before


def test_rejects_unknown_parameter_with_value_zero(escrow, deployer, snap):
    before = snap()
    for param in (10, 255):
        with brownie.reverts(param_range(param, 0, 0, 0)):
            escrow.setParameter(param, 0, {"from": deployer})
    assert snap() == before


def test_unknown_parameter_error_reports_the_value(escrow, deployer, snap):
    """JobEscrowParameterOutOfRange(param, value, min, max) should carry the value that was refused, as it does
    for every known parameter."""
    before = snap()
    with brownie.reverts(param_range(10, 5, 0, 0)):
        escrow.setParameter(10, 5, {"from": deployer})
    assert snap() == before


# -------------------------------------------- dispute window vs unbonding period


def test_dispute_window_must_stay_below_unbonding(escrow, staking, deployer, snap):
    before = snap()
    with brownie.reverts(param_range(4, UNBONDING_PERIOD, HOUR, UNBONDING_PERIOD - 1)):
        escrow.setParameter(4, UNBONDING_PERIOD, {"from": deployer})
    assert snap() == before
    escrow.setParameter(4, UNBONDING_PERIOD - 1, {"from": deployer})
    # and the staking side refuses to shorten unbonding below it
    with brownie.reverts(err("ProviderStakingParameterOutOfRange(uint8,uint256,uint256,uint256)", 1,
                             UNBONDING_PERIOD - 1, UNBONDING_PERIOD, 90 * DAY)):
        staking.setParameter(1, UNBONDING_PERIOD - 1, {"from": deployer})


def test_hard_cap_applies_when_unbonding_is_longer(escrow, staking, deployer, snap):
    staking.setParameter(1, 90 * DAY, {"from": deployer})
    escrow.setParameter(4, 30 * DAY, {"from": deployer})
    before = snap()
    with brownie.reverts(param_range(4, 30 * DAY + 1, HOUR, 30 * DAY)):
        escrow.setParameter(4, 30 * DAY + 1, {"from": deployer})
    assert snap() == before


def test_window_cap_follows_a_shorter_unbonding(escrow, staking, deployer, snap):
    escrow.setParameter(4, HOUR, {"from": deployer})
    staking.setParameter(1, HOUR + 1, {"from": deployer})
    before = snap()
    with brownie.reverts(param_range(4, HOUR + 1, HOUR, HOUR)):
        escrow.setParameter(4, HOUR + 1, {"from": deployer})
    assert snap() == before
    escrow.setParameter(4, HOUR, {"from": deployer})


def test_unbonding_exactly_at_the_cap_plus_one(escrow, staking, deployer):
    staking.setParameter(1, 30 * DAY + 1, {"from": deployer})
    escrow.setParameter(4, 30 * DAY, {"from": deployer})
    assert escrow.parameters()[4] == 30 * DAY


# ---------------------------------------------------- parameters take effect


def test_acceptance_window_applies_to_new_jobs(escrow, token, client, staked_provider, deployer):
    from tests.fixtures.jobs import SPEC_HASH

    token.approve(escrow, 2**256 - 1, {"from": client})
    escrow.setParameter(5, 60, {"from": deployer})
    t = now() + 5
    with at(t):
        a = escrow.createJob(1, 10, t + 7 * DAY, SPEC_HASH, *limits(escrow, 1), {"from": client}).return_value
    escrow.setParameter(5, 2 * DAY, {"from": deployer})
    with at(t + 100):
        b = escrow.createJob(1, 10, t + 7 * DAY, SPEC_HASH, *limits(escrow, 1), {"from": client}).return_value
    assert escrow.getJob(a)["acceptBy"] == t + 60  # unchanged by the later setting
    assert escrow.getJob(b)["acceptBy"] == t + 100 + 2 * DAY


def test_grace_applies_to_jobs_accepted_after_the_change(escrow, job, rando, deployer):
    running = job(deadline_in=DAY)
    tx = escrow.setParameter(6, 7 * DAY, {"from": deployer})
    assert tx.events["ParameterSet"]["value"] == 7 * DAY
    warp(now() + 1)  # a change applies to jobs accepted from the next second on
    later = job(deadline_in=DAY)
    assert tuple(escrow.jobFeeTerms(running)) == (250, 600) and tuple(escrow.jobFeeTerms(later)) == (250, 7 * DAY)
    deadline = escrow.getJob(later)["deadline"]
    with at(deadline + 600), brownie.reverts(err("JobEscrowTimeoutNotReached(uint256,uint256,uint256)", later,
                                                 deadline + 7 * DAY, deadline + 600)):
        escrow.claimTimeout(later, {"from": rando})
    escrow.claimTimeout(running, {"from": rando})  # its own 600 s grace passed long ago


def test_dispute_bond_applies_to_new_disputes(escrow, token, settled_job, client, deployer):
    escrow.setParameter(7, 123, {"from": deployer})
    job_id, _ = settled_job()
    bal = token.balanceOf(client)
    tx = escrow.dispute(job_id, b"\x01" * 32, {"from": client})
    assert tx.events["JobDisputed"]["bond"] == 123
    assert token.balanceOf(client) == bal - 123
