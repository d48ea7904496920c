"""Attack (outside audit after issue 8, medium): a ruling draws on other clients' held timeout slashes before the
provider's free stake, so a provider redirects a timed-out client's compensation to its own second wallet.

What must hold (docs/PROTOCOL.md): a ruling takes the provider's free stake first, then unbonding stake, and only
then what is held for timed-out clients; a held slash the ruling did not need goes to its client once the hold is
released (no dispute open and the provider's dispute windows closed).
"""

from tests.fixtures.contracts import TIMEOUT_GRACE
from tests.fixtures.jobs import SPEC_HASH
from tests.helpers.limits import limits

from .conftest import DAY, HOUR, MAX_U256, at, now, receipt_for, warp


def open_job(escrow, token, sender, max_gpu_seconds, deadline):
    if token.allowance(sender, escrow) < 2**255:
        token.approve(escrow, MAX_U256, {"from": sender})
    return escrow.createJob(1, max_gpu_seconds, deadline, SPEC_HASH, *limits(escrow, 1),
                            {"from": sender}).events["JobCreated"]["jobId"]


def test_ruling_takes_free_stake_before_a_real_clients_held_slash(escrow, staking, token, staked_provider, client,
                                                                  rando, worker, arbiter, sign, attest, accounts):
    provider = staked_provider
    wallet = accounts[9]
    token.transfer(wallet, 1_000 * 10**18, {"from": rando})

    c_job = open_job(escrow, token, client, 1_000_000, now() + 10 * HOUR)  # 1,000 deposit, 200 collateral
    escrow.acceptJob(c_job, {"from": provider})
    w_job = open_job(escrow, token, wallet, 100_000, now() + 9 * HOUR)  # 100 deposit
    escrow.acceptJob(w_job, {"from": worker})
    r = receipt_for(escrow, w_job, gpu_seconds=100_000)
    escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})
    settled_at = escrow.getJob(w_job)["settledAt"]
    escrow.dispute(w_job, b"\x02" * 32, {"from": wallet})

    deadline = escrow.getJob(c_job)["deadline"]
    with at(deadline + TIMEOUT_GRACE):
        tx = escrow.claimTimeout(c_job, {"from": client})
    held = tx.events["TimeoutSlashHeld"]["amount"]
    assert held == 100 * 10**18

    bonded_before = staking.stakeOf(provider)[0]
    tx = escrow.resolveDispute(w_job, True, {"from": arbiter})
    assert tx.events["DisputeResolved"]["slashed"] == 100 * 10**18
    assert staking.stakeOf(provider)[0] == bonded_before - 100 * 10**18  # the provider's own stake paid
    assert escrow.heldSlashes(provider)[0] == held  # the client's held slash is untouched

    warp(settled_at + DAY + 1)  # the provider's dispute window has closed: the hold is released
    c_before = token.balanceOf(client)
    escrow.claimHeldSlash(c_job, {"from": client})
    assert token.balanceOf(client) - c_before == held  # C's whole timeout compensation
