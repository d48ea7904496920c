"""Attack (audit, medium): collateral released at settlement, then a dispute slash takes other clients' collateral.

Sequence: P bonds 1,200. Client A's job (deposit 1,000, collateral 200) settles and its collateral is released.
Client B's job (deposit 5,000, collateral 1,000) is accepted on the freed stake. A disputes and the arbiter upholds:
1,000 is slashed, leaving bonded 200 against 1,000 locked for B. B's job times out and B gets 200 instead of 500.

What stops it (docs/PROTOCOL.md, "Staking, slashing and disputes"): a settled job's dispute reserve stays locked until
the dispute window closes (released lazily, by anyone, with releaseCollateral); since the second review the reserve
is what the job paid when free stake covers it, so B's 1,000 collateral no longer fits beside A's reserve at all; a
slash takes the job's own reserve, then free stake, then unbonding stake, and never what is locked for another
client's work, so bonded >= locked always holds.
"""

import brownie

from tests.fixtures.contracts import DISPUTE_WINDOW, TIMEOUT_GRACE
from tests.helpers.limits import limits

from .conftest import DAY, MAX_U256, at, attest_r, err, now, receipt_for, sign_r, warp

E18 = 10**18
TOKEN = E18  # price: one token per GPU-second, so GPU-seconds read as tokens


def setup_p(token, staking, provider2, worker2, stake=1_200 * E18):  # needs the `funded` fixture
    token.approve(staking, MAX_U256, {"from": provider2})
    staking.stake(stake, {"from": provider2})
    staking.setWorker(worker2, {"from": provider2})
    return staking.addOffer("RTX 4090", 1, 24, TOKEN, "ipfs://p", {"from": provider2}).events["OfferAdded"]["offerId"]


def open_and_accept(escrow, token, who, offer, gpu_seconds, provider2, deadline_in=7 * DAY):
    token.approve(escrow, MAX_U256, {"from": who})
    limits(escrow, offer)  # frees (or grows) the offer's capacity as its provider would: tests/helpers/limits.py
    tx = escrow.createJob(offer, gpu_seconds, now() + deadline_in, b"\x5a" * 32, 1, TOKEN, {"from": who})
    job_id = tx.events["JobCreated"]["jobId"]
    escrow.acceptJob(job_id, {"from": provider2})
    return job_id


def settle_full(escrow, job_id, worker_key, oracle_key, rando):
    gs = escrow.getJob(job_id)["maxGpuSeconds"]
    r = receipt_for(escrow, job_id, gpu_seconds=gs)
    return escrow.settle(r.as_tuple(), sign_r(r, worker_key, escrow), attest_r([r], [oracle_key], escrow),
                         {"from": rando})


def bonded_and_locked(escrow, staking, p):
    return int(staking.stakeOf(p)[0]), int(escrow.unstakeBlockers(p)[0])


def test_dispute_after_release_cannot_take_another_clients_collateral(funded, escrow, staking, token, provider2, worker2,
                                                                      client, client2, arbiter, rando, oracle_key):
    from tests.fixtures.accounts import WORKER2_KEY

    offer = setup_p(token, staking, provider2, worker2)
    a_job = open_and_accept(escrow, token, client, offer, 1_000, provider2)
    settle_full(escrow, a_job, WORKER2_KEY, oracle_key, rando)
    escrow.dispute(a_job, b"\x01" * 32, {"from": client})

    # A's reserve is what A paid (1,000): B's 5,000 job (collateral 1,000) does not fit in the 200 left free ...
    token.approve(escrow, MAX_U256, {"from": client2})
    with brownie.reverts(err("JobEscrowInsufficientFreeStake(address,uint256,uint256)", provider2, 200 * E18,
                             1_000 * E18)):
        escrow.createJob(offer, 5_000, now() + 7 * DAY, b"\x5a" * 32, 1, TOKEN, {"from": client2})
    # ... a 1,000 one (collateral 200) does.
    b_job = open_and_accept(escrow, token, client2, offer, 1_000, provider2)
    b = escrow.getJob(b_job).dict()

    escrow.resolveDispute(a_job, True, {"from": arbiter})
    bonded, locked = bonded_and_locked(escrow, staking, provider2)
    assert bonded >= locked, "a slash took collateral locked for another client's running job"
    assert locked == b["collateral"]

    # B's timeout pays B the whole timeout slash of its collateral: 50% of it.
    before = token.balanceOf(client2)
    with at(b["deadline"] + TIMEOUT_GRACE):
        escrow.claimTimeout(b_job, {"from": rando})
    assert token.balanceOf(client2) == before + b["deposit"] + b["collateral"] // 2


def test_settled_jobs_collateral_stays_reserved_until_its_dispute_window_closes(funded, escrow, staking, token, provider2,
                                                                              worker2, client, rando, oracle_key):
    from tests.fixtures.accounts import WORKER2_KEY

    offer = setup_p(token, staking, provider2, worker2)
    job_id = open_and_accept(escrow, token, client, offer, 1_000, provider2)
    settled_at = settle_full(escrow, job_id, WORKER2_KEY, oracle_key, rando).timestamp
    reserve = 1_000 * E18  # what the job paid: free stake covered it, so the reserve was raised from the collateral
    assert bonded_and_locked(escrow, staking, provider2)[1] == reserve
    free = 1_200 * E18 - reserve
    with brownie.reverts(err("ProviderStakingInsufficientFreeStake(address,uint256,uint256)", provider2, free,
                             1_200 * E18)):
        staking.requestUnstake(1_200 * E18, {"from": provider2})

    closes = settled_at + DISPUTE_WINDOW
    with at(closes), brownie.reverts(err("JobEscrowReserveStillNeeded(uint256,uint256,uint256)", job_id, closes,
                                         closes)):
        escrow.releaseCollateral([job_id], {"from": rando})
    warp(closes + 1)
    escrow.releaseCollateral([job_id], {"from": rando})
    assert bonded_and_locked(escrow, staking, provider2)[1] == 0
    with brownie.reverts(err("JobEscrowNothingToClaim(address)", rando)):
        escrow.releaseCollateral([job_id], {"from": rando})  # once only
    staking.requestUnstake(1_200 * E18, {"from": provider2})


def test_reserve_is_raised_as_far_as_free_stake_covers_what_the_job_paid(funded, escrow, staking, token,
                                                                          provider2, worker2, client, rando,
                                                                          oracle_key):
    from tests.fixtures.accounts import WORKER2_KEY

    offer = setup_p(token, staking, provider2, worker2)
    job_id = open_and_accept(escrow, token, client, offer, 5_000, provider2)  # collateral 1,000 of 1,200
    coll = escrow.getJob(job_id)["collateral"]
    settled_at = settle_full(escrow, job_id, WORKER2_KEY, oracle_key, rando).timestamp
    # Paid 5,000: raising the reserve needs 4,000 more than the 200 free, so it is raised by the 200 and the rest of
    # the pay is withheld until the window closes (tests/security/test_withheld_pay.py); settlement is not refused.
    assert bonded_and_locked(escrow, staking, provider2)[1] == coll + 200 * E18
    assert escrow.withheldPay(job_id) == 5_000 * E18 - coll - 200 * E18
    warp(settled_at + DISPUTE_WINDOW + 1)
    tx = escrow.releaseCollateral([job_id], {"from": rando})
    assert tx.events["CollateralReleased"]["amount"] == coll + 200 * E18
    assert bonded_and_locked(escrow, staking, provider2)[1] == 0
