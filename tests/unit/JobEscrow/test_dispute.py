"""dispute: the client disputes a settlement within the dispute window, posting the dispute bond."""

import brownie
import pytest

from tests.fixtures.contracts import DISPUTE_BOND, DISPUTE_WINDOW, PRICE

from .conftest import (CANCELLED, DISPUTED, HOUR, REJECTED, RUNNING, SETTLED, UPHELD, at, err, expect_event,
                       no_event, unknown_job, wrong_status)

REASON = b"\x0d" * 32


def test_client_disputes_and_posts_the_bond(escrow, token, settled_job, client, staked_provider):
    job_id, tx = settled_job(billed=1000)
    settled_at = tx.timestamp
    bal, escrow_bal = token.balanceOf(client), token.balanceOf(escrow)
    locked = escrow.providerRecord(staked_provider)["lockedCollateral"]
    with at(settled_at + DISPUTE_WINDOW):  # the last second of the window
        tx = escrow.dispute(job_id, REASON, {"from": client})
    expect_event(tx, "JobDisputed", jobId=job_id, client=client, bond=DISPUTE_BOND, reasonHash=REASON)
    expect_event(tx, "Transfer", **{"from": client, "to": escrow, "value": DISPUTE_BOND})
    assert token.balanceOf(client) == bal - DISPUTE_BOND
    assert token.balanceOf(escrow) == escrow_bal + DISPUTE_BOND
    j = escrow.getJob(job_id).dict()
    assert (j["status"], j["disputeBond"], j["billedGpuSeconds"], j["settledAt"]) == (DISPUTED, DISPUTE_BOND, 1000,
                                                                                      settled_at)
    assert j["refundable"] == 2600 * PRICE
    assert escrow.providerRecord(staked_provider)["openDisputes"] == 1
    # The reserve stays locked; the rest of the slash (100% of the 3,600 GPU-seconds' deposit) is frozen.
    frozen = 3600 * PRICE - locked
    assert tuple(escrow.unstakeBlockers(staked_provider)) == (locked, 1, settled_at + DISPUTE_WINDOW, frozen)


def test_open_dispute_blocks_unstaking_what_it_can_slash(escrow, staking, settled_job, client, staked_provider):
    job_id, _ = settled_job()
    escrow.dispute(job_id, REASON, {"from": client})
    locked, _, _, frozen = (int(x) for x in escrow.unstakeBlockers(staked_provider))
    free = int(staking.stakeOf(staked_provider)[0]) - locked - frozen
    with brownie.reverts(err("ProviderStakingInsufficientFreeStake(address,uint256,uint256)", staked_provider, free,
                             free + 1)):
        staking.requestUnstake(free + 1, {"from": staked_provider})
    staking.requestUnstake(free, {"from": staked_provider})


def test_zero_bond_moves_no_tokens(escrow, token, settled_job, client, deployer):
    escrow.setParameter(7, 0, {"from": deployer})
    job_id, _ = settled_job()
    bal = token.balanceOf(client)
    tx = escrow.dispute(job_id, REASON, {"from": client})
    expect_event(tx, "JobDisputed", jobId=job_id, client=client, bond=0, reasonHash=REASON)
    no_event(tx, "Transfer")
    assert token.balanceOf(client) == bal
    assert escrow.getJob(job_id)["disputeBond"] == 0


def test_dispute_after_the_refund_was_claimed(escrow, token, settled_job, client, rando):
    job_id, _ = settled_job(billed=1000)
    escrow.claimRefunds([job_id], {"from": rando})
    escrow.dispute(job_id, REASON, {"from": client})
    assert escrow.getJob(job_id)["status"] == DISPUTED


def test_works_while_paused(escrow, settled_job, client, guardian):
    job_id, _ = settled_job()
    escrow.pause({"from": guardian})
    escrow.dispute(job_id, REASON, {"from": client})
    assert escrow.getJob(job_id)["status"] == DISPUTED


# --------------------------------------------------------------------- reverts


