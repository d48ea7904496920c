"""Attack on ProviderStaking._otherLocked (fraud-debt commit 84a0e93; fails there, passes from d26f6b0): a lease escrow slash now keeps the job
escrow's `frozen` beside its locked collateral. `frozen` is disputeFrozen, which includes what every open *job
dispute* froze -- the job's deposit x disputeSlashBps less its reserve -- and a dispute's freeze is never capped by
the provider's free stake. So a second wallet W of the provider can open a job, have it accepted and settled for a
token, and dispute it: the freeze (deposit - collateral) pushes `keepBonded` past the bonded stake and every lease
slash of the provider -- an honest lease client's expiry slash, downtime penalty or ruling -- takes nothing, even
from that lease's own locked collateral. The dispute is then rejected (W's bond goes to the provider: the coalition
loses nothing) or simply lapses, the lease collateral is released and the provider unstakes it all.

Defaults of the shared suite. Provider stakes 10,000. The honest client L leases a 1-GPU offer at 2 tokens/s
(collateral 7,200 = one hour of the rate, two hours of runway). W's job: 14,000 deposit, 2,800 collateral (all the
free stake), settled for 1 token, disputed: frozen = 14,000 - 2,800 = 11,200 > bonded.

Safe outcome asserted: L gets the slash its lease's own locked collateral backs (3,600 expiry slash; 7,200 downtime
penalty), as it does before this commit and as it does here with no job dispute open.
"""

from tests.fixtures.contracts import PRICE
from tests.fixtures.jobs import SPEC_HASH
from tests.fixtures.leases import LEASE_SPEC, MAX_U64

from .conftest import DAY, HOUR, MAX_U256, now, receipt_for, warp

E18 = 10**18


def _setup(escrow, lease_escrow, staking, token, provider, client, rando, accounts, sign, attest, guarantee):
    wallet = accounts[9]
    token.transfer(wallet, 100_000 * E18, {"from": rando})
    offer = staking.addOffer("H100 (lease)", 1, 80, 2 * E18, "ipfs://l", {"from": provider}).events["OfferAdded"][
        "offerId"
    ]
    if guarantee:
        staking.setOfferAvailability(offer, 0, 0, 10_000, {"from": provider})
    # The honest lease client L.
    token.approve(lease_escrow, MAX_U256, {"from": client})
    lease = lease_escrow.openLease(offer, 1, MAX_U64, 2, 0, LEASE_SPEC, 14_400 * E18, 0, {"from": client}).events[
        "LeaseOpened"
    ]["leaseId"]
    lease_escrow.acceptLease(lease, {"from": provider})
    assert lease_escrow.lockedCollateral(provider) == 7_200 * E18

    # W's job takes the 2,800 left free as collateral, settles for 1 token, and W disputes it.
    token.approve(escrow, MAX_U256, {"from": wallet})
    job = escrow.createJob(1, 14_000_000, now() + 7 * DAY, SPEC_HASH, 1, PRICE, {"from": wallet}).events[
        "JobCreated"
    ]["jobId"]
    escrow.acceptJob(job, {"from": provider})
    r = receipt_for(escrow, job, gpu_seconds=1_000)
    escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})
    escrow.dispute(job, b"\x0b" * 32, {"from": wallet})
    blockers = escrow.unstakeBlockers(provider)
    print(f"job locked {blockers[0] / E18}, job frozen {blockers[3] / E18}, bonded {staking.stakeOf(provider)[0] / E18}")
    return wallet, lease, job


def _cash_out(escrow, lease_escrow, staking, provider, lease, job, arbiter, rando):
    """The bogus dispute is rejected; the lease's collateral is released; the provider unstakes everything."""
    escrow.resolveDispute(job, False, {"from": arbiter})
    warp(now() + DAY + 60)
    lease_escrow.releaseLeaseCollateral([lease], {"from": rando})
    bonded = staking.stakeOf(provider)[0]
    staking.requestUnstake(bonded, {"from": provider})
    print(f"provider requested to unstake all {bonded / E18} of its stake")
    return bonded


def test_a_job_dispute_freeze_shields_an_honest_leases_expiry_slash(
    escrow, lease_escrow, staking, token, staked_provider, client, rando, arbiter, accounts, sign, attest
):
    provider = staked_provider
    _wallet, lease, job = _setup(
        escrow, lease_escrow, staking, token, provider, client, rando, accounts, sign, attest, guarantee=False
    )
    # The provider never checkpoints L's lease: L claims the expiry slash (50% of its 7,200 collateral).
    warp(now() + 2 * HOUR + 11 * 60)
    before = token.balanceOf(client)
    tx = lease_escrow.claimLeaseExpiry(lease, {"from": client})
    slashed = tx.events["LeaseExpired"]["slashed"]
    print(f"L's expiry slash: {slashed / E18} (3,600 expected); refund {tx.events['LeaseExpired']['refund'] / E18}")
    unstaked = _cash_out(escrow, lease_escrow, staking, provider, lease, job, arbiter, rando)
    assert unstaked == 10_000 * E18 - slashed
    assert slashed == 3_600 * E18, "a bogus job dispute's freeze kept the lease's own collateral from its client"
    assert token.balanceOf(client) - before >= 3_600 * E18


def test_a_job_dispute_freeze_shields_an_honest_leases_downtime_penalty(
    escrow, lease_escrow, staking, token, staked_provider, client, rando, arbiter, accounts, sign, attest,
    checkpoint, submit
):
    provider = staked_provider
    _wallet, lease, _job = _setup(
        escrow, lease_escrow, staking, token, provider, client, rando, accounts, sign, attest, guarantee=True
    )
    # One hour down on a 100% uptime guarantee, attested honestly: the penalty is the lease's whole collateral.
    tx = submit([checkpoint(lease, seconds=HOUR, down=HOUR)])
    penalty = tx.events["CheckpointSettled"]["penalty"]
    print(f"L's downtime penalty: {penalty / E18} (7,200 expected)")
    print(f"provider bonded after the penalty: {staking.stakeOf(provider)[0] / E18}")
    assert penalty == 7_200 * E18, "a bogus job dispute's freeze kept the lease's own collateral from its client"
