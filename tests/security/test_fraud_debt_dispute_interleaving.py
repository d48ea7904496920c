"""Attack attempt (held): interleave a fraud debt with an open job dispute, a held timeout slash, the ruling or the
lapse, and the debt's collection, in both orders, looking for an underflow of openDisputes / fraudDebts /
disputeFrozen, a hold released too early or never, or a freeze left behind. The defence holds: every count and sum
returns to zero, the held slash waits for the dispute (not the debt) and is claimed, the stake can be unstaked."""

import brownie
import pytest

from tests.fixtures.contracts import PRICE, TIMEOUT_GRACE

from .conftest import DAY, HOUR, now, receipt_for, warp
from .test_fraud_report_pays_held_slash_to_second_wallet import E18, open_job


def _blockers(escrow, provider):
    b = escrow.unstakeBlockers(provider)
    return int(b[1]), int(b[3]), int(escrow.providerRecord(provider)["openDisputes"])


@pytest.mark.parametrize("order", ["rule_then_collect", "collect_then_lapse"])
def test_debt_and_dispute_interleave_without_corrupting_the_counts(
    escrow, staking, token, staked_provider, client, rando, arbiter, sign, attest, order
):
    provider = staked_provider
    t0 = now()
    js = open_job(escrow, token, client, 1_000_000, t0 + 7 * DAY)  # 1,000 deposit, 200 collateral
    jt = open_job(escrow, token, client, 100_000, t0 + 2 * HOUR)  # 100 deposit, 20 collateral
    jf = open_job(escrow, token, client, 5_000_000, t0 + 7 * DAY)  # 5,000 deposit, 1,000 collateral
    for j in (js, jt, jf):
        escrow.acceptJob(j, {"from": provider})
    r = receipt_for(escrow, js, gpu_seconds=1_000)
    escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})
    escrow.dispute(js, b"\x01" * 32, {"from": client})
    assert _blockers(escrow, provider) == (1, 800 * E18, 1)

    # A stranger's unaccepted job takes every free token, then the fraud report on Jf finds the shortfall.
    free = (
        int(staking.stakeOf(provider)[0])
        - int(escrow.providerRecord(provider)["lockedCollateral"])
        - 800 * E18
    )
    shield = open_job(escrow, token, rando, free * 5 // PRICE, t0 + 7 * DAY)
    escrow.reportFraud(jf, b"\xf5" * 32, {"from": arbiter})
    debt = int(escrow.fraudDebt(jf))
    assert debt > 0
    assert _blockers(escrow, provider) == (2, 800 * E18 + debt, 1)

    # The shield is cancelled; Jt times out while the dispute is open: its slash takes stake beyond the debt (the
    # debt's own stays) and is held for the dispute's ruling.
    escrow.cancelJob(shield, {"from": rando})
    warp(t0 + 2 * HOUR + TIMEOUT_GRACE + 1)
    tx = escrow.claimTimeout(jt, {"from": client})
    assert tx.events["TimeoutSlashHeld"]["amount"] == 10 * E18

    if order == "rule_then_collect":
        escrow.resolveDispute(js, True, {"from": arbiter})
        assert _blockers(escrow, provider) == (1, debt, 0)
        escrow.collectFraudDebt(provider, {"from": rando})
    else:
        escrow.collectFraudDebt(provider, {"from": rando})
        assert _blockers(escrow, provider) == (1, 800 * E18, 1)
        with brownie.reverts():
            escrow.claimHeldSlash(jt, {"from": client})  # the dispute still holds it
        warp(now() + 15 * DAY)
        escrow.closeUnruledDispute(js, {"from": rando})
    assert escrow.fraudDebt(jf) == 0
    assert _blockers(escrow, provider) == (0, 0, 0)

    warp(now() + 2 * DAY)
    before = token.balanceOf(client)
    escrow.claimHeldSlash(jt, {"from": client})
    assert token.balanceOf(client) > before
    free = int(staking.stakeOf(provider)[0]) - int(escrow.providerRecord(provider)["lockedCollateral"])
    staking.requestUnstake(free, {"from": provider})  # nothing left frozen
