"""Attack (outside review of 2026-12-02, round 3): a provider keeps a timed-out client's held slash
locked for as long as it likes.

A timeout slash taken while a dispute against the provider is open (or one of its settled jobs is disputable) is held;
`claimHeldSlash` pays it only once `openDisputes == 0` and the hold's windows closed. Nothing bounds *which* disputes
count: any dispute opened later keeps every earlier hold shut. The provider's second wallet opens a dust job, the
provider settles it, the wallet disputes it, and before that dispute lapses (14 days, bond returned to the wallet by
`closeUnruledDispute`; a rejection pays the bond to the provider, the same owner) the next one is open. Cost: the fee
on a few dust jobs. The timed-out client can never claim; the ruling periods that could use the hold have long
passed.

What must hold (docs/PROTOCOL.md): "Pausing never traps funds"; a hold exists to keep a slash within reach of the
rulings pending or possible when it was taken, and is released once those are over.
"""

import brownie
import pytest

from tests.fixtures.contracts import PRICE
from tests.fixtures.jobs import SPEC_HASH

from .conftest import DAY, now, receipt_for, warp

pytestmark = pytest.mark.usefixtures("staked_provider")
REASON = b"\x0d" * 32


def test_later_disputes_from_a_second_wallet_cannot_keep_a_held_slash_locked_forever(
    escrow, staking, token, client, client2, staked_provider, sign, attest, rando
):
    provider, wallet2 = staked_provider, client2
    for who in (client, wallet2):
        token.approve(escrow, 2**256 - 1, {"from": who})

    def dust_dispute():
        """A second-wallet job of 100 GPU-seconds, settled and disputed at once; returns (job id, ruling deadline)."""
        j = escrow.createJob(1, 100, now() + DAY, SPEC_HASH, 1, PRICE, {"from": wallet2}).events["JobCreated"]["jobId"]
        escrow.acceptJob(j, {"from": provider})
        r = receipt_for(escrow, j, gpu_seconds=100)
        escrow.settle(r.as_tuple(), sign(r), attest([r]), {"from": rando})
        escrow.dispute(j, REASON, {"from": wallet2})
        return j, int(escrow.getJob(j)["deadline"])

    victim = escrow.createJob(1, 3600, now() + DAY, SPEC_HASH, 1, PRICE, {"from": client}).events["JobCreated"][
        "jobId"]
    escrow.acceptJob(victim, {"from": provider})
    current, deadline = dust_dispute()
    warp(int(escrow.getJob(victim)["deadline"]) + 600 + 1)
    tx = escrow.claimTimeout(victim, {"from": client})
    held = tx.events["TimeoutSlashHeld"]["amount"]
    assert held > 0
    held_at = now()

    for _ in range(5):  # ~70 days: past the longest ruling period governance can set (60 days)
        warp(deadline - 3600)
        nxt, nxt_deadline = dust_dispute()
        warp(deadline + 1)
        escrow.closeUnruledDispute(current, {"from": rando})  # the bond goes back to the second wallet
        current, deadline = nxt, nxt_deadline

    print(f"{(now() - held_at) / DAY:.1f} days after the slash was held, open disputes:",
          escrow.providerRecord(provider)["openDisputes"])
    # Every dispute that was open or possible when the slash was held ended more than 50 days ago.
    try:
        escrow.claimHeldSlash(victim, {"from": client})
    except brownie.exceptions.VirtualMachineError as exc:
        pytest.fail(f"the held slash is still locked: {exc.revert_msg}")
