"""Withheld pay (issue 8, third review, finding 3): when the provider's free stake cannot raise a settled job's dispute
reserve to what the job paid, the pay beyond the collateral (at most the payout) stays in the escrow until the job's
dispute window closes. An upheld ruling draws on it after the provider's stake; a closed window, a rejected or a
lapsed dispute, or what a ruling leaves over, credits it to the provider's earnings, once.

Free stake raises what it covers and only the rest is withheld (the attack review of the change: all or nothing
let a dust job opened and cancelled around the receipt hold back the whole pay). An upheld ruling takes what backs
this job alone first, its reserve and then its withheld pay, before stake other rulings may need.

Setting (tests/security/test_dispute_reserve.py): provider2 bonds 1,200 tokens, one GPU at one token per second; a
5,000-second job has collateral 1,000 (20%) and pays 5,000, of which 125 (2.5%) is the fee. Raising the reserve
needs 4,000 more; the 200 free raise it to 1,200, so 3,800 is withheld and 1,075 credited.
"""

import brownie

from tests.fixtures.contracts import DISPUTE_BOND, DISPUTE_WINDOW, FEE_BPS

from .conftest import BPS, at, err, warp
from .test_dispute_reserve import E18, bonded_and_locked, open_and_accept, settle_full, setup_p

GS = 5_000
PAID = GS * E18
FEE = PAID * FEE_BPS // BPS
COLLATERAL = PAID // 5
RESERVE = COLLATERAL + 200 * E18  # the collateral and the 200 free stake raised it by
WITHHELD = PAID - RESERVE
REASON = b"\x0e" * 32


def short_settlement(escrow, staking, token, provider2, worker2, client, rando, oracle_key, stake=1_200 * E18):
    from tests.fixtures.accounts import WORKER2_KEY

    offer = setup_p(token, staking, provider2, worker2, stake=stake)
    job = open_and_accept(escrow, token, client, offer, GS, provider2)
    tx = settle_full(escrow, job, WORKER2_KEY, oracle_key, rando)
    return job, tx


def earnings(escrow, p):
    return int(escrow.providerRecord(p)["earnings"])


def test_short_settlement_withholds_the_pay_beyond_the_collateral(funded, escrow, staking, token, provider2, worker2,
                                                                  client, rando, oracle_key):
    job, tx = short_settlement(escrow, staking, token, provider2, worker2, client, rando, oracle_key)
    settled = tx.events["JobSettled"]
    assert (settled["payout"], settled["fee"], settled["reserve"]) == (PAID - FEE, FEE, RESERVE)
    w = tx.events["PayWithheld"]
    assert (w["jobId"], w["provider"], w["amount"], w["until"]) == (job, provider2, WITHHELD,
                                                                    tx.timestamp + DISPUTE_WINDOW)
    assert escrow.withheldPay(job) == WITHHELD
    assert earnings(escrow, provider2) == PAID - FEE - WITHHELD
    assert escrow.providerRecord(provider2)["valuePaid"] == PAID - WITHHELD
    assert bonded_and_locked(escrow, staking, provider2) == (1_200 * E18, RESERVE)  # all of it


def test_with_free_stake_nothing_is_withheld(funded, escrow, staking, token, provider2, worker2, client, rando,
                                             oracle_key):
    job, tx = short_settlement(escrow, staking, token, provider2, worker2, client, rando, oracle_key,
                               stake=6_000 * E18)
    assert "PayWithheld" not in tx.events
    assert tx.events["JobSettled"]["reserve"] == PAID
    assert escrow.withheldPay(job) == 0
    assert earnings(escrow, provider2) == PAID - FEE


def test_the_window_closing_releases_it_once(funded, escrow, staking, token, provider2, worker2, client, rando,
                                             oracle_key):
    job, tx = short_settlement(escrow, staking, token, provider2, worker2, client, rando, oracle_key)
    closes = tx.timestamp + DISPUTE_WINDOW
    with at(closes), brownie.reverts(err("JobEscrowReserveStillNeeded(uint256,uint256,uint256)", job, closes, closes)):
        escrow.releaseCollateral([job], {"from": rando})
    assert escrow.withheldPay(job) == WITHHELD
    warp(closes + 1)
    rel = escrow.releaseCollateral([job], {"from": rando})
    assert rel.events["WithheldPayReleased"]["amount"] == WITHHELD
    assert rel.events["CollateralReleased"]["amount"] == RESERVE
    assert escrow.withheldPay(job) == 0
    assert earnings(escrow, provider2) == PAID - FEE
    assert escrow.providerRecord(provider2)["valuePaid"] == PAID
    with brownie.reverts(err("JobEscrowNothingToClaim(address)", rando)):
        escrow.releaseCollateral([job], {"from": rando})
    before = token.balanceOf(provider2)
    escrow.withdrawEarnings({"from": provider2})
    assert token.balanceOf(provider2) - before == PAID - FEE


def test_a_rejected_dispute_releases_it(funded, escrow, staking, token, provider2, worker2, client, rando, oracle_key,
                                        arbiter):
    job, _ = short_settlement(escrow, staking, token, provider2, worker2, client, rando, oracle_key)
    escrow.dispute(job, REASON, {"from": client})
    with brownie.reverts(err("JobEscrowWrongStatus(uint256,uint8,uint8)", job, 6, 3)):
        escrow.releaseCollateral([job], {"from": rando})  # disputed: the ruling decides
    tx = escrow.resolveDispute(job, False, {"from": arbiter})
    assert tx.events["WithheldPayReleased"]["amount"] == WITHHELD
    assert escrow.withheldPay(job) == 0
    assert earnings(escrow, provider2) == PAID - FEE


