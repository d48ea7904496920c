"""Attack (outside review of 2026-12-03, Medium): a fraud report on the provider's own second wallet's job paid that
wallet out of a real client's held timeout slash. Failed at 961a5d8 (C claimed 0 of 40); fixed by reportFraud no
longer drawing on the hold.

PROTOCOL.md: a timeout slash taken while a settled job of the provider is disputable is *held* "for the rulings"
of those disputes, and "a ruling then draws on timeout slashes held for it (other clients' compensation, so only
after the provider's own stake)". The fix of the second review's Medium (test_hold_drawn_first.py) ordered the
draw after free and unbonding stake. But reportFraud's slash (the dispute fraction of a *running* job's deposit,
compensation capped at the whole deposit) also draws on the hold, whatever it was held for, and the provider can
simply have no free or unbonding stake left when the report lands:

  t0         C opens Jc (400 deposit, 80 collateral); the provider's second wallet W opens Jx (10) and Jy (100);
             the provider accepts all three and requests to unstake everything else (9,898 tokens).
  t0+7d      the provider withdraws it (nothing settled yet, nothing frozen): bonded 102 = the three collaterals.
  t0+7d18h   Jx settles (W's job, any receipt): the provider has a disputable settlement.
  t0+8d10m   Jc (never run) times out: its 40-token timeout slash is HELD for the Jx window.
  t0+8d1h    the provider cheats W's running job Jy in the open; the arbiter reports fraud: the 100 slash takes Jy's
             20 collateral, the 40 left free by Jc's timeout, and then C's 40 held slash; W gets 100 + 100.
  window end C claims its held slash: 0.

Safe outcome asserted: C receives its 40-token held slash (the hold backs rulings on the settlements disputable
when it was taken, Jx's; a fraud report on another job must not pay the provider's own wallet with it).
"""

from tests.fixtures.contracts import PRICE, TIMEOUT_GRACE
from tests.fixtures.jobs import SPEC_HASH

from .conftest import DAY, HOUR, MAX_U256, at, now, receipt_for, warp

E18 = 10**18


def open_job(escrow, token, sender, gpu_seconds, deadline, offer=1, price=PRICE):
    """A one-GPU job on `offer` (at most `price` per GPU-second) from `sender`, its allowance set once."""
    if token.allowance(sender, escrow) < 2**255:
        token.approve(escrow, MAX_U256, {"from": sender})
    return escrow.createJob(offer, gpu_seconds, deadline, SPEC_HASH, 1, price, {"from": sender}).events[
        "JobCreated"
    ]["jobId"]


def test_fraud_report_on_second_wallet_job_takes_a_real_clients_held_slash(
    escrow, staking, token, staked_provider, client, rando, arbiter, sign, attest, accounts
):
    provider = staked_provider
    wallet = accounts[9]  # the provider's second wallet, a stranger to the contracts
    token.transfer(wallet, 1_000 * E18, {"from": rando})
    t0 = now()

    jc = open_job(escrow, token, client, 400_000, t0 + 8 * DAY)  # 400 deposit, 80 collateral
    jx = open_job(escrow, token, wallet, 10_000, t0 + 9 * DAY)  # 10 deposit, 2 collateral
    jy = open_job(escrow, token, wallet, 100_000, t0 + 30 * DAY)  # 100 deposit, 20 collateral
    for j in (jc, jx, jy):
        escrow.acceptJob(j, {"from": provider})
    locked = escrow.providerRecord(provider)["lockedCollateral"]
    assert locked == 102 * E18
    staking.requestUnstake(staking.stakeOf(provider)[0] - locked, {"from": provider})
    # The release time the chain set (blocks may have moved past t0 while the jobs were opened on a busy machine).
    warp(max(t0 + 7 * DAY, int(staking.stakeOf(provider)[2])) + 1)
    staking.withdraw({"from": provider})
    assert tuple(int(x) for x in staking.stakeOf(provider)[:2]) == (int(locked), 0)

    # W's small job settles: the provider now has a settlement disputable for a day.
    r = receipt_for(escrow, jx, gpu_seconds=10_000, advance=False)
    with at(t0 + 7 * DAY + 18 * HOUR):
        escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})
    settled_at = escrow.getJob(jx)["settledAt"]

    # C's job, never run, times out inside that window: its slash is held.
    with at(t0 + 8 * DAY + TIMEOUT_GRACE):
        tx = escrow.claimTimeout(jc, {"from": client})
    held = tx.events["TimeoutSlashHeld"]["amount"]
    assert held == 40 * E18

    # The provider cheated W's running job Jy in the open; the arbiter reports the fraud.
    w_before = token.balanceOf(wallet)
    with at(t0 + 8 * DAY + HOUR):
        tx = escrow.reportFraud(jy, b"\xf0" * 32, {"from": arbiter})
    ev = tx.events["FraudReported"]
    w_gain = token.balanceOf(wallet) - w_before
    print(
        f"fraud slash {ev['slashed'] / E18}, W compensated {ev['compensation'] / E18}, "
        f"W received {w_gain / E18} (its deposit 100 back + compensation); hold left {escrow.heldSlashes(provider)[0] / E18}"
    )

    warp(settled_at + DAY + 1)  # Jx's window closed, no dispute: the hold is released
    c_before = token.balanceOf(client)
    escrow.claimHeldSlash(jc, {"from": client})
    got = token.balanceOf(client) - c_before
    print(f"C's held timeout slash: {held / E18}, claimed {got / E18}")
    assert got == held, "the provider's second wallet was paid a real client's held timeout slash"


