"""submitCheckpoints: attested periods pay up x rate less the fee, skip what cannot apply, revert on a bad
attestation or impossible numbers, penalise uptime below the guarantee, and end the lease at the billing end."""

import brownie
import pytest

from tests.fixtures.accounts import ORACLE_KEYS
from tests.fixtures.contracts import GPU_COUNT, PRICE
from tests.fixtures.leases import (
    COLLATERAL_SECONDS,
    L_ENDED,
    L_RUNNING,
    LEASE_FEE_BPS,
    SKIP_NOT_CONTIGUOUS,
    SKIP_NOT_RUNNING,
    SKIP_PAST_END,
)
from tests.helpers.lease_signing import Checkpoint, checkpoints_hash, sign_checkpoints
from tests.helpers.signing import malleable_pair
from tests.fixtures.leases import ruling_reserve
from tests.unit.JobEscrow.conftest import addr_of, at, now, sorted_keys, warp
from tests.unit.LeaseEscrow.conftest import err

RATE = 2 * PRICE  # create_lease's default: 2 GPUs


def test_pays_up_time_less_the_fee(lease_escrow, create_lease, checkpoint, submit, staked_provider):
    lease_id = create_lease()
    cp = checkpoint(lease_id, seconds=600, down=100)
    tx = submit([cp])
    paid = 500 * RATE
    fee = paid * LEASE_FEE_BPS // 10_000
    ev = tx.events["CheckpointSettled"]
    assert (ev["leaseId"], ev["fromTime"], ev["toTime"], ev["upSeconds"], ev["downSeconds"]) == (
        lease_id, cp.fromTime, cp.toTime, 500, 100)
    assert (ev["payout"], ev["fee"], ev["penalty"]) == (paid - fee, fee, 0)
    assert lease_escrow.providerRecord(staked_provider)["earnings"] == paid - fee
    assert lease_escrow.accruedFees() == fee
    v = lease_escrow.getLease(lease_id).dict()
    assert (v["paidThrough"], v["upSeconds"], v["downSeconds"], v["paid"]) == (cp.toTime, 500, 100, paid)
    assert v["lastCheckpointAt"] == tx.timestamp
    # Down time is not spent: the runway counts it as covered, the refund at the end returns it.
    assert v["runwayEnd"] == v["startedAt"] + 10 * 3600
    assert v["status"] == L_RUNNING


def test_a_batch_pays_many_leases(lease_escrow, create_lease, checkpoint, submit, client2, token):
    a = create_lease(gpus=1)
    b = create_lease(gpus=1, sender=client2)
    ca, cb = checkpoint(a, seconds=300), checkpoint(b, seconds=200, advance=False)
    tx = submit([ca, cb])
    assert tx.return_value == 2
    assert [e["leaseId"] for e in tx.events["CheckpointSettled"]] == [a, b]


def test_skips_what_cannot_apply(lease_escrow, create_lease, checkpoint, submit, client):
    running = create_lease(gpus=1)
    openl = create_lease(gpus=1, accept=False)
    cp = checkpoint(running, seconds=300)
    submit([cp])
    stale = cp  # already paid: fromTime is no longer paidThrough
    gap = Checkpoint(running, cp.toTime + 5, cp.toTime + 10, 5, 0)
    lease_escrow.closeLease(running, {"from": client})
    warp(now() + 30)
    closed_at = lease_escrow.getLease(running)["billingEnd"]
    past = Checkpoint(running, cp.toTime, closed_at + 1, closed_at + 1 - cp.toTime, 0)
    on_open = Checkpoint(openl, 1, 2, 1, 0)
    tx = submit([stale, gap, past, on_open])
    assert tx.return_value == 0
    assert [(e["leaseId"], e["fromTime"], e["reason"]) for e in tx.events["CheckpointSkipped"]] == [
        (running, stale.fromTime, SKIP_NOT_CONTIGUOUS), (running, gap.fromTime, SKIP_NOT_CONTIGUOUS),
        (running, past.fromTime, SKIP_PAST_END), (openl, 1, SKIP_NOT_RUNNING)]
    assert "CheckpointSettled" not in tx.events


@pytest.mark.parametrize("shape", ["empty", "future", "sum"])
def test_impossible_numbers_revert_the_batch(lease_escrow, create_lease, checkpoint, submit, shape):
    lease_id = create_lease()
    cp = checkpoint(lease_id, seconds=100)
    ts = now() + 5
    if shape == "empty":
        bad = Checkpoint(lease_id, cp.fromTime, cp.fromTime, 0, 0)
    elif shape == "future":
        bad = Checkpoint(lease_id, cp.fromTime, ts + 1, ts + 1 - cp.fromTime, 0)
    else:
        bad = Checkpoint(lease_id, cp.fromTime, cp.toTime, 60, 39)
    with brownie.reverts(err("LeaseEscrowImpossibleCheckpoint(uint256,uint256,uint256,uint256,uint256,uint256)",
                             lease_id, bad.fromTime, bad.toTime, bad.upSeconds, bad.downSeconds, ts)):
        with at(ts):
            submit([bad])
    assert lease_escrow.getLease(lease_id)["paidThrough"] == cp.fromTime


