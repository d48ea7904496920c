"""Attack review of cfcb46d (Low; lease pay withheld when free stake cannot lock the ruling reserve): a third party's job that
exists for ONE BLOCK (opened just before an attested checkpoint lands, cancelled in the same block for its whole
deposit) holds back the provider's whole net pay for the checkpoint's period until the lease ends and its last
dispute window closes. Nothing the provider does afterwards (free stake back, more stake bonded, more checkpoints
with ample free stake) releases it; for an open-ended lease the client alone decides when it ends.

Before cfcb46d the same job made the checkpoint skip; once the job was gone (the provider could also decline it)
the next checkpoint paid the whole period. So the delay of pay is now bought with one block of refundable capital
instead of capital held for the whole delay. SECURITY.md admits "the griefer can only delay part of the provider's
pay to the end of the lease's last dispute window"; with the default dispute slash (100%) it is ALL of the period's
net pay, not part.

Safe behaviour asserted: once free stake is back and a later checkpoint lands, the held-back pay is released (or at
most the unreserved part stays withheld while stake is short). Failed at cfcb46d (168.48 still withheld a week
later); passes from the commit that adds the catch-up: each later checkpoint locks what free stake now covers of
the missing reserve and releases the withheld pay beyond what stays unlocked (LeaseWithheldPayReleased).
"""

import pytest

from tests.fixtures.contracts import E18, PRICE, PROVIDER_STAKE
from tests.fixtures.jobs import SPEC_HASH
from tests.security.conftest import DAY, HOUR, now
from tests.security.lease_support import one_block, send

from .lease_withheld_support import free_of, tokens, withheld_of

pytestmark = pytest.mark.usefixtures("staked_provider")


def test_a_one_block_job_holds_back_a_whole_day_of_pay_for_the_lease_life(
    lease_escrow, escrow, staking, token, create_lease, checkpoint, submit, attest_checkpoints, client2,
    staked_provider
):
    provider = staked_provider
    lid = create_lease(hours=24 * 30)  # open-ended, 2 GPUs, 30 days of deposit
    submit([checkpoint(lid, seconds=HOUR)])
    griefer_start = token.balanceOf(client2)
    cp = checkpoint(lid, seconds=24 * HOUR)  # the oracle's attested day, all up; the chain is past its end
    free = free_of(lease_escrow, escrow, staking, provider)
    gs = free * 10_000 // 2_000 // PRICE
    token.approve(escrow, 2**256 - 1, {"from": client2})
    job_id = escrow.jobCount() + 1
    with one_block() as sent:
        j = send(sent, escrow.createJob, 1, gs, now() + 7 * DAY, SPEC_HASH, 2, PRICE, sender=client2)
        c = send(sent, lease_escrow.submitCheckpoints, [cp.as_tuple()], attest_checkpoints([cp]), sender=client2,
                 gas=3_000_000)
        x = send(sent, escrow.cancelJob, job_id, sender=client2)
    assert (j.status, c.status, x.status) == (1, 1, 1)
    payout = c.events["CheckpointSettled"]["payout"]
    w = c.events["LeasePayWithheld"]
    print(f"griefer's job locked {tokens(free)} of free stake for one block; cost {tokens(griefer_start - token.balanceOf(client2))} tokens")
    print(f"day's payout {tokens(payout)}, withheld {tokens(w['amount'])}, unreserved {tokens(w['unreserved'])}")

    # The job is gone; the provider even doubles its stake; the lease runs on for another week of checkpoints.
    token.approve(staking, PROVIDER_STAKE, {"from": provider})
    staking.stake(PROVIDER_STAKE, {"from": provider})
    for _ in range(7):
        tx = submit([checkpoint(lid, seconds=24 * HOUR)])
        assert "LeasePayWithheld" not in tx.events
    held, unreserved = withheld_of(lease_escrow, lid)
    print(f"a week later, with {tokens(free_of(lease_escrow, escrow, staking, provider))} free stake: "
          f"still withheld {tokens(held)} (unreserved {tokens(unreserved)}); lease still Running, end set by the client")
    assert lease_escrow.getLease(lid)["status"] == 2
    assert held == 0, "one block of a stranger's refundable job keeps the day's whole net pay locked until the lease ends"
