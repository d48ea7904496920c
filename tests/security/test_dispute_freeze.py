"""Attack (outside audit of issue 8, lower finding 1): one dispute over a 1-wei job freezes a provider's whole stake,
and the arbiter has no deadline. A client pays 1 wei, disputes the settlement for the flat bond, and the provider can
neither requestUnstake nor withdraw anything until a ruling that may never come.

What must hold (docs/PROTOCOL.md, "Disputes"): an open dispute keeps back only what its ruling can slash (the job's
reserve, locked already, plus the rest of the slash, `frozen`, kept in free stake); everything else can be unstaked
and withdrawn. The arbiter rules by the job's ruling deadline (fixed when the dispute opens); after it, anyone lapses
the dispute: the client's bond goes back, the reserve and the frozen stake are released, and no ruling is possible.
The drain-before-dispute and ruling-shield protections still hold (their own tests).
"""

import brownie

from tests.fixtures.contracts import DISPUTE_BOND, DISPUTE_SLASH_BPS, DISPUTE_WINDOW, PRICE, UNBONDING_PERIOD

from .conftest import BPS, DAY, DISPUTED, REJECTED, at, err, now, receipt_for, warp, wrong_status

LAPSED = 10  # JobStatus.DisputeLapsed, appended after Fraud
RULING_PERIOD = 14 * DAY  # the default
PARAM_RULING_PERIOD = 9


def settle_job(escrow, job_id, rando, sign, attest, gpu_seconds):
    r = receipt_for(escrow, job_id, gpu_seconds=gpu_seconds)
    escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})


def blockers(escrow, provider):
    return tuple(int(x) for x in escrow.unstakeBlockers(provider))


def insufficient(provider, free, requested):
    return err("ProviderStakingInsufficientFreeStake(address,uint256,uint256)", provider, free, requested)


def disputed(escrow, job_at, rando, sign, attest, client, offer_id, max_s, billed):
    """A job opened, settled for `billed` GPU-seconds and disputed; returns (job, reserve, slash, ruling deadline)."""
    job = job_at(offer_id=offer_id, max_gpu_seconds=max_s)
    settle_job(escrow, job, rando, sign, attest, billed)
    j = escrow.getJob(job)
    reserve = blockers(escrow, j["provider"])[
        0
    ]  # the provider's only job: its dispute reserve is all that is locked
    tx = escrow.dispute(job, b"\x01" * 32, {"from": client})
    slash = int(j["deposit"]) * DISPUTE_SLASH_BPS // BPS
    deadline = tx.timestamp + RULING_PERIOD
    ev = tx.events["DisputeFrozen"]
    assert (ev["jobId"], ev["rulingDeadline"], ev["frozen"]) == (job, deadline, max(slash - reserve, 0))
    assert escrow.getJob(job)["deadline"] == deadline
    return job, reserve, slash, deadline


def test_one_wei_dispute_freezes_only_its_reserve(
    escrow, staking, token, staked_provider, client, rando, sign, attest, arbiter, dust_offer, job_at
):
    provider = staked_provider
    job, reserve, slash, _ = disputed(escrow, job_at, rando, sign, attest, client, dust_offer, 1, 1)
    assert (reserve, slash) == (1, 1)  # 1 wei paid, 1 wei locked; the ruling can take no more
    locked, open_disputes, _, frozen = blockers(escrow, provider)
    assert (locked, open_disputes, frozen) == (1, 1, 0)

    bonded = int(staking.stakeOf(provider)[0])
    with brownie.reverts(insufficient(provider, bonded - 1, bonded)):
        staking.requestUnstake(bonded, {"from": provider})
    tx = staking.requestUnstake(bonded - 1, {"from": provider})  # everything but the 1-wei reserve
    assert tuple(int(x) for x in staking.stakeOf(provider)[:2]) == (1, bonded - 1)

    # The unbonding period (7 days) ends before the ruling deadline (14 days): the stake leaves, the dispute stays.
    warp(tx.timestamp + UNBONDING_PERIOD)
    assert escrow.getJob(job)["status"] == DISPUTED
    before = token.balanceOf(provider)
    staking.withdraw({"from": provider})
    assert token.balanceOf(provider) - before == bonded - 1

    # The ruling still finds what it can slash.
    c_before = token.balanceOf(client)
    tx = escrow.resolveDispute(job, True, {"from": arbiter})
    assert tx.events["DisputeResolved"]["slashed"] == 1
    assert token.balanceOf(client) - c_before == 1 + DISPUTE_BOND


def test_dispute_freezes_what_its_ruling_can_slash_beyond_the_reserve(
    escrow, staking, token, staked_provider, client, rando, sign, attest, arbiter, job_at
):
    """A 3.6-token job billed 1 token: the reserve (1 token, raised to what it paid) is locked, and the other 2.6
    tokens of the slash (100% of the deposit) stay in free stake; the rest of the stake can be unstaked, and the
    upheld ruling still takes its whole slash."""
    provider = staked_provider
    job, reserve, slash, _ = disputed(escrow, job_at, rando, sign, attest, client, 1, 3600, 1000)
    assert (reserve, slash) == (1000 * PRICE, 3600 * PRICE)
    frozen = slash - reserve
    assert blockers(escrow, provider)[3] == frozen
    bonded = int(staking.stakeOf(provider)[0])
    free = bonded - reserve - frozen
    with brownie.reverts(insufficient(provider, free, free + 1)):
        staking.requestUnstake(free + 1, {"from": provider})
    staking.requestUnstake(free, {"from": provider})
    with brownie.reverts(insufficient(provider, 0, 1)):
        staking.requestUnstake(1, {"from": provider})

    tx = escrow.resolveDispute(job, True, {"from": arbiter})
    assert tx.events["DisputeResolved"]["slashed"] == slash
    assert blockers(escrow, provider)[::3] == (0, 0)  # nothing locked or frozen any more
    assert int(staking.stakeOf(provider)[0]) == 0


