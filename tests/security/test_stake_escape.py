"""Attack (audit, high): a provider, or a thief holding its worker key, moves stake out through timeout slashes.

The sequence the audit found: the provider opens a job on its own offer (as its own client, from its worker key or
from a second wallet), sized so the collateral equals its free stake, with a deadline seconds away; accepts it in
the same block; lets it time out; and collects the timeout slash. Repeated, it drains the stake while a dispute
against it waits for a ruling. With a stolen worker key a thief does the same from its own wallet.

What stops it (docs/PROTOCOL.md, "Staking, slashing and disputes"; SECURITY.md, "Stake escape through timeouts"):
the client is never the provider's staking wallet nor its current worker key; a deadline leaves at least the
minimum run time after acceptance; a timeout slash taken while a dispute is open is held in the escrow, the ruling
draws on it first, and only what is left goes to the timed-out clients afterwards; the worker key alone may commit
at most a daily collateral budget.
"""

import brownie

from tests.fixtures.contracts import (
    COLLATERAL_BPS,
    DISPUTE_BOND,
    DISPUTE_WINDOW,
    PRICE,
    PROVIDER_STAKE,
    TIMEOUT_GRACE,
    TIMEOUT_SLASH_BPS,
)
from tests.fixtures.jobs import SPEC_HASH
from tests.helpers.limits import limits

from .conftest import BPS, DAY, MAX_U256, TIMED_OUT, UPHELD, at, err, now, receipt_for, warp

MIN_RUN_TIME = 600  # the default minimum run time the escrow is deployed with


def self_dealing(client, provider, worker):
    return err("JobEscrowSelfDealing(address,address,address)", client, provider, worker)


def open_job(escrow, token, sender, max_gpu_seconds=3600, deadline=None, offer_id=1, when=None):
    """Open a job from `sender`; with `when`, createJob (and only it) is mined at that timestamp. The approval and
    the capacity set-up go first, so that their blocks cannot push createJob past `when`."""
    if token.allowance(sender, escrow) < 2**255:
        token.approve(escrow, MAX_U256, {"from": sender})
    deadline = deadline or now() + 7 * DAY
    # The suites' job factories free an offer's capacity as a provider would (tests/helpers/limits.py).
    gpus, _ = limits(escrow, offer_id)
    if when is None:
        return escrow.createJob(offer_id, max_gpu_seconds, deadline, SPEC_HASH, gpus, PRICE, {"from": sender})
    with at(when):
        return escrow.createJob(offer_id, max_gpu_seconds, deadline, SPEC_HASH, gpus, PRICE, {"from": sender})


