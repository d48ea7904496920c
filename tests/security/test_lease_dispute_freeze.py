"""Attack (issue 11, the lease side of outside audit of issue 8, lower finding 1): one dispute over a one-second
lease checkpoint froze the provider's whole stake. A client leases, lets one second be checkpointed, disputes it for
the flat bond, and the provider can neither requestUnstake nor withdraw anything (ProviderStakingOpenDisputes) until
a ruling that may never come.

What must hold (docs/PROTOCOL.md, "Leases", disputes): an open checkpoint dispute keeps back only what its ruling can
slash. Since issue 8's third review (finding 2) that amount, `paid x disputeSlashBps`, is locked as the lease's ruling
reserve when each checkpoint lands, beside the lease's collateral (it was frozen only when the dispute opened, and a
job locked between the checkpoint and the dispute shielded it). So a dispute freezes nothing more
(ILeaseEscrow.unstakeBlockers' fourth value stays 0), everything beyond the collateral and the reserve can leave
while it is open, the stake cannot be drained between the checkpoint and the dispute, an upheld ruling finds its
whole slash, and a rejected one leaves the lease running with both locked.
"""

import brownie
import pytest

from tests.fixtures.contracts import PRICE, UNBONDING_PERIOD
from tests.fixtures.leases import (
    COLLATERAL_SECONDS,
    LEASE_DISPUTE_BOND,
    LEASE_DISPUTE_SLASH_BPS,
    LEASE_DISPUTE_WINDOW,
)

from .conftest import BPS, at, err, warp

pytestmark = pytest.mark.usefixtures("staked_provider")
RATE = 2 * PRICE  # create_lease's default: 2 GPUs
COLLATERAL = RATE * COLLATERAL_SECONDS
REASON = b"\x0b" * 32


def blockers(lease_escrow, provider):
    return tuple(int(x) for x in lease_escrow.unstakeBlockers(provider))


def insufficient(provider, free, requested):
    return err("ProviderStakingInsufficientFreeStake(address,uint256,uint256)", provider, free, requested)


def disputed(lease_escrow, create_lease, checkpoint, submit, client, seconds):
    """A lease whose first checkpoint paid `seconds` of up time, disputed by its client; returns (lease, slash,
    checkpoint time)."""
    lease_id = create_lease()
    tx = submit([checkpoint(lease_id, seconds=seconds)])
    lease_escrow.disputeCheckpoint(lease_id, REASON, {"from": client})
    return lease_id, seconds * RATE * LEASE_DISPUTE_SLASH_BPS // BPS, tx.timestamp


def test_a_one_second_lease_dispute_no_longer_blocks_all_unstaking(
    lease_escrow, staking, token, create_lease, checkpoint, submit, client, staked_provider, arbiter
):
    provider = staked_provider
    lease_id, slash, cp_at = disputed(lease_escrow, create_lease, checkpoint, submit, client, 1)
    assert slash == RATE
    locked = COLLATERAL + slash  # the collateral and the ruling reserve the checkpoint locked
    bonded = int(staking.stakeOf(provider)[0])
    # Before the fix: ProviderStakingOpenDisputes(provider, 1), for any amount.
    tx = staking.requestUnstake(bonded - locked, {"from": provider})  # everything else
    assert blockers(lease_escrow, provider) == (locked, 1, cp_at + LEASE_DISPUTE_WINDOW, 0)
    with brownie.reverts(insufficient(provider, 0, 1)):
        staking.requestUnstake(1, {"from": provider})

    # The unbonding period (7 days) outlasts the dispute window (1 day): the stake leaves, the dispute stays open.
    warp(tx.timestamp + UNBONDING_PERIOD)
    before = token.balanceOf(provider)
    staking.withdraw({"from": provider})
    assert token.balanceOf(provider) - before == bonded - locked
    assert lease_escrow.unstakeBlockers(provider)[1] == 1

    # The ruling finds its slash in what it unlocks.
    c_before = token.balanceOf(client)
    tx = lease_escrow.resolveCheckpointDispute(lease_id, True, {"from": arbiter})
    assert tx.events["CheckpointDisputeResolved"]["slashed"] == slash
    assert token.balanceOf(client) - c_before == slash + LEASE_DISPUTE_BOND
    assert blockers(lease_escrow, provider)[::3] == (0, 0)


def test_a_lease_dispute_freezes_nothing_beyond_the_reserve_the_checkpoint_locked(
    lease_escrow, staking, token, create_lease, checkpoint, submit, client, staked_provider, arbiter
):
    """5,000 s paid against 3,600 s of collateral: the checkpoint locked the 5,000 s of slash beside the collateral;
    the rest can be unstaked and withdrawn before the ruling, and the upheld ruling takes its whole slash."""
    provider = staked_provider
    lease_id, slash, _ = disputed(lease_escrow, create_lease, checkpoint, submit, client, 5000)
    assert blockers(lease_escrow, provider)[::3] == (COLLATERAL + slash, 0)
    bonded = int(staking.stakeOf(provider)[0])
    free = bonded - COLLATERAL - slash
    with brownie.reverts(insufficient(provider, free, free + 1)):
        staking.requestUnstake(free + 1, {"from": provider})
    tx = staking.requestUnstake(free, {"from": provider})
    warp(tx.timestamp + UNBONDING_PERIOD)
    before = token.balanceOf(provider)
    staking.withdraw({"from": provider})
    assert token.balanceOf(provider) - before == free

    tx = lease_escrow.resolveCheckpointDispute(lease_id, True, {"from": arbiter})
    assert tx.events["CheckpointDisputeResolved"]["slashed"] == slash
    assert blockers(lease_escrow, provider)[::3] == (0, 0)  # nothing locked or frozen any more
    assert int(staking.stakeOf(provider)[0]) == COLLATERAL  # unlocked by the ruling, not slashed


