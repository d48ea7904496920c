"""Attack (outside audit, issue 8, lower finding 8): tokens sent straight to an escrow (a plain `transfer`, a mistaken
payment, a griefer's dust) break "the escrow's balance equals what it owes" and are stuck for good; and any sweep
added to recover them must never reach what the escrow owes.

What must hold (docs/PROTOCOL.md, "Invariants"): the job escrow keeps, on chain, the running total of what it owes
(`owed()`: open deposits, unclaimed refunds, earnings, fees, bonds, held slashes), changed only where tokens enter
or leave it; its balance is at least that total; governance alone may send the excess (balance - owed) to the
treasury (`sweepExcess`), which reverts with `JobEscrowNothingToSweep(balance, owed)` when there is none. Checked
with jobs in every state, before and after the sweep, and by paying every party out afterwards.

The lease escrow has no running total and no sweep (SECURITY.md, "Known limits": a top-up would have to write the
total, over its gas target): stray tokens sent to it stay locked. Checked: its balance still covers what its views
say it owes, every party is paid in full, and nobody can take the stray tokens.
"""

import brownie
import pytest

from tests.fixtures.contracts import DISPUTE_BOND, TIMEOUT_GRACE
from tests.fixtures.leases import L_CANCELLED, L_DISPUTED, L_ENDED, L_OPEN, L_RUNNING, LEASE_DISPUTE_BOND

from .conftest import DAY, HOUR, err, events_of, now, receipt_for, warp
from .lease_support import owed_by

pytestmark = pytest.mark.usefixtures("staked_provider")

STRAY = 123 * 10**18 + 7
OPEN, RUNNING, SETTLED, CANCELLED, TIMED_OUT, DISPUTED = 1, 2, 3, 4, 5, 6


def job_liabilities(escrow, providers):
    """What the job escrow owes, from its own views (not from owed()): open deposits, refunds, bonds, earnings,
    fees and timeout slashes held for rulings."""
    owed = escrow.accruedFees()
    for p in providers:
        owed += escrow.providerRecord(p)["earnings"] + sum(escrow.heldSlashes(p))
    for job_id in range(1, escrow.jobCount() + 1):
        j = escrow.getJob(job_id).dict()
        owed += j["deposit"] if j["status"] in (OPEN, RUNNING) else j["refundable"]
        if j["status"] == DISPUTED:
            owed += j["disputeBond"]
    return owed


def nothing_to_sweep(contract, prefix, token):
    bal = token.balanceOf(contract)
    return err(f"{prefix}NothingToSweep(uint256,uint256)", bal, bal)


# ------------------------------------------------------------------ jobs


@pytest.fixture
def jobs_everywhere(escrow, token, staked_provider, client, arbiter, job_at, sign, attest, rando):
    """Jobs in every state that holds tokens: open, running, settled with an unclaimed refund (earnings and fees
    accrued), disputed (bond), cancelled, timed out with its slash held for the dispute's ruling."""
    provider = staked_provider

    def settle(job_id, gpu_seconds):
        r = receipt_for(escrow, job_id, gpu_seconds=gpu_seconds)
        escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})

    late = job_at(deadline_in=HOUR)
    states = {"late": late, "settled": job_at(), "disputed": job_at()}
    settle(states["settled"], 1000)
    settle(states["disputed"], 2000)
    escrow.dispute(states["disputed"], b"\x01" * 32, {"from": client})
    states["cancelled"] = job_at(accept=False)
    escrow.cancelJob(states["cancelled"], {"from": client})
    states["running"] = job_at()
    warp(escrow.getJob(late)["deadline"] + TIMEOUT_GRACE)
    tx = escrow.claimTimeout(late, {"from": rando})
    assert tx.events["TimeoutSlashHeld"]["amount"] > 0  # a dispute is open: the slash stays in the escrow
    states["open"] = job_at(accept=False)
    want = {"late": TIMED_OUT, "settled": SETTLED, "disputed": DISPUTED, "cancelled": CANCELLED, "running": RUNNING,
            "open": OPEN}
    assert {k: escrow.getJob(v)["status"] for k, v in states.items()} == want
    assert escrow.getJob(states["settled"])["refundable"] > 0
    assert escrow.providerRecord(provider)["earnings"] > 0 and escrow.accruedFees() > 0
    return states


def test_job_escrow_owed_total_tracks_every_state_and_the_sweep_finds_nothing(escrow, token, staked_provider,
                                                                               provider2, deployer, jobs_everywhere):
    owed = escrow.owed()
    assert owed == job_liabilities(escrow, [staked_provider, provider2]) > 0
    assert token.balanceOf(escrow) == owed
    with brownie.reverts(nothing_to_sweep(escrow, "JobEscrow", token)):
        escrow.sweepExcess({"from": deployer})
    assert token.balanceOf(escrow) == owed == escrow.owed()


