"""Attack (audit after issue 8): a ruling draws on other clients' held timeout slashes before the provider's free
stake, so a provider redirects a timed-out client's compensation to its own second wallet and keeps its stake.

`_penalize` takes `min(amount, held)` from the hold first and only the rest from free stake. The held amount is
what timed-out clients were owed. Sequence: the provider's second wallet W runs a small job the provider settles
badly on purpose (upheld on the merits); W disputes. A real client C's job times out while the dispute is open:
C's slash is held. The ruling takes the whole slash out of C's held share and pays it to W as compensation; the
provider's 9,000+ free stake is not touched; C's `claimHeldSlash` pays 0.
"""

from tests.fixtures.contracts import DISPUTE_BOND, PRICE, TIMEOUT_GRACE
from tests.fixtures.jobs import SPEC_HASH

from .conftest import GPU_COUNT, HOUR, MAX_U256, at, now, receipt_for


def open_job(escrow, token, sender, max_gpu_seconds, deadline):
    if token.allowance(sender, escrow) < 2**255:
        token.approve(escrow, MAX_U256, {"from": sender})
    return escrow.createJob(1, max_gpu_seconds, deadline, SPEC_HASH, GPU_COUNT, PRICE,
                            {"from": sender}).events["JobCreated"]["jobId"]


def test_ruling_pays_the_second_wallet_out_of_a_real_clients_held_slash(escrow, staking, token, staked_provider,
                                                                         client, rando, worker, arbiter, sign,
                                                                         attest, accounts):
    provider = staked_provider
    wallet = accounts[9]
    token.transfer(wallet, 1_000 * 10**18, {"from": rando})

    c_job = open_job(escrow, token, client, 1_000_000, now() + 10 * HOUR)  # 1,000 deposit, 200 collateral
    escrow.acceptJob(c_job, {"from": provider})
    w_job = open_job(escrow, token, wallet, 100_000, now() + 9 * HOUR)  # 100 deposit
    escrow.acceptJob(w_job, {"from": worker})
    r = receipt_for(escrow, w_job, gpu_seconds=100_000)
    escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})
    escrow.dispute(w_job, b"\x02" * 32, {"from": wallet})

    deadline = escrow.getJob(c_job)["deadline"]
    with at(deadline + TIMEOUT_GRACE):
        tx = escrow.claimTimeout(c_job, {"from": client})
    held = tx.events["TimeoutSlashHeld"]["amount"]
    assert held == 100 * 10**18

    bonded_before = staking.stakeOf(provider)[0]
    free = bonded_before - escrow.unstakeBlockers(provider)[0]
    assert free > 9_000 * 10**18  # plenty of free stake to pay the ruling
    w_before = token.balanceOf(wallet)
    tx = escrow.resolveDispute(w_job, True, {"from": arbiter})
    assert tx.events["DisputeResolved"]["slashed"] == 100 * 10**18
    assert token.balanceOf(wallet) - w_before == 100 * 10**18 + DISPUTE_BOND  # W made whole ...
    # ... entirely out of C's held slash; the provider's bonded stake did not move (its reserve went back to free)
    assert staking.stakeOf(provider)[0] == bonded_before

    c_before = token.balanceOf(client)
    escrow.claimHeldSlash(c_job, {"from": client})
    assert token.balanceOf(client) == c_before  # C's timeout compensation: 0 of 100
    # Net: the provider kept W's 97.5 payment (W got its 100 back) and paid C nothing for the timeout.
