"""Attack (outside review of 2026-12-03): the provider, expecting a fraud report on a job it ran falsely, front-runs
it with a second wallet's job whose collateral locks all its free stake (never accepted, cancelled right after for a
full refund): the report's slash finds only the fraudulent job's own collateral."""

import brownie

from tests.fixtures.contracts import PRICE

from .conftest import DAY, now
from .test_fraud_report_pays_held_slash_to_second_wallet import E18, open_job


def test_a_real_clients_fraud_compensation_is_shielded_by_a_second_wallets_open_job(
    escrow, staking, token, staked_provider, client, rando, arbiter, accounts
):
    """PROTOCOL.md: reportFraud refunds the deposit and slashes the dispute fraction of it (100% here), the client
    compensated up to its deposit. The provider, expecting the report (it ran the job falsely), front-runs it with a
    second wallet's job whose collateral takes all free stake (never accepted, cancelled right after for a full
    refund): before the fix the slash found the fraudulent job's own 20% collateral only (200 of 1,000). Now the
    rest is the job's fraud debt: frozen (not unstakeable, not lockable by a new shield), and collected by anyone
    once the shield is gone."""
    provider = staked_provider
    wallet = accounts[9]
    token.transfer(wallet, 100_000 * E18, {"from": rando})
    t0 = now()
    jf = open_job(escrow, token, client, 1_000_000, t0 + 7 * DAY)  # 1,000 deposit, 200 collateral
    escrow.acceptJob(jf, {"from": provider})
    free = staking.stakeOf(provider)[0] - escrow.providerRecord(provider)["lockedCollateral"]
    shield = open_job(escrow, token, wallet, int(free) * 5 // PRICE, t0 + 7 * DAY)
    c_before = token.balanceOf(client)
    tx = escrow.reportFraud(jf, b"\xf1" * 32, {"from": arbiter})
    ev = tx.events["FraudReported"]
    assert (ev["slashed"], ev["compensation"]) == (200 * E18, 200 * E18)
    assert tx.events["FraudDebtRecorded"]["owed"] == 800 * E18 == escrow.fraudDebt(jf)
    escrow.cancelJob(shield, {"from": wallet})

    # The shield is gone, but the debt keeps the stake: it cannot leave, and no new job can lock it again.
    with brownie.reverts():
        staking.requestUnstake(staking.stakeOf(provider)[0], {"from": provider})
    assert staking.stakeOf(provider)[0] - escrow.providerRecord(provider)["lockedCollateral"] >= 800 * E18
    with brownie.reverts():
        open_job(escrow, token, wallet, int(free) * 5 // PRICE, t0 + 7 * DAY)

    out = escrow.collectFraudDebt(jf, {"from": rando})
    assert out.events["FraudDebtCollected"]["slashed"] == 800 * E18 and escrow.fraudDebt(jf) == 0
    got = token.balanceOf(client) - c_before
    print(f"fraud on a 1,000 deposit: client received {got / E18} (deposit 1,000 back + 1,000 compensation)")
    assert got == 2_000 * E18, "a second wallet's open job shielded the provider from the fraud slash"
    with brownie.reverts():
        escrow.collectFraudDebt(jf, {"from": rando})