def test_tokens_sent_straight_to_the_job_escrow_go_to_the_treasury_and_nothing_owed_moves(
        escrow, token, staked_provider, provider2, client, arbiter, deployer, treasury, rando, jobs_everywhere, sign,
        attest):
    provider = staked_provider
    owed = escrow.owed()
    token.transfer(escrow, STRAY, {"from": rando})  # straight in: no function of the escrow is called
    assert token.balanceOf(escrow) == owed + STRAY
    assert escrow.owed() == owed  # the stray tokens are owed to nobody

    treasury_before = token.balanceOf(treasury)
    tx = escrow.sweepExcess({"from": deployer})
    assert tx.return_value == STRAY
    assert dict(tx.events["ExcessSwept"]) == {"treasury": treasury, "amount": STRAY, "owed": owed}
    assert token.balanceOf(treasury) == treasury_before + STRAY
    assert token.balanceOf(escrow) == owed == escrow.owed() == job_liabilities(escrow, [provider, provider2])
    with brownie.reverts(nothing_to_sweep(escrow, "JobEscrow", token)):
        escrow.sweepExcess({"from": deployer})

    # Everything owed is still there: pay every party out, and the escrow ends empty.
    s = jobs_everywhere
    r = receipt_for(escrow, s["running"], gpu_seconds=500)
    escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})
    escrow.resolveDispute(s["disputed"], True, {"from": arbiter})
    escrow.claimRefunds([s["settled"], s["disputed"], s["running"]], {"from": rando})
    escrow.cancelJob(s["open"], {"from": client})
    warp(now() + 2 * DAY)  # the provider's dispute windows have closed: the held slash is released
    escrow.claimHeldSlash(s["late"], {"from": client})
    escrow.withdrawEarnings({"from": provider})
    escrow.withdrawFees({"from": rando})
    dust = token.balanceOf(escrow)
    assert dust == escrow.owed() == job_liabilities(escrow, [provider, provider2])
    assert dust < 10  # what the held slash's pro-rata rounding leaves, if anything


def test_only_governance_sweeps_the_job_escrow(escrow, token, deployer, treasury, guardian, arbiter, rando,
                                               staked_provider, client):
    token.transfer(escrow, STRAY, {"from": rando})
    for who in (rando, treasury, guardian, arbiter, staked_provider, client):
        with brownie.reverts(err("Unauthorized(address,bytes32)", who, "governance")):
            escrow.sweepExcess({"from": who})
    assert token.balanceOf(escrow) == STRAY and escrow.owed() == 0


def test_a_stray_payment_never_lets_a_withdrawal_take_more_than_owed(escrow, token, staked_provider, client, rando,
                                                                     job_at, sign, attest, deployer):
    """Stray tokens are not credited to anyone: the earnings withdrawn are the earnings earned, and the excess is
    left for the sweep, whoever sent it."""
    job_id = job_at()
    r = receipt_for(escrow, job_id, gpu_seconds=1000)
    escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})
    earnings = escrow.providerRecord(staked_provider)["earnings"]
    token.transfer(escrow, STRAY, {"from": staked_provider})
    tx = escrow.withdrawEarnings({"from": staked_provider})
    assert tx.events["EarningsWithdrawn"]["amount"] == earnings
    assert token.balanceOf(escrow) - escrow.owed() == STRAY
    assert escrow.sweepExcess({"from": deployer}).events["ExcessSwept"]["amount"] == STRAY


def test_a_dispute_bond_and_a_ruling_keep_the_owed_total(escrow, token, staked_provider, client, arbiter, rando,
                                                        job_at, sign, attest, deployer):
    job_id = job_at()
    r = receipt_for(escrow, job_id, gpu_seconds=1000)
    escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})
    before = escrow.owed()
    escrow.dispute(job_id, b"\x01" * 32, {"from": client})
    assert escrow.owed() == before + DISPUTE_BOND == token.balanceOf(escrow)
    tx = escrow.resolveDispute(job_id, True, {"from": arbiter})
    slashed, paid_back = tx.events["DisputeResolved"]["slashed"], tx.events["DisputeResolved"]["compensation"]
    assert slashed > 0
    # The slash came in from the staking contract; compensation and bond went out; the rest is the treasury's fee.
    assert escrow.owed() == before + slashed - paid_back == token.balanceOf(escrow)


# ----------------------------------------------------------------- leases


