"""Attack (outside review of 2026-12-02, round 3, finding 2; fixed: each checkpoint locks the ruling
reserve its period adds): between a lease checkpoint and the client's
dispute, nothing keeps what the ruling will slash within reach.

For jobs, settlement raises the dispute reserve to what the job paid, so a second wallet's job opened before the
dispute shields nothing (the second review's High "ruling shield"). A lease checkpoint reserves nothing: the lease
keeps only its collateral (rate x collateralSeconds, one hour here) while an upheld ruling slashes
`paid x disputeSlashBps` (1,000 hours here). The freeze is computed only when the dispute opens. So within the
dispute window (or by front-running `disputeCheckpoint`) the provider's second wallet opens a job on the provider's
own offer whose collateral takes all free stake, the provider accepts it with a deadline past the ruling period, and
the upheld ruling finds the lease's collateral alone. The job then times out: its timeout slash goes to the second
wallet (no job dispute is open, so nothing is held), and the provider unstakes the rest.

What must hold (docs/PROTOCOL.md): "While a ruling is pending, the slashable amount stays reachable ... nothing
locked after the settlement shields it"; a lease dispute holds back stake "as for jobs".
"""

import brownie
import pytest

from tests.fixtures.contracts import COLLATERAL_BPS, E18, PRICE
from tests.fixtures.jobs import SPEC_HASH
from tests.fixtures.leases import COLLATERAL_SECONDS, LEASE_DISPUTE_SLASH_BPS

from .conftest import BPS, DAY, err, now, warp

pytestmark = pytest.mark.usefixtures("staked_provider")
RATE = 2 * PRICE
COLLATERAL = RATE * COLLATERAL_SECONDS
HIGH_PRICE = E18
REASON = b"\x0f" * 32


def test_a_job_opened_before_the_dispute_cannot_shield_a_lease_ruling(
    lease_escrow, escrow, staking, token, create_lease, checkpoint, submit, client, client2, staked_provider,
    arbiter
):
    provider, wallet2 = staked_provider, client2
    lease_id = create_lease(hours=1000)
    submit([checkpoint(lease_id, seconds=1000 * 3600)])  # the lease paid 7,200 tokens
    slash = 1000 * 3600 * RATE * LEASE_DISPUTE_SLASH_BPS // BPS
    stake_before = int(staking.stakeOf(provider)[0])

    # Inside the dispute window, before the client's disputeCheckpoint lands: a job from the second wallet locks all
    # of the free stake, accepted by the provider, its deadline past any ruling deadline (14 days).
    offer2 = staking.addOffer("H100", 4, 80, HIGH_PRICE, "ipfs://own", {"from": provider}).events["OfferAdded"][
        "offerId"]
    token.approve(escrow, 2**256 - 1, {"from": wallet2})
    deadline = now() + 20 * DAY
    # What the attack needs, all the stake beside the lease's collateral, is refused: the checkpoint locked the
    # ruling reserve (7,200 tokens) beside the collateral (7.2).
    wanted = (stake_before - COLLATERAL) * BPS // COLLATERAL_BPS // HIGH_PRICE
    free = stake_before - COLLATERAL - slash
    assert int(lease_escrow.lockedCollateral(provider)) == COLLATERAL + slash
    with brownie.reverts(err("JobEscrowInsufficientFreeStake(address,uint256,uint256)", provider, free,
                             wanted * HIGH_PRICE * COLLATERAL_BPS // BPS)):
        escrow.createJob(offer2, wanted, deadline, SPEC_HASH, 4, HIGH_PRICE, {"from": wallet2})
    # The rest of the free stake it can still lock; the ruling does not need it.
    gpu_seconds = free * BPS // COLLATERAL_BPS // HIGH_PRICE
    job = escrow.createJob(offer2, gpu_seconds, deadline, SPEC_HASH, 4, HIGH_PRICE,
                           {"from": wallet2}).events["JobCreated"]["jobId"]
    escrow.acceptJob(job, {"from": provider})

    lease_escrow.disputeCheckpoint(lease_id, REASON, {"from": client})
    frozen = int(lease_escrow.unstakeBlockers(provider)[3])
    assert frozen == 0  # nothing left to freeze: the reserve is locked
    tx = lease_escrow.resolveCheckpointDispute(lease_id, True, {"from": arbiter})
    slashed = tx.events["CheckpointDisputeResolved"]["slashed"]

    # Afterwards: the job times out (its slash to the provider's own wallet, not held), the provider leaves.
    warp(deadline + 600 + 1)
    w2_before = token.balanceOf(wallet2)
    escrow.claimTimeout(job, {"from": wallet2})
    w2_gain = token.balanceOf(wallet2) - w2_before - gpu_seconds * HIGH_PRICE
    left = int(staking.stakeOf(provider)[0])
    staking.requestUnstake(left, {"from": provider})
    print(f"ruling slashed {slashed / E18} of {slash / E18} tokens; second wallet got {w2_gain / E18} of the "
          f"provider's stake by timeout; provider unstaked the remaining {left / E18}")
    assert slashed == slash, "a job locked before the dispute shielded the stake from the lease ruling"
