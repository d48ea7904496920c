"""Attack (outside review of 2026-12-02, round 3, finding 3; fixed: settlement withholds the pay
beyond the collateral when free stake cannot raise the reserve): lease expiry slashes bypass the job escrow's
timeout hold ("drain before the dispute", across escrows).

A settled job's dispute reserve is raised to what it paid only when free stake covers the difference at settlement;
otherwise it stays at the collateral and, per docs/PROTOCOL.md, "the timeout hold keeps the rest within reach": every
timeout slash of the provider's jobs is held while a settled job is disputable. The provider controls when its
receipt lands, so it makes free stake short at that moment (its second wallet's job, open and not accepted, locks it),
then the second wallet cancels (full refund). Within the victim's dispute window the provider drains the free stake
to the second wallet through *lease* expiries: a one-second lease on a high-priced offer, accepted, never
checkpointed, expired a grace later, its expiry slash paid at once to the second wallet. The job escrow's hold is
never consulted. The victim's upheld dispute then finds the reserve (20%) and dust.

What must hold: a ruling pending or possible on a settled job finds what the client paid (reserve, or free stake plus
held slashes); no slash to the provider's other wallets moves stake out between a settlement and its dispute.
"""

import pytest

from tests.fixtures.contracts import COLLATERAL_BPS, E18, PRICE
from tests.fixtures.jobs import SPEC_HASH
from tests.fixtures.leases import COLLATERAL_SECONDS, LEASE_GRACE, LEASE_SPEC

from .conftest import BPS, DAY, now, receipt_for, warp

pytestmark = pytest.mark.usefixtures("staked_provider")
HIGH_PRICE = E18
REASON = b"\x0f" * 32
MAX_U64 = 2**64 - 1


def test_lease_expiries_cannot_drain_stake_between_a_settlement_and_its_dispute(
    lease_escrow, escrow, staking, token, client, client2, staked_provider, arbiter, sign, attest, rando
):
    provider, wallet2 = staked_provider, client2
    token.approve(escrow, 2**256 - 1, {"from": client})
    token.approve(escrow, 2**256 - 1, {"from": wallet2})
    token.approve(lease_escrow, 2**256 - 1, {"from": wallet2})
    # The victim's job: 1,000,000 GPU-seconds on offer 1 (1,000 tokens), collateral 200.
    victim_gs = 1_000_000
    job = escrow.createJob(1, victim_gs, now() + 7 * DAY, SPEC_HASH, 4, PRICE,
                           {"from": client}).events["JobCreated"]["jobId"]
    escrow.acceptJob(job, {"from": provider})
    r = receipt_for(escrow, job, gpu_seconds=victim_gs)  # billed in full (falsely, say)
    paid = victim_gs * PRICE

    # Just before the receipt lands, the second wallet's open job locks the free stake; settlement cannot raise the
    # reserve, and the job is cancelled right after.
    offer2 = staking.addOffer("H100", 4, 80, HIGH_PRICE, "ipfs://own", {"from": provider}).events["OfferAdded"][
        "offerId"]
    bonded = int(staking.stakeOf(provider)[0])
    free = bonded - int(escrow.unstakeBlockers(provider)[0])
    blocker = escrow.createJob(offer2, free * BPS // COLLATERAL_BPS // HIGH_PRICE, now() + 7 * DAY, SPEC_HASH, 4,
                               HIGH_PRICE, {"from": wallet2}).events["JobCreated"]["jobId"]
    tx = escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})
    reserve = tx.events["JobSettled"]["reserve"]
    assert reserve == paid * COLLATERAL_BPS // BPS  # not raised
    escrow.cancelJob(blocker, {"from": wallet2})

    # The drain, inside the victim's dispute window: one-second leases from the second wallet, left to expire.
    offer3 = staking.addOffer("H100", 1, 80, HIGH_PRICE, "ipfs://own3", {"from": provider}).events["OfferAdded"][
        "offerId"]
    drained = 0
    for _ in range(7):
        free = int(staking.stakeOf(provider)[0]) - int(escrow.unstakeBlockers(provider)[0])
        price = free // COLLATERAL_SECONDS
        staking.updateOffer(offer3, 1, 80, price, "ipfs://own3", {"from": provider})
        lease = lease_escrow.openLease(offer3, 1, MAX_U64, 2, 0, LEASE_SPEC, price, 0,
                                       {"from": wallet2}).events["LeaseOpened"]["leaseId"]
        lease_escrow.acceptLease(lease, {"from": provider})
        warp(now() + 1 + LEASE_GRACE + 1)
        tx = lease_escrow.claimLeaseExpiry(lease, {"from": wallet2})
        drained += tx.events["LeaseExpired"]["slashed"]
        lease_escrow.releaseLeaseCollateral([lease], {"from": rando})
    assert now() < int(escrow.getJob(job)["settledAt"]) + DAY  # still inside the dispute window

    escrow.dispute(job, REASON, {"from": client})
    tx = escrow.resolveDispute(job, True, {"from": arbiter})
    compensation = tx.events["DisputeResolved"]["compensation"]
    print(f"drained {drained / E18} tokens to the second wallet by lease expiries; the victim's upheld dispute "
          f"compensated {compensation / E18} of the {paid / E18} it paid (reserve {reserve / E18})")
    assert compensation == paid, "lease expiry slashes were paid out, not held, while the job was disputable"