def test_no_unstaking_needed_a_second_wallets_open_job_shields_the_stake(
    escrow, staking, token, staked_provider, client, rando, arbiter, sign, attest, accounts
):
    """The same without unstaking, in one day: W's unaccepted job locks every free token just before the report
    (a slash never takes collateral locked for other work), and is cancelled for a full refund right after. The
    provider keeps its 10,000-token stake but for Jy's 20 collateral; W gains C's held slash."""
    provider = staked_provider
    wallet = accounts[9]
    token.transfer(wallet, 100_000 * E18, {"from": rando})
    t0 = now()
    jc = open_job(escrow, token, client, 400_000, t0 + 12 * HOUR)  # 400 deposit, 80 collateral
    jx = open_job(escrow, token, wallet, 10_000, t0 + 2 * DAY)
    jy = open_job(escrow, token, wallet, 100_000, t0 + 30 * DAY)  # 100 deposit, 20 collateral
    for j in (jc, jx, jy):
        escrow.acceptJob(j, {"from": provider})
    r = receipt_for(escrow, jx, gpu_seconds=10_000)
    escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})
    settled_at = escrow.getJob(jx)["settledAt"]
    with at(t0 + 12 * HOUR + TIMEOUT_GRACE):
        held = escrow.claimTimeout(jc, {"from": client}).events["TimeoutSlashHeld"]["amount"]
    assert held == 40 * E18

    bonded_before = staking.stakeOf(provider)[0]
    w_before = token.balanceOf(wallet)
    free = staking.stakeOf(provider)[0] - escrow.providerRecord(provider)["lockedCollateral"]
    shield = open_job(
        escrow, token, wallet, int(free) * 5 // PRICE, t0 + 7 * DAY
    )  # collateral = all free stake
    tx = escrow.reportFraud(jy, b"\xf0" * 32, {"from": arbiter})
    escrow.cancelJob(shield, {"from": wallet})
    w_gain = token.balanceOf(wallet) - w_before
    print(
        f"fraud slashed {tx.events['FraudReported']['slashed'] / E18}; W received {w_gain / E18} "
        f"(Jy's 100 deposit back + compensation; the shield's deposit back in full); provider's bonded stake "
        f"{bonded_before / E18} -> {staking.stakeOf(provider)[0] / E18}"
    )

    warp(settled_at + DAY + 1)
    c_before = token.balanceOf(client)
    escrow.claimHeldSlash(jc, {"from": client})
    got = token.balanceOf(client) - c_before
    print(f"C's held timeout slash: {held / E18}, claimed {got / E18}")
    assert got == held, "a shielded fraud report paid the provider's second wallet a real client's held slash"
