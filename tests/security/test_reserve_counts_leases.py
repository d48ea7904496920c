"""Defect (found when the lease and audit branches were merged): the job escrow raised a settled job's dispute reserve
out of stake the lease escrow had locked as a running lease's collateral.

At settlement the job escrow raises a job's reserve from its collateral to what the job paid when the provider's free
stake covers the difference. It counted free stake as bonded less the *job* escrow's locked collateral only. With a
lease running, the raise could then promise the ruling stake that backs the lease: job locked + lease locked passed
bonded, and an upheld ruling (which never takes another client's locked collateral) found less than the reserve said.

What must hold (docs/PROTOCOL.md, "Two escrows share the stake"; SECURITY.md, "Known limits"): free stake at
settlement is bonded less the collateral locked by both escrows; after every settlement bonded >= job locked + lease
locked, and an upheld ruling takes at least the reserve the settlement reported.
"""

from tests.fixtures.contracts import COLLATERAL_BPS, DISPUTE_BOND, PROVIDER_STAKE
from tests.fixtures.jobs import SPEC_HASH
from tests.fixtures.leases import COLLATERAL_SECONDS, LEASE_SPEC, MAX_U64

from .conftest import BPS, DAY, MAX_U256, UPHELD, now, receipt_for

E18 = 10**18
# A dear offer (2 tokens per GPU-second), so that one small lease locks most of the provider's 10,000-token stake.
DEAR_PRICE = 2 * E18
LEASE_GPUS = 1
LEASE_COLLATERAL = DEAR_PRICE * LEASE_GPUS * COLLATERAL_SECONDS  # 7,200 tokens
JOB_GPUS = 2
JOB_GPU_SECONDS = 2_000  # a 4,000-token job: 800 tokens of collateral
JOB_DEPOSIT = DEAR_PRICE * JOB_GPU_SECONDS
JOB_COLLATERAL = JOB_DEPOSIT * COLLATERAL_BPS // BPS


def _dear_offer(staking, provider):
    tx = staking.addOffer("NVIDIA H100 80GB HBM3", 4, 80, DEAR_PRICE, "ipfs://dear", {"from": provider})
    return tx.events["OfferAdded"]["offerId"]


def _running_lease(lease_escrow, token, client, worker, offer_id):
    token.approve(lease_escrow, MAX_U256, {"from": client})
    tx = lease_escrow.openLease(
        offer_id, LEASE_GPUS, MAX_U64, 2, 0, LEASE_SPEC, DEAR_PRICE * 3 * 3600, 0, {"from": client}
    )
    lease_id = tx.events["LeaseOpened"]["leaseId"]
    lease_escrow.acceptLease(lease_id, {"from": worker})
    return lease_id


def _settled_job(escrow, token, client, worker, rando, sign, attest, offer_id):
    token.approve(escrow, MAX_U256, {"from": client})
    tx = escrow.createJob(
        offer_id, JOB_GPU_SECONDS, now() + 2 * DAY, SPEC_HASH, JOB_GPUS, MAX_U64, {"from": client}
    )
    job_id = tx.events["JobCreated"]["jobId"]
    escrow.acceptJob(job_id, {"from": worker})
    r = receipt_for(escrow, job_id, gpu_seconds=JOB_GPU_SECONDS)  # the whole job: it paid its deposit
    settled = escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})
    return job_id, settled.events["JobSettled"]["reserve"]


def test_the_dispute_reserve_is_not_raised_out_of_lease_collateral(
    escrow, lease_escrow, staking, token, staked_provider, client, client2, worker, rando, sign, attest
):
    provider = staked_provider
    offer_id = _dear_offer(staking, provider)
    _running_lease(lease_escrow, token, client2, worker, offer_id)
    assert lease_escrow.lockedCollateral(provider) == LEASE_COLLATERAL
    # Free stake after the job's collateral: 10,000 - 7,200 - 800 = 2,000 tokens, less than the 3,200 a raise needs.
    job_id, reserve = _settled_job(escrow, token, client, worker, rando, sign, attest, offer_id)

    bonded = staking.stakeOf(provider)[0]
    job_locked = escrow.unstakeBlockers(provider)[0]
    lease_locked = lease_escrow.lockedCollateral(provider)
    assert bonded >= job_locked + lease_locked, (
        f"bonded {bonded} < job locked {job_locked} + lease locked {lease_locked}: the reserve {reserve} was raised "
        "out of the lease's collateral"
    )
    # Free stake (2,000) could not cover the whole raise: it raised the reserve by what it has, and the other 1,200
    # of the pay is withheld (issue 8, third review).
    free = PROVIDER_STAKE - LEASE_COLLATERAL - JOB_COLLATERAL
    assert reserve == JOB_COLLATERAL + free
    assert escrow.withheldPay(job_id) == JOB_DEPOSIT - reserve
    assert tuple(staking.lockedCollateral(provider)) == (reserve, LEASE_COLLATERAL)

    # The client disputes and the arbiter upholds: the ruling takes at least the reserve the settlement reported.
    escrow.dispute(job_id, b"\x01" * 32, {"from": client})
    before = token.balanceOf(client)
    ruling = escrow.resolveDispute(job_id, True, {"from": escrow.roles()[2]})
    assert escrow.getJob(job_id)["status"] == UPHELD
    slashed = ruling.events["DisputeResolved"]["slashed"]
    assert slashed >= reserve, (
        f"the ruling took {slashed}, less than the reserve {reserve} the settlement promised"
    )
    # It took the job's reserve, all the stake the lease's collateral leaves (10,000 - 7,200 tokens), then the 1,200
    # tokens of pay withheld at settlement: the client gets back the 4,000 it paid. The lease's collateral stays.
    assert ruling.events["Slashed"]["amount"] == PROVIDER_STAKE - LEASE_COLLATERAL
    assert slashed == JOB_DEPOSIT
    assert token.balanceOf(client) - before == slashed + DISPUTE_BOND
    assert lease_escrow.lockedCollateral(provider) == LEASE_COLLATERAL
    assert staking.stakeOf(provider)[0] == LEASE_COLLATERAL


def test_with_room_the_reserve_is_raised_beside_a_lease(
    escrow, lease_escrow, staking, token, staked_provider, client, client2, worker, rando, sign, attest
):
    """The fix counts the lease's collateral, no more: with free stake for the raise, the reserve is still raised."""
    provider = staked_provider
    offer_id = _dear_offer(staking, provider)
    _running_lease(lease_escrow, token, client2, worker, offer_id)
    token.approve(staking, MAX_U256, {"from": provider})
    staking.stake(1_200 * E18, {"from": provider})  # free after the job: 3,200 tokens, exactly the raise
    job_id, reserve = _settled_job(escrow, token, client, worker, rando, sign, attest, offer_id)
    assert reserve == JOB_DEPOSIT
    bonded = staking.stakeOf(provider)[0]
    assert escrow.unstakeBlockers(provider)[0] + lease_escrow.lockedCollateral(provider) == bonded
    escrow.dispute(job_id, b"\x01" * 32, {"from": client})
    ruling = escrow.resolveDispute(job_id, True, {"from": escrow.roles()[2]})
    assert ruling.events["DisputeResolved"]["slashed"] == JOB_DEPOSIT
