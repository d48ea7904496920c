"""Attack (outside review of 2026-12-03; a strict xfail from a632009, passing from the fraud debt's commit): the
provider, expecting a fraud report on a job it ran falsely, front-runs it with a second wallet's job whose collateral
locks all its free stake (never accepted, cancelled right after for a full refund): the report's slash finds only the
fraudulent job's own collateral."""

import brownie

from tests.fixtures.contracts import PRICE

from .conftest import DAY, err, now
from .test_fraud_report_pays_held_slash_to_second_wallet import E18, open_job


def test_a_real_clients_fraud_compensation_is_shielded_by_a_second_wallets_open_job(
    escrow, staking, token, staked_provider, client, rando, arbiter, accounts
):
    """PROTOCOL.md: reportFraud refunds the deposit and slashes the dispute fraction of it (100% here), the client
    compensated up to its deposit. The provider, expecting the report (it ran the job falsely), front-runs it with a
    second wallet's job whose collateral takes all free stake (never accepted, cancelled right after for a full
    refund): the slash finds the fraudulent job's own 20% collateral only."""
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
    escrow.cancelJob(shield, {"from": wallet})
    ev = tx.events["FraudReported"]
    # Before the fix (a632009), the client got its deposit and 200 (the job's own collateral); the provider kept
    # the rest, all free again once the shield was cancelled. Now the shortfall is the job's fraud debt, frozen
    # (not unstakeable) and collected by anyone once the shield's lock is gone.
    assert tx.events["FraudDebtRecorded"]["amount"] == 1_000 * E18 - ev["compensation"] > 0
    debt = 1_000 * E18 - ev["compensation"]
    free = staking.stakeOf(provider)[0] - debt
    with brownie.reverts(err("ProviderStakingInsufficientFreeStake(address,uint256,uint256)", provider, free, free + 1)):
        staking.requestUnstake(free + 1, {"from": provider})
    escrow.collectFraudDebt(provider, {"from": rando})
    got = token.balanceOf(client) - c_before
    print(
        f"fraud on a 1,000 deposit: slashed {ev['slashed'] / E18} at the report, debt "
        f"{tx.events['FraudDebtRecorded']['amount'] / E18}; client received {got / E18} after the collection"
    )
    assert got == 2_000 * E18, "a second wallet's open job shielded the provider from the fraud slash"
    assert escrow.fraudDebt(jf) == 0 and tuple(escrow.fraudDebtOf(provider)) == (0, 0)
