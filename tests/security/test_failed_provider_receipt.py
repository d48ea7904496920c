"""Attack (outside audit, issue 8, lower finding 7, third part): a provider that accepted a job and never ran it
posts a FailedProvider receipt for 0 GPU-seconds instead of letting the job time out, and so escapes the timeout
slash that its silence would have cost it.

What must hold (docs/PROTOCOL.md, "A FailedProvider receipt"): a FailedProvider receipt costs the provider what its
silence would have. The job settles with nothing paid (Settled, JobSettled with outcome 2, as before), its whole
collateral is unlocked as a timeout unlocks it (it is no dispute reserve: nothing was paid), and the job's timeout
fraction of that collateral is slashed to the client exactly as claimTimeout slashes it: from free stake, then
unbonding stake, never the collateral of the provider's other jobs; held in the escrow for the client
(TimeoutSlashHeld, claimHeldSlash) while a dispute against the provider is open or one of its settled jobs is still
disputable.
"""

import brownie

from tests.fixtures.contracts import COLLATERAL_BPS, DISPUTE_WINDOW, PRICE, PROVIDER_STAKE, TIMEOUT_GRACE, \
    TIMEOUT_SLASH_BPS
from tests.fixtures.jobs import SPEC_HASH
from tests.helpers.revert import unauthorized
from tests.helpers.signing import COMPLETED, FAILED_PROVIDER

from .conftest import BPS, DAY, MAX_U256, RUNNING, SETTLED, at, err, fork, now, receipt_for, sign_r, attest_r, warp

E18 = 10**18


def open_job(escrow, token, sender, max_gpu_seconds, provider, deadline_in=2 * DAY, gpus=1):
    """A job on offer 1 for `gpus` GPUs (several can run at once on the 4-GPU offer), accepted by the provider."""
    if token.allowance(sender, escrow) < 2**255:
        token.approve(escrow, MAX_U256, {"from": sender})
    tx = escrow.createJob(1, max_gpu_seconds, now() + deadline_in, SPEC_HASH, gpus, PRICE, {"from": sender})
    job_id = tx.events["JobCreated"]["jobId"]
    escrow.acceptJob(job_id, {"from": provider})
    return job_id


def failed_receipt(escrow, job_id):
    """What a provider that never ran the job posts: FailedProvider, 0 GPU-seconds, no wall time."""
    j = escrow.getJob(job_id).dict()
    warp(j["acceptedAt"] + 60)
    return receipt_for(escrow, job_id, gpu_seconds=0, outcome=FAILED_PROVIDER, start=j["acceptedAt"],
                       end=j["acceptedAt"], advance=False)


def collateral_of(max_gpu_seconds):
    return -(-max_gpu_seconds * PRICE * COLLATERAL_BPS // BPS)


def timeout_slash_of(max_gpu_seconds):
    return collateral_of(max_gpu_seconds) * TIMEOUT_SLASH_BPS // BPS


def settle_one(escrow, r, sign, attest, rando):
    return escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})


def test_a_provider_that_never_ran_cannot_escape_the_timeout_slash_with_a_failed_provider_receipt(
        escrow, staking, token, staked_provider, client, rando, sign, attest):
    provider = staked_provider
    max_gs = 1_000_000  # 1,000 tokens of deposit, 200 of collateral
    job = open_job(escrow, token, client, max_gs, provider)
    collateral = collateral_of(max_gs)
    locked_before = escrow.providerRecord(provider)["lockedCollateral"]
    bonded_before = staking.stakeOf(provider)[0]

    # The twin ending: the provider stays silent and the job times out.
    with fork():
        deadline = escrow.getJob(job)["deadline"]
        c_before = token.balanceOf(client)
        with at(deadline + TIMEOUT_GRACE):
            tx = escrow.claimTimeout(job, {"from": client})
        timeout_slash = tx.events["JobTimedOut"]["slashed"]
        assert token.balanceOf(client) - c_before == max_gs * PRICE + timeout_slash
    assert timeout_slash == timeout_slash_of(max_gs) == 100 * E18

    # The attack: a FailedProvider receipt for 0 GPU-seconds instead.
    c_before = token.balanceOf(client)
    tx = settle_one(escrow, failed_receipt(escrow, job), sign, attest, rando)
    ev = tx.events["JobSettled"]
    # The events of today's FailedProvider settlement (the collateral as its reserve) and of a release of it.
    assert (ev["jobId"], ev["gpuSeconds"], ev["payout"], ev["fee"], ev["outcome"], ev["reserve"]) == (
        job, 0, 0, 0, FAILED_PROVIDER, collateral)
    rel = tx.events["CollateralReleased"]
    assert (rel["jobId"], rel["provider"], rel["amount"]) == (job, provider, collateral)
    assert escrow.getJob(job)["status"] == SETTLED
    assert tx.events["FailedProviderSlashed"]["amount"] == timeout_slash
    assert "TimeoutSlashHeld" not in tx.events  # no dispute open, nothing of the provider's is disputable
    # The client got what the timeout would have given it: the slash now, the deposit by claimRefunds.
    assert token.balanceOf(client) - c_before == timeout_slash
    assert staking.stakeOf(provider)[0] == bonded_before - timeout_slash
    assert escrow.providerRecord(provider)["lockedCollateral"] == locked_before - collateral
    escrow.claimRefunds([job], {"from": client})
    assert token.balanceOf(client) - c_before == timeout_slash + max_gs * PRICE
    assert escrow.providerRecord(provider)["jobsFailed"] == 1


