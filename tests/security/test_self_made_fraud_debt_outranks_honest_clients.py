"""Attack on the fraud debt (second attack review; fails at d26f6b0, passes from the commit that ranks a work's own
collateral before the debts): the debt ranks before every later slash of the provider, even
the slash of a job whose own collateral or dispute reserve was locked, before the report, for an honest client. The
debt's holder is whoever the arbiter found defrauded, and the provider chooses who that is: it cheats, in the open,
a running job of its own second wallet W whose dispute slash (100% of a deposit W picks) is larger than its stake.
The report slashes the free stake to W (compensation = slash: no fee, W's deposit refunded), and records the rest as
W's debt. From then on every honest client's timeout slash and upheld ruling keeps `locked + owed` >= the stake and
takes nothing, the reserve locked for that very client included; collectFraudDebt later hands that stake to W.

Before fraud debts, the honest client's reserve stayed locked through the report and its ruling took it. Safe
outcome asserted: the honest client's upheld ruling still pays what it paid out of its reserve (3,000), and its
timeout slash still pays half its collateral.
"""

import brownie

from .conftest import DAY, HOUR, err, now, receipt_for, warp
from .test_fraud_report_pays_held_slash_to_second_wallet import open_job

E18 = 10**18
PRICE2 = E18  # offer 2: 1 token per GPU-second


def _wallet_and_offer2(staking, token, provider, rando, accounts):
    """The provider's second wallet W, funded, and offer 2 (2 GPUs at 1 token per GPU-second)."""
    wallet = accounts[9]
    token.transfer(wallet, 100_000 * E18, {"from": rando})
    offer = staking.addOffer("H100 (2)", 2, 80, PRICE2, "ipfs://two", {"from": provider}).events["OfferAdded"][
        "offerId"
    ]
    return wallet, offer


def _open(escrow, token, sender, offer, gpu_seconds, deadline):
    return open_job(escrow, token, sender, gpu_seconds, deadline, offer=offer, price=PRICE2)


def test_self_fraud_debt_takes_an_honest_clients_dispute_reserve(
    escrow, staking, token, staked_provider, client, rando, arbiter, accounts, sign, attest
):
    provider = staked_provider
    wallet, offer = _wallet_and_offer2(staking, token, provider, rando, accounts)
    t0 = now()
    # H (client) pays 3,000 for a run that was worthless; the reserve is raised to the 3,000 paid.
    jh = _open(escrow, token, client, offer, 3_000, t0 + 7 * DAY)
    escrow.acceptJob(jh, {"from": provider})
    r = receipt_for(escrow, jh, gpu_seconds=3_000)
    escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})
    assert escrow.providerRecord(provider)["lockedCollateral"] == 3_000 * E18
    escrow.withdrawEarnings({"from": provider})
    escrow.dispute(jh, b"\x11" * 32, {"from": client})

    # W's job: 20,000 deposit (4,000 collateral). The provider cheats it openly; the arbiter reports it.
    jw = _open(escrow, token, wallet, offer, 20_000, now() + 7 * DAY)
    escrow.acceptJob(jw, {"from": provider})
    w0, h0 = token.balanceOf(wallet), token.balanceOf(client)
    escrow.reportFraud(jw, b"\xf1" * 32, {"from": arbiter})
    debt = escrow.fraudDebt(jw)

    tx = escrow.resolveDispute(jh, True, {"from": arbiter})
    compensation = tx.events["DisputeResolved"]["compensation"]
    # Nothing is left for W's debt: H's reserve was H's.
    with brownie.reverts(err("JobEscrowFraudDebtNotCollectable(address,uint256)", provider, debt)):
        escrow.collectFraudDebt(provider, {"from": rando})
    print(
        f"W's debt {debt / E18}; H's upheld ruling paid {compensation / E18} of the 3,000 it paid; "
        f"W net gain {(token.balanceOf(wallet) - w0 - 20_000 * E18) / E18}; H received {(token.balanceOf(client) - h0) / E18}; "
        f"provider bonded {staking.stakeOf(provider)[0] / E18}"
    )
    assert compensation == 3_000 * E18, "a self-made fraud debt took the honest client's dispute reserve"


def test_self_fraud_debt_takes_an_honest_clients_timeout_slash(
    escrow, staking, token, staked_provider, client, rando, arbiter, accounts
):
    provider = staked_provider
    wallet, offer = _wallet_and_offer2(staking, token, provider, rando, accounts)
    t0 = now()
    # H's running job: 5,000 deposit, 1,000 collateral; the provider never runs it.
    jh = _open(escrow, token, client, offer, 5_000, t0 + 2 * HOUR)
    escrow.acceptJob(jh, {"from": provider})
    jw = _open(escrow, token, wallet, offer, 20_000, t0 + 7 * DAY)
    escrow.acceptJob(jw, {"from": provider})
    escrow.reportFraud(jw, b"\xf2" * 32, {"from": arbiter})
    warp(t0 + 2 * HOUR + 601)
    tx = escrow.claimTimeout(jh, {"from": client})
    slashed = tx.events["JobTimedOut"]["slashed"]
    print(f"W's debt {escrow.fraudDebt(jw) / E18}; H's timeout slash {slashed / E18} of 500")
    assert slashed == 500 * E18, "a self-made fraud debt took the honest client's timeout slash"
