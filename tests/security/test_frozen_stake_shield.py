"""Attack (found by this stop's outside review; issue 8, the High finding and lower finding 1, and issue 11): stake that
an open dispute froze for its ruling could be locked as new collateral, out of the ruling's reach. The freeze was
checked only by requestUnstake and withdraw, while createJob and acceptLease counted free stake as bonded less
locked collateral, and every ruling slashes around the collateral that other work holds locked.

- A lease checkpoint dispute freezes `paid x disputeSlashBps - the lease's collateral`. The provider's second wallet
  opens a job on the provider's own offer whose collateral takes all the free stake, frozen part included (no
  acceptance needed). The ruling finds only the lease's collateral; the job is cancelled for a full refund and the
  provider unstakes the rest.
- The same stake drained instead of locked: jobs from the second wallet, accepted and left to time out, pay their
  timeout slashes to that wallet (the job escrow holds them back only for its own disputes).
- A job dispute's freeze shielded the same way, from the job escrow's own createJob, or from a lease's acceptance.

What must hold (docs/PROTOCOL.md, "Staking, slashing and disputes"): what open disputes froze is not free stake for
any new collateral: createJob and acceptLease count bonded less both escrows' locked collateral less both escrows'
frozen sums, and refuse with those numbers. A ruling then finds its whole slash, whatever the provider did meanwhile.
"""

import brownie
import pytest

from tests.fixtures.contracts import COLLATERAL_BPS, PRICE
from tests.fixtures.jobs import SPEC_HASH
from tests.fixtures.leases import COLLATERAL_SECONDS, LEASE_DISPUTE_SLASH_BPS

from .conftest import BPS, DAY, err, now, receipt_for, warp

pytestmark = pytest.mark.usefixtures("staked_provider")
RATE = 2 * PRICE  # create_lease's default: 2 GPUs
COLLATERAL = RATE * COLLATERAL_SECONDS
REASON = b"\x0f" * 32
ONE_GPU = (1, 2**64 - 1)  # createJob's gpuCount and maxPricePerGpuSecond: one of the offer's 4 GPUs


def job_sized(free):
    """maxGpuSeconds of a one-GPU job on offer 1 whose collateral is at most `free`."""
    return free * BPS // COLLATERAL_BPS // PRICE


def insufficient_for_job(provider, free, need):
    return err("JobEscrowInsufficientFreeStake(address,uint256,uint256)", provider, free, need)


def collateral_of(max_gpu_seconds):
    return max_gpu_seconds * PRICE * COLLATERAL_BPS // BPS


def test_a_job_cannot_lock_what_a_lease_dispute_froze(
    lease_escrow, escrow, staking, token, create_lease, checkpoint, submit, client, client2, staked_provider,
    arbiter
):
    provider = staked_provider
    lease_id = create_lease()
    submit([checkpoint(lease_id, seconds=5000)])
    lease_escrow.disputeCheckpoint(lease_id, REASON, {"from": client})
    slash = 5000 * RATE * LEASE_DISPUTE_SLASH_BPS // BPS
    # Since issue 8's third review the checkpoint locked the slash as the lease's ruling reserve (the dispute freezes
    # nothing more): what the job may not lock is that reserve.
    assert int(lease_escrow.unstakeBlockers(provider)[3]) == 0
    assert int(lease_escrow.lockedCollateral(provider)) == COLLATERAL + slash
    frozen = slash
    free = int(staking.stakeOf(provider)[0]) - COLLATERAL - frozen
    token.approve(escrow, 2**256 - 1, {"from": client2})
    # Before the fix this job locked all of bonded - COLLATERAL, frozen part included.
    greedy = job_sized(free + frozen)
    with brownie.reverts(insufficient_for_job(provider, free, collateral_of(greedy))):
        escrow.createJob(1, greedy, now() + 7 * DAY, SPEC_HASH, *ONE_GPU, {"from": client2})
    # Everything that is really free can still be locked.
    job_id = escrow.createJob(1, job_sized(free), now() + 7 * DAY, SPEC_HASH, *ONE_GPU,
                              {"from": client2}).events["JobCreated"]["jobId"]  # fmt: skip
    tx = lease_escrow.resolveCheckpointDispute(lease_id, True, {"from": arbiter})
    assert tx.events["CheckpointDisputeResolved"]["slashed"] == slash
    escrow.cancelJob(job_id, {"from": client2})