@pytest.fixture
def leases_everywhere(lease_escrow, token, client, create_lease, checkpoint, submit, rando):
    """Leases in every state that holds tokens: open, running and topped up, ended with an unclaimed refund,
    cancelled, disputed (bond); earnings and fees accrued."""
    le = lease_escrow
    states = {"cancelled": create_lease(gpus=1, accept=False)}
    le.cancelLease(states["cancelled"], {"from": client})
    states["ended"] = create_lease(gpus=1)
    submit([checkpoint(states["ended"], seconds=600)])
    le.closeLease(states["ended"], {"from": client})
    end = le.getLease(states["ended"])["billingEnd"]
    submit([checkpoint(states["ended"], to=end)])
    states["disputed"] = create_lease(gpus=1)
    submit([checkpoint(states["disputed"], seconds=600)])
    le.disputeCheckpoint(states["disputed"], b"\x01" * 32, {"from": client})
    states["running"] = create_lease(gpus=1)
    le.topUp(states["running"], 5 * 10**18, {"from": client})
    states["open"] = create_lease(gpus=1, accept=False)
    want = {"cancelled": L_CANCELLED, "ended": L_ENDED, "disputed": L_DISPUTED, "running": L_RUNNING,
            "open": L_OPEN}
    assert {k: le.getLease(v)["status"] for k, v in states.items()} == want
    assert le.getLease(states["ended"])["refundable"] > 0 and le.accruedFees() > 0
    return states


def test_tokens_sent_straight_to_the_lease_escrow_stay_locked_and_every_party_is_paid_in_full(
        lease_escrow, token, staked_provider, client, arbiter, deployer, treasury, rando, leases_everywhere):
    """The lease escrow keeps no running total and has no sweep (a top-up would have to write one, over its gas
    target; SECURITY.md, "Known limits"): stray tokens stay in it for good. What still holds: its balance covers
    everything its views say it owes, every party is paid exactly that, and nobody can take the stray tokens."""
    le, provider, s = lease_escrow, staked_provider, leases_everywhere
    assert not hasattr(le, "sweepExcess") and not hasattr(le, "owed")
    owed = owed_by(le, [provider])
    assert token.balanceOf(le) == owed > 0
    token.transfer(le, STRAY, {"from": rando})
    assert owed_by(le, [provider]) == owed  # owed to nobody
    assert token.balanceOf(le) == owed + STRAY

    # Pay every party out; each gets what the views said, and the escrow is left with exactly the stray tokens.
    tx = le.resolveCheckpointDispute(s["disputed"], True, {"from": arbiter})
    assert tx.events["CheckpointDisputeResolved"]["slashed"] > 0  # tokens came in from the staking contract
    assert token.balanceOf(le) - STRAY == owed_by(le, [provider])
    le.cancelLease(s["open"], {"from": client})
    warp(now() + 60)  # a close in the second of the acceptance would end the lease at once (nothing to expire)
    le.closeLease(s["running"], {"from": client})
    warp(now() + DAY)  # no final checkpoint for the running lease: its expiry refunds the client
    le.claimLeaseExpiry(s["running"], {"from": rando})
    assert token.balanceOf(le) - STRAY == owed_by(le, [provider])
    for lease_id in (s["ended"], s["disputed"]):
        refund = le.getLease(lease_id)["refundable"]
        assert refund > 0
        assert le.claimRefund(lease_id, {"from": rando}).events["LeaseRefundClaimed"]["amount"] == refund
    earnings, fees = le.providerRecord(provider)["earnings"], le.accruedFees()
    assert le.withdrawEarnings({"from": provider}).events["EarningsWithdrawn"]["amount"] == earnings > 0
    assert le.withdrawFees({"from": rando}).events["FeesWithdrawn"]["amount"] == fees > 0
    assert owed_by(le, [provider]) == 0
    assert token.balanceOf(le) == STRAY

    # Nobody can take them: every way out pays only what is owed, and nothing is.
    with brownie.reverts(err("LeaseEscrowNothingToClaim(address)", provider)):
        le.withdrawEarnings({"from": provider})
    with brownie.reverts(err("LeaseEscrowNothingToClaim(address)", treasury)):
        le.withdrawFees({"from": deployer})
    for lease_id in (s["ended"], s["disputed"]):
        with brownie.reverts(err("LeaseEscrowNothingToClaim(address)", client)):
            le.claimRefund(lease_id, {"from": rando})
    assert token.balanceOf(le) == STRAY


def test_a_lease_dispute_bond_and_top_up_are_covered_by_the_balance(lease_escrow, token, staked_provider, client,
                                                                    create_lease, checkpoint, submit, arbiter):
    le = lease_escrow
    lease_id = create_lease(gpus=1)
    before = owed_by(le, [staked_provider])
    le.topUp(lease_id, 10**18, {"from": client})
    assert owed_by(le, [staked_provider]) == before + 10**18 == token.balanceOf(le)
    submit([checkpoint(lease_id, seconds=600)])
    assert owed_by(le, [staked_provider]) == before + 10**18  # a checkpoint moves value inside the escrow
    le.disputeCheckpoint(lease_id, b"\x01" * 32, {"from": client})
    assert owed_by(le, [staked_provider]) == before + 10**18 + LEASE_DISPUTE_BOND == token.balanceOf(le)
    tx = le.resolveCheckpointDispute(lease_id, False, {"from": arbiter})
    assert events_of(tx, "CheckpointDisputeResolved")[0]["upheld"] is False
    assert owed_by(le, [staked_provider]) == before + 10**18 == token.balanceOf(le)
