"""Attack (audit after issue 8, the high finding's first case): a provider that has just settled false receipts
drains its free stake to a second wallet through timeout slashes before the client files its dispute.

The hold only starts once a dispute is open; the settled job's reserve is its collateral (20% of the deposit)
while the ruling may slash 100% of it. Within the dispute window, the provider's second wallet opens jobs whose
collateral is all the free stake, the staking wallet accepts them at once (no worker budget), and after the
minimum run time + grace the second wallet collects deposit + 50% of the collateral. Six rounds take about two
hours of the 24-hour window; the ruling then finds the reserve and crumbs.
"""

from tests.fixtures.contracts import COLLATERAL_BPS, DISPUTE_BOND, PRICE, TIMEOUT_GRACE
from tests.fixtures.jobs import SPEC_HASH

from .conftest import BPS, DAY, GPU_COUNT, MAX_U256, UPHELD, at, now, receipt_for

BIG = 4_000_000  # GPU-seconds: a 4,000-token job, 800 tokens of collateral
MIN_RUN_TIME = 600


def open_job(escrow, token, sender, max_gpu_seconds, deadline):
    if token.allowance(sender, escrow) < 2**255:
        token.approve(escrow, MAX_U256, {"from": sender})
    return escrow.createJob(1, max_gpu_seconds, deadline, SPEC_HASH, GPU_COUNT, PRICE, {"from": sender})


def test_second_wallet_drains_free_stake_before_the_dispute(escrow, staking, token, staked_provider, client, rando,
                                                           worker, arbiter, sign, attest, accounts):
    provider = staked_provider
    wallet = accounts[9]  # the provider's second wallet
    token.transfer(wallet, 100_000 * 10**18, {"from": rando})
    start_total = token.balanceOf(wallet)

    a_job = open_job(escrow, token, client, BIG, now() + 20 * DAY).events["JobCreated"]["jobId"]
    escrow.acceptJob(a_job, {"from": worker})
    r = receipt_for(escrow, a_job, gpu_seconds=BIG)
    escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})
    settled_at = escrow.getJob(a_job)["settledAt"]
    paid = BIG * PRICE
    reserve = -(-paid * COLLATERAL_BPS // BPS)

    for _ in range(6):
        free = staking.stakeOf(provider)[0] - escrow.unstakeBlockers(provider)[0]
        max_s = free * BPS // COLLATERAL_BPS // PRICE
        job = open_job(escrow, token, wallet, max_s, now() + MIN_RUN_TIME + 30).events["JobCreated"]["jobId"]
        escrow.acceptJob(job, {"from": provider})  # the staking wallet: no budget applies
        deadline = escrow.getJob(job)["deadline"]
        with at(deadline + TIMEOUT_GRACE):
            escrow.claimTimeout(job, {"from": wallet})
    drained = token.balanceOf(wallet) - start_total
    assert drained > 9_000 * 10**18  # of 9,200 free
    assert now() < settled_at + DAY  # still inside the client's dispute window

    escrow.dispute(a_job, b"\x01" * 32, {"from": client})
    before = token.balanceOf(client)
    tx = escrow.resolveDispute(a_job, True, {"from": arbiter})
    assert escrow.getJob(a_job)["status"] == UPHELD
    slashed = tx.events["DisputeResolved"]["slashed"]
    assert slashed < reserve + 200 * 10**18  # about 944 of the 4,000 the ruling asked for
    assert token.balanceOf(client) - before == slashed + DISPUTE_BOND
    # Without the drain the same ruling takes the whole 4,000 (free stake was 9,200).
