"""Attack (issue 11, the lease side of outside audit of issue 8, lower finding 1): one dispute over a one-second
lease checkpoint froze the provider's whole stake. A client leases, lets one second be checkpointed, disputes it for
the flat bond, and the provider can neither requestUnstake nor withdraw anything (ProviderStakingOpenDisputes) until
a ruling that may never come: the job escrow's fix (an open dispute keeps back only what its ruling can slash) did
not cover leases.

What must hold (docs/PROTOCOL.md, "Leases", disputes; SECURITY.md, "Lower 1" and its lease entry): an open checkpoint
dispute keeps back only what its ruling can slash. The ruling slashes `paid x disputeSlashBps` after unlocking the
lease's remaining collateral into free stake, so the collateral (locked already) covers the slash first and only the
rest, `frozen` = max(0, slash - collateral still locked), is kept in free stake: ILeaseEscrow.unstakeBlockers reports
it as its fourth value, requestUnstake counts it with the locked collateral, and withdraw of unbonding stake waits
(ProviderStakingDisputeFrozen) while free bonded stake is below it. Everything else can leave; an upheld ruling still
finds its whole slash, a rejected one releases the freeze.
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
    bonded = int(staking.stakeOf(provider)[0])
    # Before the fix: ProviderStakingOpenDisputes(provider, 1), for any amount.
    tx = staking.requestUnstake(bonded - COLLATERAL, {"from": provider})  # everything but the lease's collateral
    assert slash == RATE < COLLATERAL  # the lease's collateral covers the whole slash: nothing more is frozen
    assert blockers(lease_escrow, provider) == (COLLATERAL, 1, cp_at + LEASE_DISPUTE_WINDOW, 0)
    with brownie.reverts(insufficient(provider, 0, 1)):
        staking.requestUnstake(1, {"from": provider})

    # The unbonding period (7 days) outlasts the dispute window (1 day): the stake leaves, the dispute stays open.
    warp(tx.timestamp + UNBONDING_PERIOD)
    before = token.balanceOf(provider)
    staking.withdraw({"from": provider})
    assert token.balanceOf(provider) - before == bonded - COLLATERAL
    assert lease_escrow.unstakeBlockers(provider)[1] == 1

    # The ruling still finds its slash, in the collateral it unlocks.
    c_before = token.balanceOf(client)
    tx = lease_escrow.resolveCheckpointDispute(lease_id, True, {"from": arbiter})
    assert tx.events["CheckpointDisputeResolved"]["slashed"] == slash
    assert token.balanceOf(client) - c_before == slash + LEASE_DISPUTE_BOND
    assert blockers(lease_escrow, provider)[::3] == (0, 0)


def test_a_lease_dispute_freezes_what_its_ruling_can_slash_beyond_the_collateral(
    lease_escrow, staking, token, create_lease, checkpoint, submit, client, staked_provider, arbiter
):
    """5,000 s paid against 3,600 s of collateral: the collateral is locked, the other 1,400 s of the slash stay in
    free stake; the rest can be unstaked and withdrawn before the ruling, and the upheld ruling takes its whole
    slash."""
    provider = staked_provider
    lease_id, slash, _ = disputed(lease_escrow, create_lease, checkpoint, submit, client, 5000)
    frozen = slash - COLLATERAL
    assert frozen == 1400 * RATE
    assert blockers(lease_escrow, provider)[::3] == (COLLATERAL, frozen)
    bonded = int(staking.stakeOf(provider)[0])
    free = bonded - COLLATERAL - frozen
    with brownie.reverts(insufficient(provider, free, free + 1)):
        staking.requestUnstake(free + 1, {"from": provider})
    tx = staking.requestUnstake(free, {"from": provider})
    with brownie.reverts(insufficient(provider, 0, 1)):
        staking.requestUnstake(1, {"from": provider})
    # The free stake left (the frozen part) covers the freeze: the unbonding stake may leave.
    warp(tx.timestamp + UNBONDING_PERIOD)
    before = token.balanceOf(provider)
    staking.withdraw({"from": provider})
    assert token.balanceOf(provider) - before == free

    tx = lease_escrow.resolveCheckpointDispute(lease_id, True, {"from": arbiter})
    assert tx.events["CheckpointDisputeResolved"]["slashed"] == slash
    assert blockers(lease_escrow, provider)[::3] == (0, 0)  # nothing locked or frozen any more
    assert int(staking.stakeOf(provider)[0]) == 0


def test_unbonding_stake_waits_while_free_stake_cannot_cover_the_lease_freeze(
    lease_escrow, staking, token, create_lease, checkpoint, submit, client, staked_provider, arbiter, rando
):
    """The provider unbonds all its free stake right after the checkpoint (the drain before the dispute): the
    ruling needs the unbonding stake, so withdraw waits, with the values in the error; bonding the frozen amount
    again is enough, and after the ruling everything can leave."""
    provider = staked_provider
    lease_id = create_lease()
    submit([checkpoint(lease_id, seconds=5000)])
    bonded = int(staking.stakeOf(provider)[0])
    tx = staking.requestUnstake(bonded - COLLATERAL, {"from": provider})
    release_at = tx.timestamp + UNBONDING_PERIOD
    lease_escrow.disputeCheckpoint(lease_id, REASON, {"from": client})
    frozen = blockers(lease_escrow, provider)[3]
    assert frozen == 1400 * RATE

    with (
        at(release_at + 1),
        brownie.reverts(err("ProviderStakingDisputeFrozen(address,uint256,uint256)", provider, frozen, 0)),
    ):
        staking.withdraw({"from": provider})
    token.transfer(provider, frozen, {"from": rando})
    token.approve(staking, frozen, {"from": provider})
    staking.stake(frozen, {"from": provider})
    warp(release_at + 1)
    before = token.balanceOf(provider)
    staking.withdraw({"from": provider})
    assert token.balanceOf(provider) - before == bonded - COLLATERAL

    tx = lease_escrow.resolveCheckpointDispute(lease_id, True, {"from": arbiter})
    assert tx.events["CheckpointDisputeResolved"]["slashed"] == 5000 * RATE
    assert int(staking.stakeOf(provider)[0]) == 0


def test_a_rejected_lease_ruling_releases_the_freeze(
    lease_escrow, staking, token, create_lease, checkpoint, submit, client, staked_provider, arbiter
):
    provider = staked_provider
    lease_id, slash, cp_at = disputed(lease_escrow, create_lease, checkpoint, submit, client, 5000)
    frozen = slash - COLLATERAL
    bonded = int(staking.stakeOf(provider)[0])
    with brownie.reverts(insufficient(provider, bonded - COLLATERAL - frozen, bonded - COLLATERAL)):
        staking.requestUnstake(bonded - COLLATERAL, {"from": provider})

    lease_escrow.resolveCheckpointDispute(lease_id, False, {"from": arbiter})
    assert blockers(lease_escrow, provider) == (COLLATERAL, 0, cp_at + LEASE_DISPUTE_WINDOW, 0)
    # The lease runs on with its collateral locked; everything else can leave, once the dispute window is over.
    tx = staking.requestUnstake(bonded - COLLATERAL, {"from": provider})
    warp(tx.timestamp + UNBONDING_PERIOD)
    before = token.balanceOf(provider)
    staking.withdraw({"from": provider})
    assert token.balanceOf(provider) - before == bonded - COLLATERAL


def test_a_lease_dispute_and_a_job_dispute_freeze_together(
    lease_escrow, escrow, staking, create_lease, checkpoint, submit, client, staked_provider, rando, sign, attest,
    job_at, arbiter
):
    """Both escrows' freezes add up (ProviderStaking counts locked + job frozen + lease frozen)."""
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
    lease_frozen = 5000 * RATE * LEASE_DISPUTE_SLASH_BPS // BPS - COLLATERAL
    assert blockers(lease_escrow, provider)[::3] == (COLLATERAL, lease_frozen)
    bonded = int(staking.stakeOf(provider)[0])
    free = bonded - job_locked - job_frozen - COLLATERAL - lease_frozen
    with brownie.reverts(insufficient(provider, free, free + 1)):
        staking.requestUnstake(free + 1, {"from": provider})
    staking.requestUnstake(free, {"from": provider})
    lease_escrow.resolveCheckpointDispute(lease_id, False, {"from": arbiter})
    staking.requestUnstake(lease_frozen, {"from": provider})  # the lease freeze released
    with brownie.reverts(insufficient(provider, 0, 1)):
        staking.requestUnstake(1, {"from": provider})