def test_empty_batch(lease_escrow, rando):
    with brownie.reverts(err("LeaseEscrowEmptyBatch()")):
        lease_escrow.submitCheckpoints([], [], {"from": rando})


def test_attestation_below_threshold(lease_escrow, escrow, create_lease, checkpoint, attest_checkpoints,
                                     deployer, rando):
    keys = sorted_keys(ORACLE_KEYS[:3])
    escrow.setOracleSet([addr_of(k) for k in keys], 2, {"from": deployer})
    lease_id = create_lease()
    cp = checkpoint(lease_id)
    with brownie.reverts(err("LeaseEscrowAttestationBelowThreshold(uint256,uint256)", 1, 2)):
        lease_escrow.submitCheckpoints([cp.as_tuple()], attest_checkpoints([cp], keys=keys[:1]), {"from": rando})
    tx = lease_escrow.submitCheckpoints([cp.as_tuple()], attest_checkpoints([cp], keys=keys[:2]), {"from": rando})
    assert tx.return_value == 1


def test_signer_outside_the_set(lease_escrow, create_lease, checkpoint, attest_checkpoints, rando):
    lease_id = create_lease()
    cp = checkpoint(lease_id)
    outsider = ORACLE_KEYS[4]
    with brownie.reverts(err("LeaseEscrowNotOracle(address,uint64)", addr_of(outsider), 1)):
        lease_escrow.submitCheckpoints([cp.as_tuple()], attest_checkpoints([cp], keys=[outsider]), {"from": rando})


def test_old_epoch_is_void(lease_escrow, escrow, create_lease, checkpoint, attest_checkpoints, oracle_key, deployer,
                           rando):
    lease_id = create_lease()
    cp = checkpoint(lease_id)
    sigs = attest_checkpoints([cp])
    escrow.setOracleSet([addr_of(oracle_key)], 1, {"from": deployer})  # same key, epoch 2
    with brownie.reverts():
        lease_escrow.submitCheckpoints([cp.as_tuple()], sigs, {"from": rando})
    tx = lease_escrow.submitCheckpoints([cp.as_tuple()], attest_checkpoints([cp]), {"from": rando})
    assert tx.return_value == 1


def test_signers_must_be_sorted(lease_escrow, escrow, create_lease, checkpoint, attest_checkpoints, deployer, rando):
    keys = sorted_keys(ORACLE_KEYS[:2])
    escrow.setOracleSet([addr_of(k) for k in keys], 2, {"from": deployer})
    lease_id = create_lease()
    cp = checkpoint(lease_id)
    sigs = attest_checkpoints([cp], keys=keys)
    hi, lo = addr_of(keys[1]), addr_of(keys[0])
    with brownie.reverts(err("LeaseEscrowOracleSignersNotSorted(uint256,address,address)", 1, lo, hi)):
        lease_escrow.submitCheckpoints([cp.as_tuple()], list(reversed(sigs)), {"from": rando})
    with brownie.reverts(err("LeaseEscrowOracleSignersNotSorted(uint256,address,address)", 1, lo, lo)):
        lease_escrow.submitCheckpoints([cp.as_tuple()], [sigs[0], sigs[0]], {"from": rando})


def test_high_s_is_malformed(lease_escrow, escrow, create_lease, checkpoint, deployer, rando):
    lease_id = create_lease()
    cp = checkpoint(lease_id)
    epoch = escrow.oracleSet()[2] + 1
    digest = lease_escrow.attestationDigest(checkpoints_hash([cp]), epoch)
    low, high, signer = malleable_pair(digest)
    escrow.setOracleSet([signer], 1, {"from": deployer})
    with brownie.reverts(err("LeaseEscrowMalformedSignature(uint256)", 0)):
        lease_escrow.submitCheckpoints([cp.as_tuple()], [high], {"from": rando})
    assert lease_escrow.submitCheckpoints([cp.as_tuple()], [low], {"from": rando}).return_value == 1


def test_a_changed_checkpoint_breaks_the_attestation(lease_escrow, create_lease, checkpoint, attest_checkpoints,
                                                     oracle, rando):
    lease_id = create_lease()
    cp = checkpoint(lease_id, down=100)
    sigs = attest_checkpoints([cp])
    forged = Checkpoint(cp.leaseId, cp.fromTime, cp.toTime, cp.upSeconds + 100, 0, cp.heartbeatsRoot)
    with brownie.reverts():
        lease_escrow.submitCheckpoints([forged.as_tuple()], sigs, {"from": rando})