def test_rejects_after_the_window(escrow, settled_job, client, snap):
    job_id, tx = settled_job()
    closes = tx.timestamp + DISPUTE_WINDOW
    before = snap(job_id)
    with at(closes + 1), brownie.reverts(err("JobEscrowDisputeWindowClosed(uint256,uint256,uint256)", job_id, closes,
                                             closes + 1)):
        escrow.dispute(job_id, REASON, {"from": client})
    assert snap(job_id) == before


def test_window_is_fixed_when_the_job_opens(escrow, settled_job, client, deployer):
    job_id, tx = settled_job()
    escrow.setParameter(4, HOUR, {"from": deployer})  # governance shortens the window: not for this job
    with at(tx.timestamp + HOUR + 1):
        escrow.dispute(job_id, REASON, {"from": client})
    assert escrow.getJob(job_id)["status"] == 6  # Disputed


@pytest.mark.parametrize("who", ["rando", "provider", "worker", "arbiter", "client2"])
def test_only_the_client_may_dispute(escrow, settled_job, client, rando, staked_provider, worker, arbiter, client2,
                                     snap, who):
    caller = {"rando": rando, "provider": staked_provider, "worker": worker, "arbiter": arbiter,
              "client2": client2}[who]
    job_id, _ = settled_job()
    before = snap(job_id)
    with brownie.reverts(err("JobEscrowNotClient(uint256,address,address)", job_id, caller, client)):
        escrow.dispute(job_id, REASON, {"from": caller})
    assert snap(job_id) == before


def test_rejects_unknown_job(escrow, client, snap):
    before = snap()
    with brownie.reverts(unknown_job(9)):
        escrow.dispute(9, REASON, {"from": client})
    assert snap() == before


def test_rejects_running_and_cancelled_jobs(escrow, job, client, snap):
    running = job()
    cancelled = job(accept=False)
    escrow.cancelJob(cancelled, {"from": client})
    before = snap(running, cancelled)
    with brownie.reverts(wrong_status(running, RUNNING, SETTLED)):
        escrow.dispute(running, REASON, {"from": client})
    with brownie.reverts(wrong_status(cancelled, CANCELLED, SETTLED)):
        escrow.dispute(cancelled, REASON, {"from": client})
    assert snap(running, cancelled) == before


@pytest.mark.parametrize("ruling", [None, True, False])
def test_one_dispute_per_job(escrow, settled_job, client, arbiter, snap, ruling):
    job_id, _ = settled_job()
    escrow.dispute(job_id, REASON, {"from": client})
    if ruling is not None:
        escrow.resolveDispute(job_id, ruling, {"from": arbiter})
    status = {None: 6, True: UPHELD, False: REJECTED}[ruling]
    before = snap(job_id)
    with brownie.reverts(wrong_status(job_id, status, SETTLED)):
        escrow.dispute(job_id, REASON, {"from": client})
    assert snap(job_id) == before


def test_rejects_without_bond_allowance(escrow, token, settled_job, client, snap):
    job_id, _ = settled_job()
    token.approve(escrow, DISPUTE_BOND - 1, {"from": client})
    before = snap(job_id)
    with brownie.reverts(err("ERC20InsufficientAllowance(address,uint256,uint256)", escrow, DISPUTE_BOND - 1,
                             DISPUTE_BOND)):
        escrow.dispute(job_id, REASON, {"from": client})
    assert snap(job_id) == before


def test_rejects_without_bond_balance(escrow, token, settled_job, client, rando, snap):
    job_id, _ = settled_job()
    token.transfer(rando, token.balanceOf(client) - (DISPUTE_BOND - 1), {"from": client})
    before = snap(job_id)
    with brownie.reverts(err("ERC20InsufficientBalance(address,uint256,uint256)", client, DISPUTE_BOND - 1,
                             DISPUTE_BOND)):
        escrow.dispute(job_id, REASON, {"from": client})
    assert snap(job_id) == before