def test_unbonding_stake_stays_while_free_stake_cannot_cover_the_freeze(
    escrow, staking, token, staked_provider, client, rando, sign, attest, arbiter, job_at
):
    """The provider unbonds all its free stake right after the settlement (the drain before the dispute): the ruling
    needs the unbonding stake, so withdraw waits for the ruling, with the values in the error."""
    provider = staked_provider
    job = job_at(offer_id=1, max_gpu_seconds=3600)
    settle_job(escrow, job, rando, sign, attest, 1000)
    bonded, reserve = int(staking.stakeOf(provider)[0]), blockers(escrow, provider)[0]
    tx = staking.requestUnstake(bonded - reserve, {"from": provider})
    release_at = tx.timestamp + UNBONDING_PERIOD
    escrow.dispute(job, b"\x01" * 32, {"from": client})
    frozen = blockers(escrow, provider)[3]
    assert frozen == 2600 * PRICE

    t = release_at + 1
    with (
        at(t),
        brownie.reverts(err("ProviderStakingDisputeFrozen(address,uint256,uint256)", provider, frozen, 0)),
    ):
        staking.withdraw({"from": provider})
    # Bonding the frozen amount again into free stake is enough: the ruling takes free stake first.
    token.transfer(provider, frozen, {"from": rando})
    token.approve(staking, frozen, {"from": provider})
    staking.stake(frozen, {"from": provider})
    before = token.balanceOf(provider)
    staking.withdraw({"from": provider})
    assert token.balanceOf(provider) - before == bonded - reserve
    assert escrow.getJob(job)["status"] == DISPUTED
    tx = escrow.resolveDispute(job, True, {"from": arbiter})
    assert tx.events["DisputeResolved"]["slashed"] == 3600 * PRICE


def test_dispute_not_ruled_by_its_deadline_lapses(
    escrow, staking, token, staked_provider, client, rando, sign, attest, arbiter, deployer, job_at
):
    provider = staked_provider
    job, reserve, slash, deadline = disputed(escrow, job_at, rando, sign, attest, client, 1, 3600, 1000)
    settled_at = int(escrow.getJob(job)["settledAt"])
    # Governance shortens the ruling period afterwards: the pending dispute keeps its deadline.
    escrow.setParameter(PARAM_RULING_PERIOD, DAY, {"from": deployer})
    assert escrow.rulingPeriod() == DAY
    assert escrow.getJob(job)["deadline"] == deadline

    # Before (and at) the deadline the lapse is refused, with the deadline and the time.
    for t in (now() + DAY + 5, deadline):
        with (
            at(t),
            brownie.reverts(
                err("JobEscrowRulingDeadlineNotReached(uint256,uint256,uint256)", job, deadline, t)
            ),
        ):
            escrow.closeUnruledDispute(job, {"from": rando})

    # After it the arbiter can no longer rule.
    t = deadline + 1
    with (
        at(t),
        brownie.reverts(err("JobEscrowRulingDeadlinePassed(uint256,uint256,uint256)", job, deadline, t)),
    ):
        escrow.resolveDispute(job, True, {"from": arbiter})

    bonded = int(staking.stakeOf(provider)[0])
    c_before, e_before = token.balanceOf(client), token.balanceOf(escrow)
    tx = escrow.closeUnruledDispute(job, {"from": rando})  # anyone may close it
    ev = tx.events["DisputeLapsed"]
    assert (ev["jobId"], ev["client"], ev["bond"], ev["frozen"]) == (
        job,
        client,
        DISPUTE_BOND,
        slash - reserve,
    )
    assert tx.events["CollateralReleased"]["amount"] == reserve
    assert escrow.getJob(job)["status"] == LAPSED
    assert token.balanceOf(client) - c_before == DISPUTE_BOND
    assert e_before - token.balanceOf(escrow) == DISPUTE_BOND
    assert blockers(escrow, provider) == (0, 0, settled_at + DISPUTE_WINDOW, 0)
    assert escrow.providerRecord(provider)["openDisputes"] == 0
    assert int(staking.stakeOf(provider)[0]) == bonded  # nothing slashed
    assert not staking.stakeOf(provider)[3]  # nor jailed

    with brownie.reverts(wrong_status(job, LAPSED, DISPUTED)):
        escrow.resolveDispute(job, False, {"from": arbiter})
    with brownie.reverts(wrong_status(job, LAPSED, DISPUTED)):
        escrow.closeUnruledDispute(job, {"from": rando})
    staking.requestUnstake(bonded, {"from": provider})  # the whole stake can go


def test_ruling_at_the_deadline_still_counts(escrow, client, rando, sign, attest, arbiter, job_at):
    job, _, _, deadline = disputed(escrow, job_at, rando, sign, attest, client, 1, 3600, 1000)
    with at(deadline):
        escrow.resolveDispute(job, False, {"from": arbiter})
    assert escrow.getJob(job)["status"] == REJECTED


def test_ruling_period_is_capped(escrow, deployer):
    for bad in (DAY - 1, 60 * DAY + 1):
        with brownie.reverts(
            err(
                "JobEscrowParameterOutOfRange(uint8,uint256,uint256,uint256)",
                PARAM_RULING_PERIOD,
                bad,
                DAY,
                60 * DAY,
            )
        ):
            escrow.setParameter(PARAM_RULING_PERIOD, bad, {"from": deployer})
    assert escrow.rulingPeriod() == RULING_PERIOD
