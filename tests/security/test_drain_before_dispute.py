"""Attack (outside audit after issue 8, high): a provider that has just settled false receipts drains its free stake
to a second wallet through timeout slashes before the client files its dispute.

What must hold (docs/PROTOCOL.md): from a settlement until its dispute window closes (and while any dispute is
open), a timeout slash taken from the provider is held in the escrow, within reach of a ruling; the second wallet
gets its deposits back at once, the slashes only once the windows have closed. The ruling then takes what it asks
(100% of the disputed job's deposit), whatever was drained.
"""

import brownie

from tests.fixtures.contracts import DISPUTE_BOND, PRICE, TIMEOUT_GRACE
from tests.fixtures.jobs import SPEC_HASH
from tests.helpers.limits import limits

from .conftest import DAY, MAX_U256, UPHELD, at, err, now, receipt_for

BIG = 4_000_000  # GPU-seconds: a 4,000-token job, 800 tokens of collateral
MIN_RUN_TIME = 600
COLLATERAL_BPS = 2_000
BPS = 10_000


def open_job(escrow, token, sender, max_gpu_seconds, deadline):
    if token.allowance(sender, escrow) < 2**255:
        token.approve(escrow, MAX_U256, {"from": sender})
    return escrow.createJob(1, max_gpu_seconds, deadline, SPEC_HASH, *limits(escrow, 1), {"from": sender})


def test_second_wallet_cannot_drain_free_stake_before_the_dispute(escrow, staking, token, staked_provider, client,
                                                                 rando, worker, arbiter, sign, attest, accounts):
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

    timed_out = []
    for _ in range(6):
        free = staking.stakeOf(provider)[0] - escrow.unstakeBlockers(provider)[0]
        max_s = free * BPS // COLLATERAL_BPS // PRICE
        if max_s == 0:
            break
        job = open_job(escrow, token, wallet, max_s, now() + MIN_RUN_TIME + 30).events["JobCreated"]["jobId"]
        escrow.acceptJob(job, {"from": provider})  # the staking wallet: no budget applies
        deadline = escrow.getJob(job)["deadline"]
        with at(deadline + TIMEOUT_GRACE):
            tx = escrow.claimTimeout(job, {"from": wallet})
        assert tx.events["TimeoutSlashHeld"]["amount"] > 0  # held: a settlement of the provider is disputable
        timed_out.append(job)
    assert token.balanceOf(wallet) == start_total  # deposits back, no slash paid out
    t = now() + 5
    with at(t), brownie.reverts(err("JobEscrowHoldNotReleased(uint256,uint256,uint256)", timed_out[0],
                             settled_at + DAY, t)):
        escrow.claimHeldSlash(timed_out[0], {"from": wallet})
    assert now() < settled_at + DAY  # still inside the client's dispute window

    escrow.dispute(a_job, b"\x01" * 32, {"from": client})
    before = token.balanceOf(client)
    tx = escrow.resolveDispute(a_job, True, {"from": arbiter})
    assert escrow.getJob(a_job)["status"] == UPHELD
    assert tx.events["DisputeResolved"]["slashed"] == paid  # the whole 4,000 the ruling asked for
    assert token.balanceOf(client) - before == paid + DISPUTE_BOND
