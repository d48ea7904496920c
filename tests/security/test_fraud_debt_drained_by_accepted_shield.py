"""Attack on the fraud debt (review of the fix of 2026-12-03): the stake a fraud report's slash could not take is,
by construction, stake locked for other work. The debt freezes it "until it can be collected", but the other work
that locks it keeps first call on it: whatever that work slashes when it ends is paid to that work's client before
the debt sees a token. When that client is the provider's own second wallet W, the shield pays W instead of the
defrauded client:

* a W job accepted before the report and left to time out: its timeout slash (50% of its collateral) goes to W at
  once (the hold ignores fraud debts, so nothing is held);
* a W lease accepted before the report with a 100% uptime guarantee: one hour of real downtime, attested honestly,
  pays W the lease's whole collateral as a penalty;
* a W lease accepted before the report and never checkpointed: its expiry slash (50% of the collateral) goes to W,
  no oracle or arbiter involved;
* a W job accepted before the report, cheated in the open: a second fraud report pays W its compensation out of the
  very stake frozen for the first client's debt.

Strict xfails in 3dba357 against the first debt (27aceff): the defrauded client got 12,000 to 16,400 of 20,000, and
the debt took nothing the shield had locked. The bound chosen after the second attack review (a provider can also
defraud its own second wallet in the open, and a debt that outranked every lock let that wallet take honest clients'
reserves and timeout slashes): the work locked before the report keeps first call on its *own* collateral for its
*own* slash, as any client's does, and nothing more. So W gets at most its own work's slash from its own collateral
(a timeout's 50%, a lease's penalty or expiry fraction, a fraud report's compensation up to that collateral); the
rest of the shield's collateral, once unlocked, and every other token goes to the debt, and later slashes beyond
their own work's collateral leave the debt in place.

Defaults of the shared suite: collateral 20%, timeout slash 50%, dispute (fraud) slash 100%, lease collateral one
hour of the rate. The provider stakes 10,000. Outcome asserted: the defrauded client, whose fraud report on a 10,000
deposit slashes 10,000, ends with 20,000 (its deposit back and 10,000 compensation) less exactly the shield's own
slash, and W gains exactly that slash.
"""

import brownie

from tests.fixtures.contracts import PRICE, TIMEOUT_GRACE
from tests.fixtures.leases import LEASE_SPEC, MAX_U64

from .conftest import DAY, HOUR, MAX_U256, err, now, warp
from .test_fraud_report_pays_held_slash_to_second_wallet import E18, open_job


def _free(escrow, staking, provider, lease_locked=0):
    return (
        int(staking.stakeOf(provider)[0])
        - int(escrow.providerRecord(provider)["lockedCollateral"])
        - lease_locked
    )



def _fraud_job_beside_a_wallet_lease(escrow, lease_escrow, staking, token, provider, client, wallet, guarantee):
    """C's accepted job Jf (10,000 deposit, 2,000 collateral) and W's accepted lease of a 1-GPU offer at 2 tokens per
    GPU-second (7,200 collateral, two hours of runway), with a 100% uptime guarantee when `guarantee`."""
    offer = staking.addOffer("H100 (own)", 1, 80, 2 * E18, "ipfs://w", {"from": provider}).events[
        "OfferAdded"
    ]["offerId"]
    if guarantee:
        staking.setOfferAvailability(offer, 0, 0, 10_000, {"from": provider})
    jf = open_job(escrow, token, client, 10_000_000, now() + 7 * DAY)
    escrow.acceptJob(jf, {"from": provider})
    token.approve(lease_escrow, MAX_U256, {"from": wallet})
    lease = lease_escrow.openLease(
        offer, 1, MAX_U64, 2, 0, LEASE_SPEC, 14_400 * E18, 0, {"from": wallet}
    ).events["LeaseOpened"]["leaseId"]
    lease_escrow.acceptLease(lease, {"from": provider})
    return jf, lease