def test_the_stake_cannot_be_drained_between_the_checkpoint_and_the_dispute(
    lease_escrow, staking, token, create_lease, checkpoint, submit, client, staked_provider, arbiter
):
    """The provider unbonds all it can right after the checkpoint (the drain before the dispute): the ruling reserve
    is locked already, so the drain leaves it, withdraw does not wait for the ruling, and the ruling finds it."""
    provider = staked_provider
    lease_id = create_lease()
    submit([checkpoint(lease_id, seconds=5000)])
    slash = 5000 * RATE
    bonded = int(staking.stakeOf(provider)[0])
    with brownie.reverts(insufficient(provider, bonded - COLLATERAL - slash, bonded - COLLATERAL)):
        staking.requestUnstake(bonded - COLLATERAL, {"from": provider})
    tx = staking.requestUnstake(bonded - COLLATERAL - slash, {"from": provider})
    release_at = tx.timestamp + UNBONDING_PERIOD
    lease_escrow.disputeCheckpoint(lease_id, REASON, {"from": client})
    assert blockers(lease_escrow, provider)[3] == 0
    warp(release_at + 1)
    before = token.balanceOf(provider)
    staking.withdraw({"from": provider})
    assert token.balanceOf(provider) - before == bonded - COLLATERAL - slash

    tx = lease_escrow.resolveCheckpointDispute(lease_id, True, {"from": arbiter})
    assert tx.events["CheckpointDisputeResolved"]["slashed"] == slash
    assert int(staking.stakeOf(provider)[0]) == COLLATERAL


def test_a_rejected_lease_ruling_keeps_the_lease_running_with_its_reserve(
    lease_escrow, staking, token, create_lease, checkpoint, submit, client, staked_provider, arbiter
):
    provider = staked_provider
    lease_id, slash, cp_at = disputed(lease_escrow, create_lease, checkpoint, submit, client, 5000)
    locked = COLLATERAL + slash
    bonded = int(staking.stakeOf(provider)[0])
    with brownie.reverts(insufficient(provider, bonded - locked, bonded - COLLATERAL)):
        staking.requestUnstake(bonded - COLLATERAL, {"from": provider})

    lease_escrow.resolveCheckpointDispute(lease_id, False, {"from": arbiter})
    assert blockers(lease_escrow, provider) == (locked, 0, cp_at + LEASE_DISPUTE_WINDOW, 0)
    # The lease runs on with its collateral and reserve locked; everything else can leave, once the window is over.
    tx = staking.requestUnstake(bonded - locked, {"from": provider})
    warp(tx.timestamp + UNBONDING_PERIOD)
    before = token.balanceOf(provider)
    staking.withdraw({"from": provider})
    assert token.balanceOf(provider) - before == bonded - locked


def test_a_lease_dispute_and_a_job_dispute_hold_back_together(
    lease_escrow, escrow, staking, create_lease, checkpoint, submit, client, staked_provider, rando, sign, attest,
    job_at, arbiter
):
    """Both escrows' locks and the job dispute's freeze add up (ProviderStaking counts locked + frozen of both)."""
    from .conftest import receipt_for

    provider = staked_provider
    lease_id = create_lease()
    submit([checkpoint(lease_id, seconds=5000)])
    job = job_at(offer_id=1, max_gpu_seconds=3600)
    r = receipt_for(escrow, job, gpu_seconds=1000)
    escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})
    escrow.dispute(job, b"\x01" * 32, {"from": client})
    lease_escrow.disputeCheckpoint(lease_id, REASON, {"from": client})
    job_locked, _, _, job_frozen = (int(x) for x in escrow.unstakeBlockers(provider))
    assert job_frozen > 0
    lease_locked = COLLATERAL + 5000 * RATE * LEASE_DISPUTE_SLASH_BPS // BPS
    assert blockers(lease_escrow, provider)[::3] == (lease_locked, 0)
    bonded = int(staking.stakeOf(provider)[0])
    free = bonded - job_locked - job_frozen - lease_locked
    with brownie.reverts(insufficient(provider, free, free + 1)):
        staking.requestUnstake(free + 1, {"from": provider})
    staking.requestUnstake(free, {"from": provider})
    lease_escrow.resolveCheckpointDispute(lease_id, False, {"from": arbiter})
    with brownie.reverts(insufficient(provider, 0, 1)):  # the lease still runs, its reserve still locked
        staking.requestUnstake(1, {"from": provider})