def collateral_of(max_gpu_seconds):
    return -(-(max_gpu_seconds * PRICE * COLLATERAL_BPS) // BPS)


def test_provider_opens_a_job_on_its_own_offer_and_is_refused(escrow, token, staked_provider, worker):
    with brownie.reverts(self_dealing(staked_provider, staked_provider, worker)):
        open_job(escrow, token, staked_provider, deadline=now() + 20)
    assert escrow.jobCount() == 0


def test_worker_key_opens_a_job_on_its_providers_offer_and_is_refused(escrow, token, staked_provider, worker,
                                                                      deployer):
    token.transfer(worker, 1_000 * 10**18, {"from": deployer})
    with brownie.reverts(self_dealing(worker, staked_provider, worker)):
        open_job(escrow, token, worker, deadline=now() + 20)
    assert escrow.jobCount() == 0


def test_client_named_worker_after_opening_cannot_have_its_job_accepted(escrow, token, staking, staked_provider,
                                                                        rando):
    job_id = open_job(escrow, token, rando).events["JobCreated"]["jobId"]
    staking.setWorker(rando, {"from": staked_provider})  # the provider makes its own client's wallet its worker
    with brownie.reverts(self_dealing(rando, staked_provider, rando)):
        escrow.acceptJob(job_id, {"from": staked_provider})


def test_job_with_a_deadline_seconds_away_is_refused(escrow, token, staked_provider, rando):
    t = now() + 30  # room for the approval and capacity blocks open_job mines first
    deadline = t + 20
    with brownie.reverts(err("JobEscrowRunTimeTooShort(uint256,uint256)", deadline, t + MIN_RUN_TIME)):
        open_job(escrow, token, rando, deadline=deadline, when=t)


def test_job_cannot_be_accepted_later_than_the_minimum_run_time_before_its_deadline(escrow, token, staked_provider,
                                                                                    rando, worker):
    t = now() + 30  # room for the approval and capacity blocks open_job mines first
    deadline = t + MIN_RUN_TIME + 100
    job_id = open_job(escrow, token, rando, deadline=deadline, when=t).events["JobCreated"]["jobId"]
    accept_by = deadline - MIN_RUN_TIME
    assert escrow.getJob(job_id)["acceptBy"] == accept_by
    with at(accept_by + 1), brownie.reverts(
        err("JobEscrowAcceptanceClosed(uint256,uint256,uint256)", job_id, accept_by, accept_by + 1)
    ):
        escrow.acceptJob(job_id, {"from": worker})


def test_timeout_from_a_second_wallet_during_a_dispute_is_held_for_the_ruling(escrow, staking, token,
                                                                              staked_provider, client, rando, worker,
                                                                              arbiter, sign, attest):
    # Client A's job settles and is disputed: the provider owes a ruling.
    a_job = open_job(escrow, token, client).events["JobCreated"]["jobId"]
    escrow.acceptJob(a_job, {"from": worker})
    r = receipt_for(escrow, a_job, gpu_seconds=3600)
    escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})
    escrow.dispute(a_job, b"\x01" * 32, {"from": client})
    a = escrow.getJob(a_job).dict()

    # The provider's second wallet (rando) opens a job whose collateral is all the free stake, accepts it at
    # once, and lets it time out.
    free = int(staking.stakeOf(staked_provider)[0]) - int(escrow.unstakeBlockers(staked_provider)[0])
    max_s = free * BPS // COLLATERAL_BPS // PRICE
    tx = open_job(escrow, token, rando, max_gpu_seconds=max_s, deadline=now() + MIN_RUN_TIME + 60)
    b_job = tx.events["JobCreated"]["jobId"]
    escrow.acceptJob(b_job, {"from": staked_provider})
    b = escrow.getJob(b_job).dict()
    rando_before = token.balanceOf(rando)
    with at(b["deadline"] + TIMEOUT_GRACE):
        tx = escrow.claimTimeout(b_job, {"from": rando})
    slash = b["collateral"] * TIMEOUT_SLASH_BPS // BPS
    assert escrow.getJob(b_job)["status"] == TIMED_OUT
    # The deposit comes back at once; the slash does not reach the second wallet while the dispute is open.
    assert token.balanceOf(rando) == rando_before + b["deposit"]
    assert tx.events["TimeoutSlashHeld"]["amount"] == slash
    with brownie.reverts(err("JobEscrowDisputesOpen(address,uint256)", staked_provider, 1)):
        escrow.claimHeldSlash(b_job, {"from": rando})

    # The ruling takes the provider's own stake first (the disputed job's reserve, raised at settlement to what A
    # paid): client A is made whole for what it paid, and the held slash is not touched.
    client_before = token.balanceOf(client)
    tx = escrow.resolveDispute(a_job, True, {"from": arbiter})
    paid = a["billedGpuSeconds"] * PRICE
    assert token.balanceOf(client) == client_before + paid + DISPUTE_BOND
    assert escrow.getJob(a_job)["status"] == UPHELD
    ruling = a["deposit"]  # dispute slash: 100% of the job's deposit
    assert tx.events["DisputeResolved"]["slashed"] == ruling

    assert escrow.heldSlashes(staked_provider)[0] == slash

    # The held slash goes to the second wallet only once A's dispute window has closed as well.
    warp(a["settledAt"] + DISPUTE_WINDOW + 1)
    escrow.claimHeldSlash(b_job, {"from": rando})
    assert token.balanceOf(rando) == rando_before + b["deposit"] + slash


def test_stolen_worker_key_turns_collateral_into_payouts_only_at_the_daily_budget(escrow, staking, token,
                                                                                  staked_provider, rando, worker):
    budget = PROVIDER_STAKE * 2_500 // BPS  # the default: 25% of bonded stake per day
    assert escrow.workerBudget(staked_provider)[1] == budget
    # The thief's jobs: each commits a fifth of the budget; accepting a sixth would go past it.
    per_job = budget // 5
    max_s = per_job * BPS // COLLATERAL_BPS // PRICE
    per_job = collateral_of(max_s)
    jobs = [open_job(escrow, token, rando, max_gpu_seconds=max_s).events["JobCreated"]["jobId"] for _ in range(6)]
    for j in jobs[:5]:
        escrow.acceptJob(j, {"from": worker})
    with brownie.reverts(
        err("JobEscrowWorkerBudgetExceeded(address,uint256,uint256,uint256)", staked_provider, 5 * per_job, budget,
            per_job)
    ):
        escrow.acceptJob(jobs[5], {"from": worker})
    # The staking wallet itself is not limited, and the budget renews a day later.
    escrow.acceptJob(jobs[5], {"from": staked_provider})
    warp(now() + DAY)
    more = open_job(escrow, token, rando, max_gpu_seconds=max_s).events["JobCreated"]["jobId"]
    escrow.acceptJob(more, {"from": worker})


def test_provider_sets_its_own_worker_budget(escrow, token, staked_provider, rando, worker):
    escrow.setWorkerBudget(0, {"from": staked_provider})
    job_id = open_job(escrow, token, rando).events["JobCreated"]["jobId"]
    c = escrow.getJob(job_id)["collateral"]
    with brownie.reverts(
        err("JobEscrowWorkerBudgetExceeded(address,uint256,uint256,uint256)", staked_provider, 0, 0, c)
    ):
        escrow.acceptJob(job_id, {"from": worker})
    escrow.setWorkerBudget(c, {"from": staked_provider})
    escrow.acceptJob(job_id, {"from": worker})