def test_a_lapsed_dispute_releases_it(funded, escrow, staking, token, provider2, worker2, client, rando, oracle_key):
    job, _ = short_settlement(escrow, staking, token, provider2, worker2, client, rando, oracle_key)
    deadline = escrow.dispute(job, REASON, {"from": client}).events["DisputeFrozen"]["rulingDeadline"]
    warp(deadline + 1)
    tx = escrow.closeUnruledDispute(job, {"from": rando})
    assert tx.events["WithheldPayReleased"]["amount"] == WITHHELD
    assert earnings(escrow, provider2) == PAID - FEE


def test_an_upheld_ruling_takes_the_reserve_then_the_withheld_pay(funded, escrow, staking, token, provider2,
                                                                   worker2, client, rando, oracle_key, arbiter):
    job, _ = short_settlement(escrow, staking, token, provider2, worker2, client, rando, oracle_key)
    escrow.dispute(job, REASON, {"from": client})
    before = token.balanceOf(client)
    tx = escrow.resolveDispute(job, True, {"from": arbiter})
    # The slash is the whole deposit (5,000): the 1,200 reserve, then all 3,800 withheld; the client gets what it
    # paid, nothing of the withheld pay is left over.
    r = tx.events["DisputeResolved"]
    assert (r["slashed"], r["compensation"]) == (PAID, PAID)
    assert tx.events["Slashed"]["amount"] == RESERVE
    assert "WithheldPayReleased" not in tx.events
    assert staking.stakeOf(provider2)[0] == 0
    assert escrow.withheldPay(job) == 0
    assert earnings(escrow, provider2) == PAID - FEE - WITHHELD
    assert token.balanceOf(client) - before == PAID + DISPUTE_BOND


def test_an_upheld_ruling_takes_the_jobs_own_backing_before_other_stake(funded, escrow, staking, token, provider2,
                                                                        worker2, client, rando, oracle_key,
                                                                        arbiter):
    """Stake bonded after the settlement may be what another pending ruling needs: the job's reserve and withheld
    pay come first, and only the rest of the slash takes other stake."""
    job, _ = short_settlement(escrow, staking, token, provider2, worker2, client, rando, oracle_key)
    token.approve(staking, 2**256 - 1, {"from": provider2})
    staking.stake(5_000 * E18, {"from": provider2})
    escrow.dispute(job, REASON, {"from": client})
    tx = escrow.resolveDispute(job, True, {"from": arbiter})
    assert tx.events["DisputeResolved"]["slashed"] == PAID
    assert "WithheldPayReleased" not in tx.events
    assert staking.stakeOf(provider2)[0] == 5_000 * E18  # untouched: reserve + withheld covered the slash
    assert earnings(escrow, provider2) == PAID - FEE - WITHHELD


def test_withheld_pay_is_at_most_the_payout(funded, escrow, staking, token, provider2, worker2, client, rando,
                                            oracle_key, deployer):
    """No collateral and 100 tokens of stake: free stake raises the reserve by 100; the other 4,900 would exceed
    the 4,875 payout, so the whole payout is withheld."""
    escrow.setParameter(1, 0, {"from": deployer})
    job, tx = short_settlement(escrow, staking, token, provider2, worker2, client, rando, oracle_key,
                               stake=100 * E18)
    assert tx.events["JobSettled"]["reserve"] == 100 * E18
    assert tx.events["PayWithheld"]["amount"] == PAID - FEE
    assert escrow.withheldPay(job) == PAID - FEE
    assert earnings(escrow, provider2) == 0


def test_a_job_without_a_reserve_releases_its_withheld_pay(funded, escrow, staking, token, provider2, worker2,
                                                           client, rando, oracle_key, deployer):
    """No collateral and no free stake at settlement (the provider unstaked it all), so no reserve to release:
    releaseCollateral still credits the withheld pay (it refused such a job with JobEscrowNothingToClaim before,
    which would have kept the pay in the escrow for good)."""
    from tests.fixtures.accounts import WORKER2_KEY

    escrow.setParameter(1, 0, {"from": deployer})
    offer = setup_p(token, staking, provider2, worker2)
    job = open_and_accept(escrow, token, client, offer, GS, provider2)
    staking.requestUnstake(1_200 * E18, {"from": provider2})
    tx = settle_full(escrow, job, WORKER2_KEY, oracle_key, rando)
    assert tx.events["JobSettled"]["reserve"] == 0
    assert escrow.withheldPay(job) == PAID - FEE
    warp(tx.timestamp + DISPUTE_WINDOW + 1)
    rel = escrow.releaseCollateral([job], {"from": rando})
    assert rel.return_value == 0  # no collateral released
    assert rel.events["WithheldPayReleased"]["amount"] == PAID - FEE
    assert earnings(escrow, provider2) == PAID - FEE
    with brownie.reverts(err("JobEscrowNothingToClaim(address)", rando)):
        escrow.releaseCollateral([job], {"from": rando})