def test_timeouts_of_jobs_the_provider_made_for_itself_cannot_drain_a_lease_freeze(
    lease_escrow, escrow, staking, token, create_lease, checkpoint, submit, client, client2, staked_provider,
    arbiter
):
    provider = staked_provider
    lease_id = create_lease(hours=1000)
    submit([checkpoint(lease_id, seconds=1000 * 3600)])
    lease_escrow.disputeCheckpoint(lease_id, REASON, {"from": client})
    slash = 1000 * 3600 * RATE * LEASE_DISPUTE_SLASH_BPS // BPS
    assert int(lease_escrow.unstakeBlockers(provider)[3]) == 0
    frozen = slash  # locked as the lease's ruling reserve by the checkpoint (issue 8, third review)
    token.approve(escrow, 2**256 - 1, {"from": client2})
    refused = 0
    for _ in range(4):  # before the fix each round moved half the free stake, frozen part included, to client2
        bonded = int(staking.stakeOf(provider)[0])
        try:  # the attacker sizes the job to everything but the lease's collateral
            tx = escrow.createJob(1, job_sized(bonded - COLLATERAL), now() + 1300, SPEC_HASH, *ONE_GPU,
                                  {"from": client2})  # fmt: skip
        except brownie.exceptions.VirtualMachineError as exc:
            assert exc.revert_msg.startswith("JobEscrowInsufficientFreeStake"), exc.revert_msg
            refused += 1
            tx = escrow.createJob(1, job_sized(bonded - COLLATERAL - frozen), now() + 1300, SPEC_HASH,
                                  *ONE_GPU, {"from": client2})  # fmt: skip
        job_id = tx.events["JobCreated"]["jobId"]
        escrow.acceptJob(job_id, {"from": provider})
        warp(now() + 1300 + 600 + 1)
        escrow.claimTimeout(job_id, {"from": client2})
    tx = lease_escrow.resolveCheckpointDispute(lease_id, True, {"from": arbiter})
    assert tx.events["CheckpointDisputeResolved"]["slashed"] == slash
    assert refused == 4


def test_a_job_dispute_freeze_is_kept_from_new_jobs_and_from_lease_acceptance(
    escrow, lease_escrow, staking, token, create_lease, client, client2, staked_provider, arbiter, sign,
    attest, rando
):
    provider = staked_provider
    token.approve(escrow, 2**256 - 1, {"from": client})
    job = escrow.createJob(1, 3600, now() + 7 * DAY, SPEC_HASH, *ONE_GPU, {"from": client}).events["JobCreated"][
        "jobId"
    ]
    escrow.acceptJob(job, {"from": provider})
    r = receipt_for(escrow, job, gpu_seconds=1000)
    escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})
    escrow.dispute(job, b"\x01" * 32, {"from": client})
    locked, _, _, frozen = (int(x) for x in escrow.unstakeBlockers(provider))
    assert frozen > 0
    free = int(staking.stakeOf(provider)[0]) - locked - frozen
    token.approve(escrow, 2**256 - 1, {"from": client2})
    greedy = job_sized(free + frozen)
    with brownie.reverts(insufficient_for_job(provider, free, collateral_of(greedy))):
        escrow.createJob(1, greedy, now() + 7 * DAY, SPEC_HASH, *ONE_GPU, {"from": client2})
    # Lock all but less than one lease collateral of the really free stake; the frozen part would cover the rest.
    one_gpu = PRICE * COLLATERAL_SECONDS  # the collateral of a one-GPU lease
    filler = job_sized(free - one_gpu) + 1
    escrow.createJob(1, filler, now() + 7 * DAY, SPEC_HASH, *ONE_GPU, {"from": client2})
    left = free - collateral_of(filler)
    assert 0 < left < one_gpu <= left + frozen
    lease_id = create_lease(gpus=1, accept=False, sender=client2)
    with brownie.reverts(err("LeaseEscrowInsufficientFreeStake(address,uint256,uint256)", provider, left, one_gpu)):
        lease_escrow.acceptLease(lease_id, {"from": provider})
    tx = escrow.resolveDispute(job, True, {"from": arbiter})
    assert tx.events["DisputeResolved"]["slashed"] == 3600 * PRICE