def test_the_slash_is_held_while_a_dispute_against_the_provider_is_open(
        escrow, staking, token, staked_provider, client, client2, rando, arbiter, sign, attest):
    provider = staked_provider
    # client2's job settles (paid) and is disputed: the provider's stake is within a ruling's reach.
    paid_job = open_job(escrow, token, client2, 100_000, provider)
    r = receipt_for(escrow, paid_job, gpu_seconds=100_000)
    settle_one(escrow, r, sign, attest, rando)
    settled_at = escrow.getJob(paid_job)["settledAt"]
    escrow.dispute(paid_job, b"\x01" * 32, {"from": client2})

    max_gs = 1_000_000
    job = open_job(escrow, token, client, max_gs, provider)
    c_before = token.balanceOf(client)
    tx = settle_one(escrow, failed_receipt(escrow, job), sign, attest, rando)
    held = tx.events["TimeoutSlashHeld"]
    assert (held["jobId"], held["provider"], held["amount"]) == (job, provider, timeout_slash_of(max_gs))
    assert tx.events["FailedProviderSlashed"]["amount"] == timeout_slash_of(max_gs)
    assert token.balanceOf(client) == c_before  # held in the escrow, not paid out yet
    assert escrow.heldSlashes(provider)[0] == timeout_slash_of(max_gs)

    t = now() + 5
    with at(t), brownie.reverts(err("JobEscrowDisputesOpen(address,uint256)", provider, 1)):
        escrow.claimHeldSlash(job, {"from": client})
    escrow.resolveDispute(paid_job, False, {"from": arbiter})  # rejected: the hold is not drawn
    warp(settled_at + DISPUTE_WINDOW + 1)
    escrow.claimHeldSlash(job, {"from": client})
    assert token.balanceOf(client) - c_before == timeout_slash_of(max_gs)


