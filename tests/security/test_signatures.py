"""Attack: forge a quorum or a worker signature without the keys: a malleated (high-s) twin of a valid signature,
one oracle counted twice (the same bytes, or a second valid signature by the same key), fewer signatures than the
threshold, a signature by an oracle that governance removed.

What stops it (SECURITY.md, "Malleated signatures" and "Oracle quorum games"): s must be in the lower half order;
signers must be strictly ascending (so no signer counts twice, whatever the bytes); each must be in the current
epoch's set; at least `threshold` signatures are needed. Each test ends with the honest attestation settling the
same receipt, so the refusal is due to the attack alone.
"""

import brownie
import pytest

from tests.helpers.signing import receipt_digest

from gpusettle.models import SkipReason

from .conftest import (
    RUNNING,
    SETTLED,
    ZERO,
    addr_of,
    attest_r,
    attestation_digest,
    dom_of,
    err,
    events_of,
    malleable_pair,
    receipt_for,
    recover,
    sign_r,
    sign_with_nonce,
    sort_keys,
)


def not_sorted(index, signer, previous):
    return err("JobEscrowOracleSignersNotSorted(uint256,address,address)", index, signer, previous)


def not_oracle(signer, epoch):
    return err("JobEscrowNotOracle(address,uint64)", signer, epoch)


def below(have, need):
    return err("JobEscrowAttestationBelowThreshold(uint256,uint256)", have, need)


@pytest.fixture
def quorum(escrow, deployer, oracle_keys):
    """The oracle set becomes the first three oracle keys at threshold 2; returns (sorted keys, epoch)."""
    keys = sort_keys(oracle_keys[:3])
    escrow.setOracleSet([addr_of(k) for k in keys], 2, {"from": deployer})
    return keys, escrow.oracleSet()[2]


def test_malleated_worker_signature_is_refused_and_its_canonical_twin_accepted(escrow, staking, staked_provider,
                                                                               oracle_key, job_at, rando, world):
    job_id = job_at()
    r = receipt_for(escrow, job_id)
    low, high, signer = malleable_pair(receipt_digest(r, dom_of(escrow)))
    staking.setWorker(signer, {"from": staked_provider})  # the key behind both halves is the provider's worker
    att = attest_r([r], [oracle_key], escrow)
    before = world()
    with brownie.reverts(err("JobEscrowInvalidWorkerSignature(uint256,address,address)", job_id, ZERO, signer)):
        escrow.settle(r.as_tuple(), high, att, {"from": rando})
    assert world() == before
    # In a batch the malleated receipt is skipped (audit lower 2), and changes nothing.
    tx = escrow.settleBatch([r.as_tuple()], [high], att, {"from": rando})
    assert events_of(tx, "SettlementSkipped") == [{"jobId": job_id, "status": RUNNING,
                                                   "reason": SkipReason.WRONG_WORKER}]
    assert world() == before
    escrow.settle(r.as_tuple(), low, att, {"from": rando})
    assert escrow.getJob(job_id)["status"] == SETTLED


def test_malleated_oracle_signature_is_refused_and_its_canonical_twin_accepted(escrow, deployer, staked_provider,
                                                                               worker_key, job_at, rando, world):
    job_id = job_at()
    r = receipt_for(escrow, job_id)
    epoch = escrow.oracleSet()[2] + 1  # the epoch the set below will get
    low, high, signer = malleable_pair(attestation_digest([r], epoch, dom_of(escrow)))
    escrow.setOracleSet([signer], 1, {"from": deployer})
    assert escrow.oracleSet()[2] == epoch
    sig = sign_r(r, worker_key, escrow)
    before = world()
    with brownie.reverts(err("JobEscrowMalformedSignature(uint256)", 0)):
        escrow.settle(r.as_tuple(), sig, [high], {"from": rando})
    with brownie.reverts(err("JobEscrowMalformedSignature(uint256)", 0)):
        escrow.settleBatch([r.as_tuple()], [sig], [high], {"from": rando})
    assert world() == before
    escrow.settle(r.as_tuple(), sig, [low], {"from": rando})
    assert escrow.getJob(job_id)["status"] == SETTLED


def test_one_oracle_cannot_count_twice(escrow, staked_provider, worker_key, job_at, rando, world, quorum):
    keys, epoch = quorum
    job_id = job_at()
    r = receipt_for(escrow, job_id)
    sig = sign_r(r, worker_key, escrow)
    digest = attestation_digest([r], epoch, dom_of(escrow))
    a, b = keys[0], keys[1]
    sa = attest_r([r], [a], escrow)[0]
    sa_other_nonce = sign_with_nonce(digest, a, 0xC0FFEE)
    assert sa_other_nonce != sa  # other bytes, the same signer
    before = world()
    for twice in ([sa, sa], [sa, sa_other_nonce], [sa_other_nonce, sa]):
        with brownie.reverts(not_sorted(1, addr_of(a), addr_of(a))):
            escrow.settle(r.as_tuple(), sig, twice, {"from": rando})
    # Two oracles, listed out of order, are refused too: the order is what makes duplicates impossible.
    sb = attest_r([r], [b], escrow)[0]
    with brownie.reverts(not_sorted(1, addr_of(a), addr_of(b))):
        escrow.settle(r.as_tuple(), sig, [sb, sa], {"from": rando})
    assert world() == before
    escrow.settle(r.as_tuple(), sig, [sa_other_nonce, sb], {"from": rando})
    assert escrow.getJob(job_id)["status"] == SETTLED


