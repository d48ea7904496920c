"""pause / unpause: the guardian stops new work (createJob, createJobWithPermit, acceptJob); refunds, timeouts,
settlement, disputes and withdrawals go on. Governance may unpause but not pause."""

import brownie
import pytest

from tests.fixtures.contracts import DISPUTE_WINDOW, PRICE, PROVIDER_STAKE, TIMEOUT_GRACE, UNBONDING_PERIOD
from tests.fixtures.jobs import SPEC_HASH
from tests.helpers.limits import limits

from .conftest import DAY, err, expect_event, not_paused, now, paused, unauthorized, warp


def test_guardian_pauses_and_unpauses(escrow, guardian):
    assert escrow.paused() is False
    tx = escrow.pause({"from": guardian})
    expect_event(tx, "Paused", account=guardian)
    assert escrow.paused() is True
    tx = escrow.unpause({"from": guardian})
    expect_event(tx, "Unpaused", account=guardian)
    assert escrow.paused() is False


def test_governance_may_unpause(escrow, guardian, deployer):
    escrow.pause({"from": guardian})
    tx = escrow.unpause({"from": deployer})
    expect_event(tx, "Unpaused", account=deployer)
    assert escrow.paused() is False


@pytest.mark.parametrize("who", ["rando", "governance", "arbiter", "treasury", "client"])
def test_only_the_guardian_pauses(escrow, rando, deployer, arbiter, treasury, client, snap, who):
    caller = {"rando": rando, "governance": deployer, "arbiter": arbiter, "treasury": treasury,
              "client": client}[who]
    before = snap()
    with brownie.reverts(unauthorized(caller, "guardian")):
        escrow.pause({"from": caller})
    assert snap() == before


@pytest.mark.parametrize("who", ["rando", "arbiter", "treasury", "client"])
def test_only_guardian_or_governance_unpauses(escrow, guardian, rando, arbiter, treasury, client, snap, who):
    caller = {"rando": rando, "arbiter": arbiter, "treasury": treasury, "client": client}[who]
    escrow.pause({"from": guardian})
    before = snap()
    with brownie.reverts(unauthorized(caller, "guardian")):
        escrow.unpause({"from": caller})
    assert snap() == before and escrow.paused()


def test_cannot_pause_twice(escrow, guardian, snap):
    escrow.pause({"from": guardian})
    before = snap()
    with brownie.reverts(paused()):
        escrow.pause({"from": guardian})
    assert snap() == before


@pytest.mark.parametrize("who", ["guardian", "governance"])
def test_cannot_unpause_when_running(escrow, guardian, deployer, snap, who):
    before = snap()
    with brownie.reverts(not_paused()):
        escrow.unpause({"from": guardian if who == "guardian" else deployer})
    assert snap() == before


def test_new_work_is_blocked(escrow, token, job, client, staked_provider, worker, guardian, snap):
    waiting = job(accept=False)
    escrow.pause({"from": guardian})
    before = snap(waiting)
    with brownie.reverts(paused()):
        escrow.createJob(1, 3600, now() + DAY, SPEC_HASH, *limits(escrow, 1), {"from": client})
    with brownie.reverts(paused()):
        escrow.createJobWithPermit(1, 3600, now() + DAY, SPEC_HASH, *limits(escrow, 1), now() + DAY, 27, b"\x01" * 32, b"\x02" * 32,
                                   {"from": client})
    for who in (staked_provider, worker):
        with brownie.reverts(paused()):
            escrow.acceptJob(waiting, {"from": who})
    assert snap(waiting) == before


def test_pausing_never_traps_funds(escrow, token, staking, job, receipt, settle, batch_args, client, rando, arbiter,
                                   staked_provider, treasury, guardian):
    """Every exit for money works while paused: cancel, settle, settleBatch, claimTimeout, claimRefunds, dispute and
    its ruling, fraud, withdrawEarnings, withdrawFees, and unstaking at the staking contract."""
    open_job = job(accept=False)
    to_settle, to_batch, to_dispute = job(), job(), job()
    to_time_out = job(deadline_in=DAY)
    to_report = job()
    escrow.pause({"from": guardian})

    escrow.cancelJob(open_job, {"from": client})
    settle(receipt(to_settle, gpu_seconds=1000))
    assert escrow.settleBatch(*batch_args([receipt(to_batch, gpu_seconds=500)]), {"from": rando}).return_value == 1
    settle(receipt(to_dispute, gpu_seconds=100))
    escrow.dispute(to_dispute, b"\x01" * 32, {"from": client})
    escrow.resolveDispute(to_dispute, False, {"from": arbiter})
    warp(escrow.getJob(to_time_out)["deadline"] + TIMEOUT_GRACE)
    escrow.claimTimeout(to_time_out, {"from": rando})
    assert escrow.claimRefunds([to_settle, to_batch, to_dispute], {"from": rando}).return_value == \
        (2600 + 3100 + 3500) * PRICE
    escrow.withdrawEarnings({"from": staked_provider})
    escrow.withdrawFees({"from": rando})
    escrow.reportFraud(to_report, b"\x02" * 32, {"from": arbiter})
    assert escrow.paused()
    # every deposit, earning and fee has left the escrow
    assert token.balanceOf(escrow) == 0
    # the settled jobs' collateral comes back once their dispute windows close
    warp(now() + DISPUTE_WINDOW + 1)
    escrow.releaseCollateral([to_settle, to_batch], {"from": rando})
    assert escrow.providerRecord(staked_provider)["lockedCollateral"] == 0
    # and the provider can leave the staking contract
    bonded = staking.stakeOf(staked_provider)[0]
    staking.requestUnstake(bonded, {"from": staked_provider})
    warp(now() + UNBONDING_PERIOD)
    bal = token.balanceOf(staked_provider)
    staking.withdraw({"from": staked_provider})
    assert token.balanceOf(staked_provider) == bal + bonded
    assert bonded < PROVIDER_STAKE  # the timeout and the fraud report slashed it


def test_unpaused_work_resumes(escrow, job, guardian, staked_provider):
    waiting = job(accept=False)
    escrow.pause({"from": guardian})
    escrow.unpause({"from": guardian})
    escrow.acceptJob(waiting, {"from": staked_provider})
    assert escrow.getJob(waiting)["status"] == 2
    assert job() == waiting + 1
