"""Attack review of 472a7a1 (Medium with the lease escrow of that commit): an upheld ruling took free and unbonding
stake before the disputed job's own withheld pay, and credited the withheld pay it did not need to the provider. Stake
that another pending ruling needed was spent, and the pay set aside for this ruling went back to the provider. (At
472a7a1 a lease dispute only froze its slash in free stake, so a job ruling could spend it: 3,600 of 5,000 found.)

Fixed: a ruling on a job with withheld pay takes what backs that job alone first, its reserve (released into free
stake just before) and then its withheld pay, and only then other free and unbonding stake. With the collateral at
least the fee (the default: 20% and 2.5%), reserve + withheld pay is what the client paid, so every pending ruling
is backed by its own job's reserve and pay, which no other ruling takes.

Sequence (collateral fraction = fee = 2.5%; provider2 bonds 100 tokens, the minimum; one 2-GPU offer at 1 token per
GPU-second): jobs A and B, 1,000 GPU-seconds each (collateral 25 each), settle in full. A's settlement raises its
reserve by the 50 free (75; withheld 925), B's finds none (25; withheld 975). The provider then bonds 100 more. Both
clients dispute and both rulings are upheld: each takes its job's reserve and withheld pay (1,000 each); the 100
bonded later is untouched and nothing is credited to the provider. Before the fix, A's ruling took the new 100
first and credited 100 of A's withheld pay to the provider.
"""

from tests.fixtures.jobs import SPEC_HASH

from .conftest import DAY, MAX_U256, attest_r, now, receipt_for, sign_r

E18 = 10**18
TOKEN = E18
STAKE = 100 * E18  # MIN_STAKE
LATER = 100 * E18  # bonded after the settlements
GS = 1_000
PAID = GS * TOKEN
FEE = PAID * 250 // 10_000
PAYOUT = PAID - FEE


def test_a_ruling_takes_its_own_withheld_pay_before_stake_another_ruling_needs(
    funded, escrow, staking, token, provider2, worker2, client, client2, rando, oracle_key, deployer, arbiter
):
    from tests.fixtures.accounts import WORKER2_KEY

    escrow.setParameter(1, 250, {"from": deployer})  # collateral fraction = the fee (2.5%)
    token.approve(staking, MAX_U256, {"from": provider2})
    staking.stake(STAKE, {"from": provider2})
    staking.setWorker(worker2, {"from": provider2})
    offer = staking.addOffer("RTX 4090", 2, 24, TOKEN, "ipfs://p", {"from": provider2}).events["OfferAdded"][
        "offerId"]
    jobs = []
    for who in (client, client2):
        token.approve(escrow, MAX_U256, {"from": who})
        j = escrow.createJob(offer, GS, now() + 7 * DAY, SPEC_HASH, 1, TOKEN, {"from": who}).events["JobCreated"][
            "jobId"]
        escrow.acceptJob(j, {"from": provider2})
        jobs.append(j)
    for j in jobs:
        r = receipt_for(escrow, j, gpu_seconds=GS)
        escrow.settle(r.as_tuple(), sign_r(r, WORKER2_KEY, escrow), attest_r([r], [oracle_key], escrow),
                      {"from": rando})
    a, b = jobs
    assert [escrow.withheldPay(j) for j in jobs] == [925 * E18, 975 * E18]
    staking.stake(LATER, {"from": provider2})
    escrow.dispute(a, b"\x0a" * 32, {"from": client})
    escrow.dispute(b, b"\x0b" * 32, {"from": client2})

    earnings_before = int(escrow.providerRecord(provider2)["earnings"])
    ra = escrow.resolveDispute(a, True, {"from": arbiter})
    leftover_a = int(escrow.providerRecord(provider2)["earnings"]) - earnings_before
    rb = escrow.resolveDispute(b, True, {"from": arbiter})
    comp_a = int(ra.events["DisputeResolved"]["compensation"])
    comp_b = int(rb.events["DisputeResolved"]["compensation"])
    print(f"A compensated {comp_a / E18}, {leftover_a / E18} of A's withheld pay credited to the provider; "
          f"B compensated {comp_b / E18} of {PAID / E18}; stake left {staking.stakeOf(provider2)[0] / E18}")
    assert comp_a == PAID
    assert leftover_a == 0, f"A's ruling spent stake first and credited {leftover_a / E18} of A's withheld pay"
    assert comp_b == PAID
    assert int(staking.stakeOf(provider2)[0]) == LATER, "a ruling took stake beyond its own job's backing"