def test_attestation_below_threshold_is_refused(escrow, deployer, staked_provider, worker_key, oracle_keys, job_at,
                                                rando, world, quorum):
    keys, epoch = quorum
    job_id = job_at()
    r = receipt_for(escrow, job_id)
    sig = sign_r(r, worker_key, escrow)
    before = world()
    with brownie.reverts(below(0, 2)):
        escrow.settle(r.as_tuple(), sig, [], {"from": rando})
    for k in keys:
        with brownie.reverts(below(1, 2)):
            escrow.settle(r.as_tuple(), sig, attest_r([r], [k], escrow), {"from": rando})
        with brownie.reverts(below(1, 2)):
            escrow.settleBatch([r.as_tuple()], [sig], attest_r([r], [k], escrow), {"from": rando})
    # Padding with a non-oracle signature does not reach the threshold either.
    outsider = oracle_keys[4]
    padded = attest_r([r], [keys[0], outsider], escrow)
    with brownie.reverts(not_oracle(addr_of(outsider), epoch)):
        escrow.settle(r.as_tuple(), sig, padded, {"from": rando})
    assert world() == before
    escrow.settle(r.as_tuple(), sig, attest_r([r], keys[1:], escrow), {"from": rando})
    assert escrow.getJob(job_id)["status"] == SETTLED


def test_attestation_by_a_removed_oracle_is_refused(escrow, deployer, staked_provider, worker_key, oracle_keys,
                                                    job_at, rando, world, quorum):
    keys, _ = quorum
    removed = keys[0]
    kept = keys[1:]
    added = oracle_keys[3]
    new_keys = sort_keys(kept + [added])
    escrow.setOracleSet([addr_of(k) for k in new_keys], 2, {"from": deployer})
    epoch = escrow.oracleSet()[2]
    job_id = job_at()
    r = receipt_for(escrow, job_id)
    sig = sign_r(r, worker_key, escrow)
    before = world()
    # The removed oracle signs for the new epoch, with one honest oracle: it does not count.
    with brownie.reverts(not_oracle(addr_of(removed), epoch)):
        escrow.settle(r.as_tuple(), sig, attest_r([r], [removed, kept[0]], escrow), {"from": rando})
    with brownie.reverts(not_oracle(addr_of(removed), epoch)):
        escrow.settleBatch([r.as_tuple()], [sig], attest_r([r], [removed, added], escrow), {"from": rando})
    # Even at threshold 1 it counts for nothing once removed.
    escrow.setOracleSet([addr_of(added)], 1, {"from": deployer})
    epoch = escrow.oracleSet()[2]
    for gone in (removed, kept[0]):
        with brownie.reverts(not_oracle(addr_of(gone), epoch)):
            escrow.settle(r.as_tuple(), sig, attest_r([r], [gone], escrow), {"from": rando})
    assert world() == before
    escrow.settle(r.as_tuple(), sig, attest_r([r], [added], escrow), {"from": rando})
    assert escrow.getJob(job_id)["status"] == SETTLED


def test_attestation_for_a_subset_or_reordering_of_a_batch_is_refused(escrow, staked_provider, worker_key,
                                                                      oracle_key, job_at, rando, world):
    """An attestation covers one exact list of receipts: it cannot be cut down or reordered into another batch."""
    ids = [job_at() for _ in range(3)]
    rs = [receipt_for(escrow, j) for j in ids]
    sigs = [sign_r(r, worker_key, escrow) for r in rs]
    att = attest_r(rs, [oracle_key], escrow)
    epoch = escrow.oracleSet()[2]
    dom = dom_of(escrow)
    before = world()
    for pick in ([0], [0, 1], [1, 0, 2], [2, 1, 0]):
        sub = [rs[i] for i in pick]
        signer = recover(attestation_digest(sub, epoch, dom), att[0])
        with brownie.reverts(not_oracle(signer, epoch)):
            escrow.settleBatch([r.as_tuple() for r in sub], [sigs[i] for i in pick], att, {"from": rando})
    single = recover(attestation_digest([rs[0]], epoch, dom), att[0])
    with brownie.reverts(not_oracle(single, epoch)):
        escrow.settle(rs[0].as_tuple(), sigs[0], att, {"from": rando})
    assert world() == before
    escrow.settleBatch([r.as_tuple() for r in rs], sigs, att, {"from": rando})
    assert [escrow.getJob(j)["status"] for j in ids] == [SETTLED] * 3
