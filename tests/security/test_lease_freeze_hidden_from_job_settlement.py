"""Attack review of cfcb46d (Low): a lease dispute can now freeze stake while the provider's lease-locked sum is zero, and the
staking contract's leaseLocked flag (which tells job settlement to net out the lease escrow's locked sum AND freeze)
is off then. Job settlement then raises a job's reserve from the frozen stake, and the upheld lease ruling finds it
gone.

Before cfcb46d a lease freeze existed only beside locked collateral (held = collateral + whole reserve, so frozen
was 0 unless ... ), so "a lease's freeze exists only while its collateral is locked, so the flag covers it"
(ProviderStaking.settlementContext) held. Now held = collateral + reserve - unreserved + withheld pay, and frozen =
unreserved - withheld pay - collateral > 0 once penalties drew the collateral to 0 and free stake locked none of
the reserve (locked == 0, flag cleared by _drawCollateral).

Sequence (shared suite, default parameters; offer 1 given a 90% uptime guarantee):
1. The client leases 2 GPUs (rate 0.002/s, collateral 7.2). The provider's second wallet (client2) opens an
   unaccepted job that takes all the provider's free stake.
2. Checkpoint 10 h, 9 h down: the penalty draws the whole collateral (lease locked -> 0, flag off). Checkpoint
   40 h all up: the reserve is all unreserved, the pay withheld is the net (fee share short).
3. The job is cancelled; the client disputes: the lease freezes the fee share (unreserved - withheld).
4. client2 opens job J2 (1 GPU, accepted) and job J3 (unaccepted) taking all free stake but the freeze
   (createJob respects the lease freeze). J2 settles: its reserve raise takes the frozen stake (settlementContext
   ignores the freeze: flag off).
5. The arbiter upholds the lease dispute: the ruling finds the withheld pay and nothing else.

Safe behaviour asserted: the ruling slashes its whole amount (the frozen stake was kept for it). Failed at cfcb46d
with keep_flag=False (slashed 287.82 of 295.2, short by the 7.38 freeze); passes from the commit where a checkpoint
dispute that freezes stake sets the flag (and the flag stays while anything is locked or frozen). Control (keep_flag=True, passes): a second lease's collateral keeps the flag on, J2's raise finds
no free stake and withholds instead, and the ruling takes the frozen stake in full.
"""

import pytest

from tests.fixtures.contracts import PRICE
from tests.fixtures.jobs import SPEC_HASH
from tests.security.conftest import DAY, HOUR, now

from .lease_withheld_support import free_of, squeeze, tokens, withheld_of

pytestmark = pytest.mark.usefixtures("staked_provider")
REASON = b"\x51" * 32


@pytest.mark.parametrize("keep_flag", [False, True], ids=["flag_off_attack", "flag_on_control"])
def test_a_lease_freeze_without_lease_lock_is_invisible_to_job_settlement(
    keep_flag, lease_escrow, escrow, staking, token, create_lease, checkpoint, submit, client, client2, staked_provider, arbiter,
    make_receipt, settle
):
    p = staked_provider
    staking.setOfferAvailability(1, 0, 0, 9_000, {"from": p})
    staking.addOffer("jobs", 4, 80, PRICE, "ipfs://jobs", {"from": p})  # offer 2, for the jobs
    lid = create_lease(hours=24 * 10)
    if keep_flag:
        create_lease(gpus=1, hours=24)  # its collateral stays locked: the flag stays on
    j1 = squeeze(lease_escrow, escrow, staking, token, p, 2, 2, client2, left=0)
    t1 = submit([checkpoint(lid, seconds=10 * HOUR, down=9 * HOUR)])
    assert t1.events["CheckpointSettled"]["penalty"] > 0
    t2 = submit([checkpoint(lid, seconds=40 * HOUR)])
    assert (int(lease_escrow.lockedCollateral(p)) == 0) == (not keep_flag)
    bonded = int(staking.stakeOf(p)[0])
    print("after the checkpoints: settlementContext bonded", tokens(staking.settlementContext(p)[1]), "== bonded", tokens(bonded))
    escrow.cancelJob(j1, {"from": client2})

    lease_escrow.disputeCheckpoint(lid, REASON, {"from": client})
    frozen = int(lease_escrow.unstakeBlockers(p)[3])
    pay, unreserved = withheld_of(lease_escrow, lid)
    print(f"withheld {tokens(pay)} of unreserved {tokens(unreserved)}; lease freeze {tokens(frozen)}")
    assert frozen > 0
    ctx = int(staking.settlementContext(p)[1])
    print(f"settlementContext free-for-jobs base {tokens(ctx)} vs bonded - lease freeze {tokens(bonded - frozen)}")

    # J2: one GPU, accepted; J3: takes all free stake but the freeze (createJob respects it).
    token.approve(escrow, 2**256 - 1, {"from": client2})
    j2 = escrow.createJob(2, 20_000, now() + 7 * DAY, SPEC_HASH, 1, PRICE, {"from": client2}).events["JobCreated"]["jobId"]
    escrow.acceptJob(j2, {"from": p})
    squeeze(lease_escrow, escrow, staking, token, p, 2, 1, client2, left=0)
    print("free stake after J3 (lease escrow's count):", tokens(free_of(lease_escrow, escrow, staking, p)))
    st = settle(make_receipt(j2, gpu_seconds=20_000))
    print("J2 settled: reserve", tokens(st.events["JobSettled"]["reserve"]), "withheld",
          tokens(st.events["PayWithheld"]["amount"]) if "PayWithheld" in st.events else 0)

    v = lease_escrow.getLease(lid).dict()
    amount = v["upSeconds"] * v["ratePerSecond"]  # dispute slash 100%
    r = lease_escrow.resolveCheckpointDispute(lid, True, {"from": arbiter}).events["CheckpointDisputeResolved"]
    print(f"ruling: due {tokens(amount)}, slashed {tokens(r['slashed'])}, compensation {tokens(r['compensation'])}, "
          f"short {tokens(amount - r['slashed'])} (the freeze was {tokens(frozen)})")
    assert r["slashed"] == amount, "job settlement raised a reserve from stake the lease dispute froze"