def test_a_second_wallets_running_job_times_out_into_the_debts_stake(
    escrow, staking, token, staked_provider, client, rando, arbiter, accounts
):
    """t0: C's job Jf (10,000 deposit, 2,000 collateral) and W's job J2 (40,000 deposit, 8,000 collateral: every
    other token of stake) both accepted. The arbiter reports fraud on Jf: the slash finds Jf's 2,000, the debt is
    8,000. J2 times out: its 4,000 timeout slash is paid to W from J2's own collateral; collectFraudDebt takes the
    other 4,000 of it for C."""
    provider = staked_provider
    wallet = accounts[9]
    token.transfer(wallet, 100_000 * E18, {"from": rando})
    t0 = now()
    jf = open_job(escrow, token, client, 10_000_000, t0 + 7 * DAY)  # 10,000 deposit, 2,000 collateral
    escrow.acceptJob(jf, {"from": provider})
    free = _free(escrow, staking, provider)
    assert free == 8_000 * E18
    j2 = open_job(escrow, token, wallet, free * 5 // PRICE, t0 + 2 * HOUR)  # collateral = all free stake
    escrow.acceptJob(j2, {"from": provider})

    c_before, w_before = token.balanceOf(client), token.balanceOf(wallet)
    tx = escrow.reportFraud(jf, b"\xf1" * 32, {"from": arbiter})
    assert tx.events["FraudReported"]["slashed"] == 2_000 * E18
    assert escrow.fraudDebt(jf) == 8_000 * E18

    warp(t0 + 2 * HOUR + TIMEOUT_GRACE + 1)
    tx = escrow.claimTimeout(j2, {"from": wallet})
    print(f"J2 timeout slash paid to W: {tx.events['JobTimedOut']['slashed'] / E18}")
    try:
        escrow.collectFraudDebt(provider, {"from": rando})
    except brownie.exceptions.VirtualMachineError:
        pass
    got = token.balanceOf(client) - c_before
    w_gain = token.balanceOf(wallet) - w_before
    print(
        f"C received {got / E18} (10,000 deposit + compensation), debt left {escrow.fraudDebt(jf) / E18}, "
        f"provider bonded {staking.stakeOf(provider)[0] / E18}; W received {w_gain / E18} (its 40,000 deposit back + the slash)"
    )
    slash = tx.events["JobTimedOut"]["slashed"]
    assert slash == 4_000 * E18 and w_gain == 40_000 * E18 + slash  # its own collateral's timeout fraction
    assert got == 20_000 * E18 - slash, "the shield's timeout took more than its own collateral's slash"
    assert escrow.fraudDebt(jf) == slash


def test_a_second_wallets_lease_penalty_takes_the_debts_stake(
    escrow,
    lease_escrow,
    staking,
    token,
    staked_provider,
    client,
    rando,
    arbiter,
    accounts,
    checkpoint,
    submit,
):
    """t0: the provider adds a 1-GPU offer at 2 tokens per GPU-second with a 100% uptime guarantee; W leases it
    (collateral 7,200, one hour of the rate), C's job Jf (10,000 deposit, 2,000 collateral) runs beside it, 800 of
    stake stays free. The fraud report on Jf finds 2,800, the debt is 7,200. The provider's machine then goes down
    for an hour, the oracle attests it honestly: the penalty paid W the lease's whole 7,200 collateral and the debt
    found nothing. The lease's penalties and expiry slash now leave the debt in place: C gets it all once the lease
    has ended."""
    provider = staked_provider
    wallet = accounts[9]
    token.transfer(wallet, 100_000 * E18, {"from": rando})
    jf, lease = _fraud_job_beside_a_wallet_lease(escrow, lease_escrow, staking, token, provider, client, wallet, True)
    assert lease_escrow.lockedCollateral(provider) == 7_200 * E18
    assert _free(escrow, staking, provider, 7_200 * E18) == 800 * E18

    c_before, w_before = token.balanceOf(client), token.balanceOf(wallet)
    tx = escrow.reportFraud(jf, b"\xf2" * 32, {"from": arbiter})
    assert tx.events["FraudReported"]["slashed"] == 2_800 * E18
    assert escrow.fraudDebt(jf) == 7_200 * E18

    tx = submit([checkpoint(lease, seconds=HOUR, down=HOUR)])
    penalty = tx.events["CheckpointSettled"]["penalty"]
    print(f"lease penalty paid to W: {penalty / E18}")
    assert penalty == 7_200 * E18  # the lease's own collateral, its guarantee being 100%
    # The lease runs out (two hours of deposit) with no final checkpoint; once its last window has closed, its
    # collateral is released and the debt collected.
    warp(now() + DAY + 2 * HOUR)
    lease_escrow.claimLeaseExpiry(lease, {"from": wallet})
    lease_escrow.releaseLeaseCollateral([lease], {"from": rando})
    # The penalty took the lease's whole collateral: no stake is left for the debt.
    with brownie.reverts(err("JobEscrowFraudDebtNotCollectable(address,uint256)", provider, 7_200 * E18)):
        escrow.collectFraudDebt(provider, {"from": rando})
    got = token.balanceOf(client) - c_before
    print(
        f"C received {got / E18} (10,000 deposit + compensation), debt left {escrow.fraudDebt(jf) / E18}, "
        f"provider bonded {staking.stakeOf(provider)[0] / E18}; W gain so far {(token.balanceOf(wallet) - w_before) / E18}"
    )
    assert got == 20_000 * E18 - penalty, "the shield lease took more than its own collateral's penalty"


def test_a_second_fraud_report_on_the_second_wallets_job_takes_the_debts_stake(
    escrow, staking, token, staked_provider, client, rando, arbiter, accounts
):
    """As the first test, but J2 (W's running job) is cheated in the open after the report on Jf: the arbiter
    reports it, and its slash takes J2's own 8,000 collateral for W (as it would for any client: a debt cannot take
    stake locked for another client's work), nothing beyond; W's 32,000 debt queues behind C's."""
    provider = staked_provider
    wallet = accounts[9]
    token.transfer(wallet, 100_000 * E18, {"from": rando})
    t0 = now()
    jf = open_job(escrow, token, client, 10_000_000, t0 + 7 * DAY)
    escrow.acceptJob(jf, {"from": provider})
    free = _free(escrow, staking, provider)
    j2 = open_job(escrow, token, wallet, free * 5 // PRICE, t0 + 7 * DAY)
    escrow.acceptJob(j2, {"from": provider})

    c_before, w_before = token.balanceOf(client), token.balanceOf(wallet)
    escrow.reportFraud(jf, b"\xf3" * 32, {"from": arbiter})
    assert escrow.fraudDebt(jf) == 8_000 * E18
    tx = escrow.reportFraud(j2, b"\xf4" * 32, {"from": arbiter})
    print(
        f"second report: W compensated {tx.events['FraudReported']['compensation'] / E18}, "
        f"W's own debt {escrow.fraudDebt(j2) / E18}"
    )
    try:
        escrow.collectFraudDebt(provider, {"from": rando})
    except brownie.exceptions.VirtualMachineError:
        pass
    got = token.balanceOf(client) - c_before
    print(
        f"C received {got / E18}, C's debt left {escrow.fraudDebt(jf) / E18}; "
        f"W received {(token.balanceOf(wallet) - w_before) / E18} (its 40,000 deposit back + compensation)"
    )
    comp = tx.events["FraudReported"]["compensation"]
    assert comp == 8_000 * E18  # J2's own collateral, nothing beyond it
    assert escrow.fraudDebt(j2) == 32_000 * E18 and tuple(escrow.fraudDebtOf(provider))[1] == 2
    assert got == 20_000 * E18 - comp, "a later report took more than its own job's collateral"


def test_a_second_wallets_lease_expiry_slash_takes_the_debts_stake(
    escrow, lease_escrow, staking, token, staked_provider, client, rando, arbiter, accounts
):
    """The lease route without any oracle: W's lease (7,200 collateral, two hours of runway) is simply never
    checkpointed. Its expiry slash (50% of the collateral) goes to W; the rest, released, goes to the debt."""
    provider = staked_provider
    wallet = accounts[9]
    token.transfer(wallet, 100_000 * E18, {"from": rando})
    jf, lease = _fraud_job_beside_a_wallet_lease(escrow, lease_escrow, staking, token, provider, client, wallet, False)

    c_before = token.balanceOf(client)
    escrow.reportFraud(jf, b"\xf6" * 32, {"from": arbiter})
    assert escrow.fraudDebt(jf) == 7_200 * E18

    warp(now() + 2 * HOUR + 11 * 60)
    tx = lease_escrow.claimLeaseExpiry(lease, {"from": wallet})
    print(f"lease expiry slash paid to W: {tx.events['LeaseExpired']['slashed'] / E18}")
    lease_escrow.releaseLeaseCollateral([lease], {"from": rando})
    escrow.collectFraudDebt(provider, {"from": rando})
    got = token.balanceOf(client) - c_before
    print(f"C received {got / E18}, debt left {escrow.fraudDebt(jf) / E18}")
    slash = tx.events["LeaseExpired"]["slashed"]
    assert slash == 3_600 * E18  # the expiry fraction of the lease's own collateral
    assert got == 20_000 * E18 - slash, "the shield lease's expiry took more than its own collateral's slash"
