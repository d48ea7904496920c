"""Helpers for the withheld lease pay tests (the attack review of cfcb46d)."""

from tests.fixtures.contracts import COLLATERAL_BPS, E18
from tests.fixtures.jobs import SPEC_HASH
from tests.security.conftest import BPS, DAY, now
from tests.security.lease_support import owed_by

MAXU = 2**256 - 1


def free_of(lease_escrow, escrow, staking, p):
    """Stake free for new locks, as the lease escrow counts it (bonded less both escrows' locks and freezes)."""
    bonded = int(staking.stakeOf(p)[0])
    l_locked, _, _, l_frozen = lease_escrow.unstakeBlockers(p)
    j_locked, _, _, j_frozen = escrow.unstakeBlockers(p)
    held = int(l_locked) + int(l_frozen) + int(j_locked) + int(j_frozen)
    return max(bonded - held, 0)


def squeeze(lease_escrow, escrow, staking, token, p, offer_id, gpus, sender, left=0):
    """An unaccepted job on `offer_id` whose collateral takes all but about `left` of `p`'s free stake."""
    price = int(staking.offer(offer_id)["pricePerGpuSecond"])
    free = free_of(lease_escrow, escrow, staking, p)
    unit = price * COLLATERAL_BPS // BPS
    gs = (free - left) // unit
    assert 0 < gs < 2**32
    if token.allowance(sender, escrow) < 2**255:
        token.approve(escrow, MAXU, {"from": sender})
    tx = escrow.createJob(offer_id, gs, now() + 7 * DAY, SPEC_HASH, gpus, price, {"from": sender})
    return tx.events["JobCreated"]["jobId"]


def withheld_of(lease_escrow, lease_id):
    pay, unreserved = lease_escrow.leaseWithheldPay(lease_id)
    return int(pay), int(unreserved)


def expected_locked(lease_escrow, leases):
    total = 0
    for lid in leases:
        v = lease_escrow.getLease(lid).dict()
        if v["collateralReleased"]:
            continue
        bps = int(lease_escrow.leaseParameters(lid)[3])
        total += int(v["collateral"]) + int(v["upSeconds"]) * int(v["ratePerSecond"]) * bps // BPS
        total -= withheld_of(lease_escrow, lid)[1]
    return total


def owed_with_withheld(lease_escrow, providers):
    owed = owed_by(lease_escrow, providers)
    for lid in range(1, int(lease_escrow.leaseCount()) + 1):
        owed += withheld_of(lease_escrow, lid)[0]
    return owed


def tokens(x):
    return f"{x / E18:.6f}"