def test_a_provider_with_no_free_stake_pays_from_the_jobs_own_collateral(
        escrow, staking, token, staked_provider, client, client2, rando, sign, attest):
    provider = staked_provider
    max_gs = 1_000_000  # 200 tokens of collateral
    job = open_job(escrow, token, client, max_gs, provider)
    # Another client's job locks all the rest: no free stake is left.
    rest = PROVIDER_STAKE - collateral_of(max_gs)
    other = open_job(escrow, token, client2, rest * BPS // COLLATERAL_BPS // PRICE, provider)
    assert collateral_of(escrow.getJob(other)["maxGpuSeconds"]) == rest
    assert staking.stakeOf(provider)[0] == escrow.providerRecord(provider)["lockedCollateral"] == PROVIDER_STAKE

    c_before = token.balanceOf(client)
    tx = settle_one(escrow, failed_receipt(escrow, job), sign, attest, rando)
    assert tx.events["FailedProviderSlashed"]["amount"] == timeout_slash_of(max_gs)
    assert token.balanceOf(client) - c_before == timeout_slash_of(max_gs)
    # The other client's collateral is untouched and still covered.
    assert escrow.providerRecord(provider)["lockedCollateral"] == rest
    assert staking.stakeOf(provider)[0] == PROVIDER_STAKE - timeout_slash_of(max_gs)

    # The collateral went back at settlement: releasing it after the window releases nothing twice.
    warp(escrow.getJob(job)["settledAt"] + DISPUTE_WINDOW + 1)
    with brownie.reverts(err("JobEscrowNothingToClaim(address)", rando)):
        escrow.releaseCollateral([job], {"from": rando})
    assert escrow.providerRecord(provider)["lockedCollateral"] == rest


def test_a_batch_mixing_a_failed_provider_receipt_with_completed_ones_settles_all(
        escrow, staking, token, staked_provider, client, client2, rando, worker_key, oracle_key):
    provider = staked_provider
    a = open_job(escrow, token, client2, 100_000, provider)
    b = open_job(escrow, token, client, 1_000_000, provider)
    c = open_job(escrow, token, client2, 200_000, provider)
    locked_before = escrow.providerRecord(provider)["lockedCollateral"]
    bonded_before = staking.stakeOf(provider)[0]
    earnings_before = escrow.providerRecord(provider)["earnings"]
    ra = receipt_for(escrow, a, gpu_seconds=50_000)
    rc = receipt_for(escrow, c, gpu_seconds=120_000)
    rb = failed_receipt(escrow, b)
    rs = [ra, rb, rc]
    tx = escrow.settleBatch([r.as_tuple() for r in rs], [sign_r(r, worker_key, escrow) for r in rs],
                            attest_r(rs, [oracle_key], escrow), {"from": rando})
    settled = {e["jobId"]: e for e in tx.events["JobSettled"]}
    assert set(settled) == {a, b, c}
    assert [settled[j]["outcome"] for j in (a, b, c)] == [COMPLETED, FAILED_PROVIDER, COMPLETED]
    assert settled[a]["gpuSeconds"] == 50_000 and settled[c]["gpuSeconds"] == 120_000
    assert settled[b]["gpuSeconds"] == settled[b]["payout"] == 0
    assert tx.events["CollateralReleased"]["amount"] == settled[b]["reserve"] == collateral_of(1_000_000)
    payouts = settled[a]["payout"] + settled[c]["payout"]
    assert settled[a]["payout"] + settled[a]["fee"] == 50_000 * PRICE
    assert settled[c]["payout"] + settled[c]["fee"] == 120_000 * PRICE
    assert escrow.providerRecord(provider)["earnings"] == earnings_before + payouts
    # a settled (paid, disputable) earlier in this batch: b's slash is held for the client.
    slash = timeout_slash_of(1_000_000)
    assert tx.events["TimeoutSlashHeld"]["jobId"] == b
    assert tx.events["TimeoutSlashHeld"]["amount"] == slash
    assert escrow.heldSlashes(provider)[0] == slash
    assert staking.stakeOf(provider)[0] == bonded_before - slash
    # b's collateral is unlocked; a's and c's stay locked as their reserves (raised to what they paid).
    assert escrow.providerRecord(provider)["lockedCollateral"] == (
        locked_before - collateral_of(100_000) - collateral_of(1_000_000) - collateral_of(200_000)
        + settled[a]["reserve"] + settled[c]["reserve"])
    assert settled[a]["reserve"] == 50_000 * PRICE and settled[c]["reserve"] == 120_000 * PRICE

    # Once the windows close with no dispute, b's client claims the held slash.
    warp(escrow.getJob(a)["settledAt"] + DISPUTE_WINDOW + 1)
    c_before = token.balanceOf(client)
    escrow.claimHeldSlash(b, {"from": client})
    assert token.balanceOf(client) - c_before == slash


def test_first_in_the_batch_the_failed_provider_slash_goes_straight_to_the_client(
        escrow, staking, token, staked_provider, client, client2, rando, worker_key, oracle_key):
    provider = staked_provider
    b = open_job(escrow, token, client, 1_000_000, provider)
    a = open_job(escrow, token, client2, 100_000, provider)
    rb = failed_receipt(escrow, b)
    ra = receipt_for(escrow, a, gpu_seconds=50_000)
    rs = [rb, ra]
    c_before = token.balanceOf(client)
    tx = escrow.settleBatch([r.as_tuple() for r in rs], [sign_r(r, worker_key, escrow) for r in rs],
                            attest_r(rs, [oracle_key], escrow), {"from": rando})
    assert len(tx.events["JobSettled"]) == 2
    assert "TimeoutSlashHeld" not in tx.events
    assert token.balanceOf(client) - c_before == timeout_slash_of(1_000_000)


def test_the_desks_failed_provider_settlement_runs_only_inside_settlement(escrow, JobEscrowDesk, token,
                                                                          staked_provider, client, rando):
    """settleFailedProvider is reachable only by JobEscrow's settlement (delegatecall, inside its guard): called on the
    desk it is refused, and JobEscrow itself has no such function."""
    from .test_governance_edges import desk_of

    job = open_job(escrow, token, client, 1_000_000, staked_provider)
    desk = desk_of(escrow, JobEscrowDesk)
    with brownie.reverts(unauthorized(rando, "settlement")):
        desk.settleFailedProvider(job, {"from": rando})
    data = desk.settleFailedProvider.encode_input(job)
    with brownie.reverts():
        rando.transfer(escrow, 0, data=data)
    assert escrow.getJob(job)["status"] == RUNNING
