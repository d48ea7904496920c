"""Withheld pay, bookkeeping (from the attack review of 472a7a1, where it held; numbers updated for the partial
raise that review's dust finding brought).

One batch of four jobs of one provider that uses up the run's free stake partway, then a rejected dispute, an
upheld one, a refund, the window closing, releases and withdrawals. After every step the escrow's token balance
equals owed(), and owed() equals what the views say is owed: open and running deposits, settled jobs' refundable
remainder, withheld pay and open disputes' bonds, earnings, fees and held slashes. Withheld pay is paid at most once
(a second release and a release after a ruling are refused), and valuePaid ends at what the provider was paid.

Numbers (1 token per GPU-second, provider2 bonds 2,000 tokens, a 4-GPU offer, fee 2.5%, collateral 20%): four
1,000-GPU-second jobs lock 800, which leaves 1,200 free. In the batch, J1 (paid 1,000) raises its reserve by 800
(400 free left). J2 (paid 1,000) raises by the 400 left and withholds the other 400; J3 (paid 1,000) and J4 (bills
500) find no free stake and withhold 800 and 300.
"""

import brownie

from tests.fixtures.jobs import SPEC_HASH

from .conftest import DAY, MAX_U256, attest_r, err, now, receipt_for, sign_r, warp

E18 = 10**18
TOKEN = E18
DISPUTED = 6


def owed_by_views(escrow, providers):
    owed = int(escrow.accruedFees())
    for p in providers:
        owed += int(escrow.providerRecord(p)["earnings"])
        held, released = escrow.heldSlashes(p)
        owed += int(held) + int(released)
    for j in range(1, escrow.jobCount() + 1):
        v = escrow.getJob(j).dict()
        s = int(v["status"])
        if s in (1, 2):  # Open, Running
            owed += int(v["deposit"])
        elif s in (3, 6, 7, 8, 10):  # Settled, Disputed, Upheld, Rejected, Lapsed
            owed += int(v["refundable"]) + int(escrow.withheldPay(j))
            if s == DISPUTED:
                owed += int(v["disputeBond"])
    return owed


def test_owed_balance_and_views_agree_through_the_withheld_life_cycle(
    funded, escrow, staking, token, provider2, worker2, client, client2, rando, oracle_key, arbiter
):
    from tests.fixtures.accounts import WORKER2_KEY

    def check():
        assert token.balanceOf(escrow) == escrow.owed() == owed_by_views(escrow, [provider2])

    token.approve(staking, MAX_U256, {"from": provider2})
    staking.stake(2_000 * E18, {"from": provider2})
    staking.setWorker(worker2, {"from": provider2})
    offer = staking.addOffer("RTX 4090", 4, 24, TOKEN, "ipfs://p", {"from": provider2}).events["OfferAdded"][
        "offerId"]
    token.approve(escrow, MAX_U256, {"from": client})
    token.approve(escrow, MAX_U256, {"from": client2})
    jobs = []
    for i in range(4):
        who = client if i % 2 == 0 else client2
        j = escrow.createJob(offer, 1_000, now() + 7 * DAY, SPEC_HASH, 1, TOKEN, {"from": who}).events[
            "JobCreated"]["jobId"]
        escrow.acceptJob(j, {"from": provider2})
        jobs.append(j)
    check()
    j1, j2, j3, j4 = jobs
    rs = [receipt_for(escrow, j, gpu_seconds=1_000 if j != j4 else 500) for j in jobs]
    tx = escrow.settleBatch([r.as_tuple() for r in rs], [sign_r(r, WORKER2_KEY, escrow) for r in rs],
                            attest_r(rs, [oracle_key], escrow), {"from": rando})
    reserves = {e["jobId"]: e["reserve"] for e in tx.events["JobSettled"]}
    assert reserves == {j1: 1_000 * E18, j2: 600 * E18, j3: 200 * E18, j4: 200 * E18}
    assert [escrow.withheldPay(j) for j in jobs] == [0, 400 * E18, 800 * E18, 300 * E18]
    assert int(escrow.unstakeBlockers(provider2)[0]) == 2_000 * E18
    check()

    # J2 rejected: its withheld pay is credited once. J3 upheld: its client gets back the 1,000 it paid.
    escrow.dispute(j2, b"\x02" * 32, {"from": client2})
    escrow.dispute(j3, b"\x03" * 32, {"from": client})
    check()
    e0 = int(escrow.providerRecord(provider2)["earnings"])
    escrow.resolveDispute(j2, False, {"from": arbiter})
    assert int(escrow.providerRecord(provider2)["earnings"]) - e0 == 400 * E18
    check()
    before = token.balanceOf(client)
    up = escrow.resolveDispute(j3, True, {"from": arbiter})
    assert up.events["DisputeResolved"]["compensation"] == 1_000 * E18
    assert token.balanceOf(client) - before == 1_000 * E18 + int(escrow.getJob(j3)["disputeBond"])
    assert escrow.withheldPay(j3) == 0
    check()

    escrow.claimRefunds([j4], {"from": rando})
    check()
    settled_at = int(escrow.getJob(j1)["settledAt"])
    warp(settled_at + DAY + 1)
    with brownie.reverts(err("JobEscrowWrongStatus(uint256,uint8,uint8)", j2, 8, 3)):
        escrow.releaseCollateral([j2], {"from": rando})  # ruled: nothing more to release
    escrow.releaseCollateral([j1, j4], {"from": rando})
    with brownie.reverts(err("JobEscrowNothingToClaim(address)", rando)):
        escrow.releaseCollateral([j1, j4], {"from": rando})
    assert int(escrow.unstakeBlockers(provider2)[0]) == 0
    check()
    escrow.withdrawEarnings({"from": provider2})
    escrow.withdrawFees({"from": rando})
    check()
    # valuePaid: J1 1,000, J2 1,000 (600 at settlement, 400 released), J4 500 (200 and 300 released), J3 200 (what
    # settlement credited; its ruling took all 800 withheld, after the 200 reserve).
    rec = escrow.providerRecord(provider2)
    assert "WithheldPayReleased" not in up.events
    assert rec["valuePaid"] == 2_700 * E18
