"""Attack review of 5ebd53f (lease ruling reserve; Medium): anyone could make a lease's checkpoints skip with InsufficientStake by
opening a job on the provider's offer, without the provider's consent and at no cost (the job's collateral is
locked from the provider's free stake at createJob, before any acceptance, and the client cancels the Open job for
its whole deposit back at any time). Before 5ebd53f a checkpoint needed no free stake, so this lever is new.

Sequence (shared suite: provider stake 10,000 tokens, offer 1 = 4 GPUs at 0.001 token/GPU-s; lease params:
collateral 1 h, expiry slash 50%, dispute slash 100%, grace 600 s):
1. The client leases 2 GPUs (rate 0.002 token/s) with a fixed end 10 h after opening; the lease runs.
2. A checkpoint pays the first 9 h (64.8 tokens; locks a 64.8-token ruling reserve beside the 7.2 collateral).
3. Just before the final checkpoint (oracle attested 1 h, all up) the client opens a job on the same offer's 2 free
   GPUs with ~49,600 tokens of deposit: its 20% collateral takes all but 1 token of the provider's free stake.
4. The final checkpoint is skipped (reason 3: its 7.2-token reserve does not fit in 1 token of free stake).
5. 600 s after the billing end the client claims the expiry: it gets the last hour's 7.2 tokens back plus half the
   collateral (3.6 tokens) slashed from the provider; then it cancels its job and gets the whole deposit back.
Net: the client used 10 h of GPUs and paid 61.2 tokens instead of 72; the provider was paid 9 h and slashed 3.6.
(The provider can race the griefer by declining each job or pausing every offer, or out-stake it; the griefer's
capital, ~5x the free stake, comes back in full.)

Safe behaviour asserted: a third party's unaccepted job cannot cost the provider an expiry slash or give the client
attested up time for free. Failed (strict xfail) at 37b7f41; fixed by withholding pay: a checkpoint never waits for
free stake; what free stake cannot lock of the reserve is held back from the period's pay (LeasePayWithheld) until
the lease's collateral is released.
"""

import brownie
import pytest

from tests.fixtures.contracts import COLLATERAL_BPS, E18, PRICE
from tests.fixtures.jobs import SPEC_HASH
from tests.fixtures.leases import LEASE_DISPUTE_WINDOW, LEASE_GRACE

from .conftest import BPS, DAY, HOUR, now, warp

pytestmark = pytest.mark.usefixtures("staked_provider")
RATE = 2 * PRICE


def test_an_unaccepted_job_cannot_make_the_final_checkpoint_skip_into_an_expiry_slash(
    lease_escrow, escrow, staking, token, create_lease, checkpoint, submit, client, staked_provider
):
    provider = staked_provider
    client_start = token.balanceOf(client)
    end = now() + 10 * HOUR
    lease_id = create_lease(hours=11, end_time=end)
    assert submit([checkpoint(lease_id, seconds=9 * HOUR)]).events["CheckpointSettled"]
    v = lease_escrow.getLease(lease_id).dict()
    assert v["billingEnd"] == end

    # The griefer's job: all but one token of the provider's free stake, on the lease's own offer.
    bonded = int(staking.stakeOf(provider)[0])
    free = bonded - int(lease_escrow.lockedCollateral(provider)) - int(escrow.unstakeBlockers(provider)[0])
    gpu_seconds = (free - E18) * BPS // COLLATERAL_BPS // PRICE
    token.approve(escrow, 2**256 - 1, {"from": client})
    job = escrow.createJob(1, gpu_seconds, now() + 7 * DAY, SPEC_HASH, 2, PRICE, {"from": client}).events[
        "JobCreated"]["jobId"]

    tx = submit([checkpoint(lease_id, to=end)])  # the attested last hour, all up
    skipped = [dict(e) for e in tx.events["CheckpointSkipped"]] if "CheckpointSkipped" in tx.events else []
    print("final checkpoint:", "skipped " + str(skipped) if skipped else "settled")
    assert not skipped, "a stranger's job made the final checkpoint skip"
    withheld = tx.events["LeasePayWithheld"]
    # Free stake locked what it could (1 token); the rest of the reserve is held back from the period's pay.
    assert withheld["unreserved"] > 0
    assert withheld["amount"] == min(withheld["unreserved"], tx.events["CheckpointSettled"]["payout"])

    escrow.cancelJob(job, {"from": client})  # the whole deposit back
    warp(end + LEASE_GRACE)
    with brownie.reverts():  # the lease Ended with its final checkpoint: there is nothing to expire
        lease_escrow.claimLeaseExpiry(lease_id, {"from": client})
    if lease_escrow.getLease(lease_id)["refundable"]:
        lease_escrow.claimRefund(lease_id, {"from": client})

    spent = client_start - token.balanceOf(client)
    slashed = int(staking.totalSlashedOf(provider))
    print(f"client paid {spent / E18} tokens for 10 h of attested up time ({10 * HOUR * RATE / E18} due); "
          f"provider slashed {slashed / E18}")
    assert slashed == 0, "the provider was expiry-slashed because a stranger's job locked its free stake"
    assert spent >= 10 * HOUR * RATE, "the client got attested up time for free"

    # The withheld pay is the provider's once the dispute window closes.
    earned = lease_escrow.providerRecord(provider)["earnings"]
    warp(now() + LEASE_DISPUTE_WINDOW + 1)
    rel = lease_escrow.releaseLeaseCollateral([lease_id], {"from": provider})
    assert rel.events["LeaseWithheldPayReleased"]["amount"] == withheld["amount"]
    assert lease_escrow.providerRecord(provider)["earnings"] == earned + withheld["amount"]
    assert tuple(map(int, lease_escrow.leaseWithheldPay(lease_id))) == (0, 0)