def test_another_contracts_domain_is_refused(lease_escrow, escrow, create_lease, checkpoint, oracle_key, rando):
    lease_id = create_lease()
    cp = checkpoint(lease_id)
    wrong = {"name": "gpusettle LeaseEscrow", "version": "1", "chainId": brownie.chain.id,
             "verifyingContract": str(escrow.address)}
    with brownie.reverts():
        lease_escrow.submitCheckpoints([cp.as_tuple()], sign_checkpoints([cp], 1, [oracle_key], wrong),
                                       {"from": rando})


def test_settlement_pause_stops_checkpoints_only(lease_escrow, create_lease, checkpoint, submit, guardian, client,
                                                 deployer):
    lease_id = create_lease()
    cp = checkpoint(lease_id)
    lease_escrow.pauseSettlement({"from": guardian})
    assert tuple(lease_escrow.pauseState()) == (False, True)
    with brownie.reverts(err("LeaseEscrowSettlementPaused()")):
        submit([cp])
    lease_escrow.closeLease(lease_id, {"from": client})  # everything else goes on
    lease_escrow.unpauseSettlement({"from": deployer})
    assert submit([cp]).return_value == 1


def test_uptime_below_the_guarantee_costs_a_penalty(lease_escrow, staking, token, create_lease, checkpoint, submit,
                                                    staked_provider, client):
    staking.setOfferAvailability(1, 0, 0, 9_000, {"from": staked_provider})
    lease_id = create_lease()
    cp = checkpoint(lease_id, seconds=1000, down=250)  # 75% up against 90% guaranteed
    before = token.balanceOf(client)
    tx = submit([cp])
    penalty = (900 - 750) * RATE
    assert tx.events["CheckpointSettled"]["penalty"] == penalty
    assert token.balanceOf(client) == before + penalty
    assert lease_escrow.getLease(lease_id)["collateral"] == RATE * COLLATERAL_SECONDS - penalty
    assert lease_escrow.lockedCollateral(staked_provider) == RATE * COLLATERAL_SECONDS - penalty + ruling_reserve(
        750 * RATE)


def test_the_penalty_never_passes_the_collateral(lease_escrow, staking, create_lease, checkpoint, submit,
                                                 staked_provider):
    staking.setOfferAvailability(1, 0, 0, 10_000, {"from": staked_provider})
    lease_id = create_lease(hours=10)
    cp = checkpoint(lease_id, seconds=2 * COLLATERAL_SECONDS, down=2 * COLLATERAL_SECONDS)
    tx = submit([cp])
    assert tx.events["CheckpointSettled"]["penalty"] == RATE * COLLATERAL_SECONDS
    assert lease_escrow.getLease(lease_id)["collateral"] == 0


def test_up_to_the_guarantee_is_not_penalised(lease_escrow, staking, create_lease, checkpoint, submit,
                                              staked_provider):
    staking.setOfferAvailability(1, 0, 0, 9_000, {"from": staked_provider})
    lease_id = create_lease()
    tx = submit([checkpoint(lease_id, seconds=1000, down=100)])
    assert tx.events["CheckpointSettled"]["penalty"] == 0


def test_the_final_checkpoint_ends_the_lease(lease_escrow, staking, create_lease, checkpoint, submit, client):
    lease_id = create_lease(gpus=2, hours=1)
    start = lease_escrow.getLease(lease_id)["startedAt"]
    warp(now() + 500)
    tx = lease_escrow.closeLease(lease_id, {"from": client})
    end = tx.timestamp
    cp = checkpoint(lease_id, to=end, down=10)
    tx = submit([cp])
    ev = tx.events["LeaseEnded"]
    refundable = 2 * PRICE * 3600 - (end - start - 10) * RATE
    assert (ev["leaseId"], ev["billingEnd"], ev["refundable"]) == (lease_id, end, refundable)
    v = lease_escrow.getLease(lease_id).dict()
    assert v["status"] == L_ENDED and v["refundable"] == refundable and v["billingEnd"] == end
    assert staking.freeGpus(1) == GPU_COUNT


def test_runway_end_is_a_billing_end(lease_escrow, create_lease, checkpoint, submit):
    lease_id = create_lease(gpus=1, hours=1, deposit=PRICE * 1000 + 7)
    end = lease_escrow.runwayEnd(lease_id)
    assert end == lease_escrow.getLease(lease_id)["startedAt"] + 1000
    tx = submit([checkpoint(lease_id, to=end)])
    assert tx.events["LeaseEnded"]["refundable"] == 7
    assert lease_escrow.getLease(lease_id)["status"] == L_ENDED


def test_checkpoints_after_the_end_are_skipped(lease_escrow, create_lease, checkpoint, submit):
    lease_id = create_lease(gpus=1, hours=1, deposit=PRICE * 1000)
    cp = checkpoint(lease_id, to=lease_escrow.runwayEnd(lease_id))
    submit([cp])
    tx = submit([cp])
    assert tx.events["CheckpointSkipped"]["reason"] == SKIP_NOT_RUNNING
