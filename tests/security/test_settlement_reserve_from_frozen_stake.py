"""Attack (outside review of 2026-12-02, round 3): a settlement raises a job's dispute reserve out of
stake that an open dispute froze for its ruling.

createJob and acceptLease no longer lock frozen stake, but JobEscrow._settleOne still sizes the raise of a dispute
reserve (collateral -> what the job paid) from `bonded - lease locked - job locked` (settlementContext), ignoring
both escrows' frozen sums. The raised reserve is locked collateral, which every ruling slashes around
(keepBonded). So a provider with a lease checkpoint (or a job) under dispute has its second wallet run a job on a
high-priced offer of its own, settles it for its whole deposit, and the frozen stake becomes that job's reserve:
the ruling finds only what is left. The second wallet's payment goes back to the provider (less the fee); the
reserve is released a dispute window later, and the provider can repeat to cover the whole ruling period.

What must hold (docs/PROTOCOL.md, "Staking, slashing and disputes"): "While a ruling is pending, the slashable
amount stays reachable ... nothing locked after the settlement shields it"; frozen stake is not free for new work.
"""

import pytest

from tests.fixtures.contracts import COLLATERAL_BPS, E18, PRICE
from tests.fixtures.jobs import SPEC_HASH
from tests.fixtures.leases import COLLATERAL_SECONDS, LEASE_DISPUTE_SLASH_BPS

from .conftest import BPS, DAY, now, receipt_for

pytestmark = pytest.mark.usefixtures("staked_provider")
RATE = 2 * PRICE
COLLATERAL = RATE * COLLATERAL_SECONDS
HIGH_PRICE = E18  # the provider's own offer: 1 token per GPU-second
REASON = b"\x0f" * 32


def test_a_settlement_cannot_turn_frozen_stake_into_a_dispute_reserve(
    lease_escrow, escrow, staking, token, create_lease, checkpoint, submit, client, client2, staked_provider,
    arbiter, sign, attest, rando
):
    provider, wallet2 = staked_provider, client2
    # A client's lease pays the provider 7,200 tokens; the client disputes the checkpoint.
    lease_id = create_lease(hours=1000)
    submit([checkpoint(lease_id, seconds=1000 * 3600)])
    lease_escrow.disputeCheckpoint(lease_id, REASON, {"from": client})
    slash = 1000 * 3600 * RATE * LEASE_DISPUTE_SLASH_BPS // BPS
    # Since issue 8's third review the checkpoint locked the slash as the lease's ruling reserve: nothing is frozen,
    # and the reserve is what the settlement must not turn into a job's dispute reserve.
    assert int(lease_escrow.unstakeBlockers(provider)[3]) == 0
    assert int(lease_escrow.lockedCollateral(provider)) == COLLATERAL + slash
    frozen = slash
    bonded = int(staking.stakeOf(provider)[0])

    # The provider's second wallet opens a job on a high-priced offer of the provider's own. Its collateral fits the
    # stake that is really free (createJob checks the freeze), but what it pays is sized to the frozen stake.
    offer2 = staking.addOffer("H100", 4, 80, HIGH_PRICE, "ipfs://own", {"from": provider}).events["OfferAdded"][
        "offerId"]
    gpu_seconds = (bonded - COLLATERAL) // HIGH_PRICE - 3  # paid ~ everything not lease-locked
    assert gpu_seconds * HIGH_PRICE * COLLATERAL_BPS // BPS <= bonded - COLLATERAL - frozen
    token.approve(escrow, 2**256 - 1, {"from": wallet2})
    job = escrow.createJob(offer2, gpu_seconds, now() + 7 * DAY, SPEC_HASH, 4, HIGH_PRICE,
                           {"from": wallet2}).events["JobCreated"]["jobId"]
    escrow.acceptJob(job, {"from": provider})
    r = receipt_for(escrow, job, gpu_seconds=gpu_seconds)
    tx = escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})
    reserve = tx.events["JobSettled"]["reserve"]

    # The invariant the freeze stands for: free stake (bonded less both escrows' locks) still covers both freezes.
    job_locked, _, _, job_frozen = (int(x) for x in escrow.unstakeBlockers(provider))
    lease_locked = int(lease_escrow.lockedCollateral(provider))
    free_after = int(staking.stakeOf(provider)[0]) - job_locked - lease_locked
    print(f"reserve raised to {reserve / E18} tokens; free stake {free_after / E18} vs frozen {frozen / E18}")

    # The arbiter upholds the lease dispute within its ruling period (and within the job's dispute window).
    tx = lease_escrow.resolveCheckpointDispute(lease_id, True, {"from": arbiter})
    slashed = tx.events["CheckpointDisputeResolved"]["slashed"]
    compensation = tx.events["CheckpointDisputeResolved"]["compensation"]
    print(f"ruling slashed {slashed / E18} tokens of {slash / E18}; client compensated {compensation / E18}")
    assert slashed == slash, "the ruling found the frozen stake locked as a raised reserve"
    assert free_after >= job_frozen, "the settlement locked the lease's ruling reserve as a dispute reserve"
