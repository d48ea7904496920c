"""Signatures: the contract's EIP-712 digests are eth-account's, and only signatures made for this chain, this
escrow, the provider's current worker key and the current oracle set at its threshold settle a job, once.
Every rejection names its error and values, and moves nothing."""

import brownie
import pytest
from brownie.test import given, strategy
from eth_utils import keccak, to_checksum_address
from hypothesis import settings

from gpusettle.models import SkipReason
from tests.fixtures.contracts import ESCROW_PARAMS, FEE_BPS, PRICE
from tests.helpers.signing import COMPLETED, Receipt, domain, receipt_digest, receipts_hash, sign_attestation

from .conftest import (
    BPS,
    RUNNING,
    SETTLED,
    ZERO,
    addr_of,
    err,
    events,
    malleable_pair,
    recover,
    sorted_keys,
    wrong_status,
)


def not_oracle(signer, epoch):
    return err("JobEscrowNotOracle(address,uint64)", signer, epoch)


def below(have, need):
    return err("JobEscrowAttestationBelowThreshold(uint256,uint256)", have, need)


def not_sorted(index, signer, previous):
    return err("JobEscrowOracleSignersNotSorted(uint256,address,address)", index, signer, previous)


def bad_worker_sig(job_id, recovered, worker):
    return err("JobEscrowInvalidWorkerSignature(uint256,address,address)", job_id, recovered, worker)


@pytest.fixture(scope="module")
def running(job, receipt):
    """A running job and an honest receipt for it (1000 GPU-seconds)."""

    def _running():
        job_id = job()
        return job_id, receipt(job_id, gpu_seconds=1000)

    return _running


@pytest.fixture(scope="module")
def attest_under(dom):
    def _attest(receipts, keys, epoch):
        return sign_attestation(list(receipts), epoch, keys, dom)

    return _attest


def payout(billed):
    paid = billed * PRICE
    return paid - paid * FEE_BPS // BPS


# ---------------------------------------------------------------------- digests


@settings(max_examples=60)
@given(job_id=strategy("uint256"), provider=strategy("bytes20"), gpu_seconds=strategy("uint64"),
       start=strategy("uint64"), end=strategy("uint64"), result=strategy("bytes32"), outcome=strategy("uint8"))
def test_receipt_digest_is_eth_accounts(escrow, dom, job_id, provider, gpu_seconds, start, end, result, outcome):
    r = Receipt(job_id, to_checksum_address(bytes(provider)), gpu_seconds, start, end, bytes(result), outcome)
    assert escrow.receiptDigest(r.as_tuple()) == "0x" + receipt_digest(r, dom).hex()


@settings(max_examples=50)
@given(receipts_hash_=strategy("bytes32"), epoch=strategy("uint64"))
def test_attestation_digest_is_eth_accounts(escrow, dom, oracle_key, receipts_hash_, epoch):
    # sign with eth-account over an arbitrary receipts hash and recover with the contract's digest
    from eth_account import Account
    from eth_account.messages import encode_typed_data

    from tests.helpers.signing import ATTESTATION_FIELDS, receipt_typed_data

    full = {"types": {"EIP712Domain": receipt_typed_data(Receipt(0, ZERO, 0, 0, 0, b"\x00" * 32), dom)["types"][
        "EIP712Domain"], "Attestation": ATTESTATION_FIELDS}, "primaryType": "Attestation", "domain": dom,
        "message": {"receiptsHash": bytes(receipts_hash_), "oracleEpoch": epoch}}
    signable = encode_typed_data(full_message=full)
    expected = keccak(b"\x19" + signable.version + signable.header + signable.body)
    assert escrow.attestationDigest(bytes(receipts_hash_), epoch) == "0x" + expected.hex()
    signed = Account.sign_typed_data(oracle_key, full_message=full)
    assert Account._recover_hash(expected, vrs=(signed.v, signed.r, signed.s)) == addr_of(oracle_key)


# ------------------------------------------------------------- malleability


def test_high_s_worker_signature_is_rejected(escrow, staking, running, attest, rando, staked_provider, snap):
    job_id, r = running()
    low, high, signer = malleable_pair(escrow.receiptDigest(r.as_tuple()))
    staking.setWorker(signer, {"from": staked_provider})
    before = snap(job_id)
    with brownie.reverts(bad_worker_sig(job_id, ZERO, signer)):
        escrow.settle(r.as_tuple(), high, attest([r]), {"from": rando})
    tx = escrow.settleBatch([r.as_tuple()], [high], attest([r]), {"from": rando})  # skipped, changes nothing
    assert [(e["jobId"], e["reason"]) for e in events(tx, "SettlementSkipped")] == [(job_id, SkipReason.WRONG_WORKER)]
    assert snap(job_id) == before
    # the canonical twin of the very same signature is accepted
    escrow.settle(r.as_tuple(), low, attest([r]), {"from": rando})
    assert escrow.getJob(job_id)["status"] == SETTLED


def test_high_s_oracle_signature_is_rejected(escrow, running, sign, deployer, rando, snap):
    job_id, r = running()
    low, high, signer = malleable_pair(escrow.attestationDigest(keccak(r.struct_hash()), 2))
    escrow.setOracleSet([signer], 1, {"from": deployer})
    before = snap(job_id)
    with brownie.reverts(err("JobEscrowMalformedSignature(uint256)", 0)):
        escrow.settle(r.as_tuple(), sign(r), [high], {"from": rando})
    assert snap(job_id) == before
    escrow.settle(r.as_tuple(), sign(r), [low], {"from": rando})
    assert escrow.getJob(job_id)["status"] == SETTLED


def test_high_s_at_any_position_of_the_attestation(escrow, running, sign, attest_under, oracle_keys, deployer, rando,
                                                   snap):
    job_id, r = running()
    low, high, signer = malleable_pair(escrow.attestationDigest(keccak(r.struct_hash()), 2))
    # a set of the malleable signer plus two ordinary oracles; the high-s signature sits wherever its address sorts
    keys = oracle_keys[:2]
    escrow.setOracleSet([signer] + [addr_of(k) for k in keys], 3, {"from": deployer})
    pairs = sorted([(int(signer, 16), high)] + [(int(addr_of(k), 16), s) for k, s in
                                                 zip(sorted_keys(keys), attest_under([r], sorted_keys(keys), 2))])
    sigs = [s for _, s in pairs]
    index = [s for _, s in pairs].index(high)
    before = snap(job_id)
    with brownie.reverts(err("JobEscrowMalformedSignature(uint256)", index)):
        escrow.settle(r.as_tuple(), sign(r), sigs, {"from": rando})
    assert snap(job_id) == before
    sigs[index] = low
    escrow.settle(r.as_tuple(), sign(r), sigs, {"from": rando})


# ------------------------------------------------------- domain: chain, contract


def test_receipt_signed_for_another_chain(escrow, running, worker_key, attest, worker, rando, snap):
    job_id, r = running()
    other = domain(1, escrow.address)
    from tests.helpers.signing import sign_receipt

    sig = sign_receipt(r, worker_key, other)
    recovered = recover(escrow.receiptDigest(r.as_tuple()), sig)
    assert recovered != worker
    before = snap(job_id)
    with brownie.reverts(bad_worker_sig(job_id, recovered, worker)):
        escrow.settle(r.as_tuple(), sig, attest([r]), {"from": rando})
    assert snap(job_id) == before


def test_attestation_signed_for_another_chain(escrow, running, sign, attest, rando, snap):
    job_id, r = running()
    att = attest([r], domain_=domain(137, escrow.address))
    recovered = recover(escrow.attestationDigest(keccak(r.struct_hash()), 1), att[0])
    before = snap(job_id)
    with brownie.reverts(not_oracle(recovered, 1)):
        escrow.settle(r.as_tuple(), sign(r), att, {"from": rando})
    assert snap(job_id) == before


@pytest.fixture(scope="module")
def escrow2(JobEscrow, token, staking, escrow, deployer, guardian, arbiter, treasury, oracle):
    """A second deployment with the same wiring: signatures for it must not work on the first."""
    return JobEscrow.deploy(token, staking, deployer, guardian, arbiter, treasury, [oracle], 1, ESCROW_PARAMS,
                            {"from": deployer})


def test_receipt_signed_for_another_escrow(escrow, escrow2, running, worker_key, attest, worker, rando, snap):
    job_id, r = running()
    other = domain(brownie.chain.id, escrow2.address)
    assert escrow2.receiptDigest(r.as_tuple()) != escrow.receiptDigest(r.as_tuple())
    assert escrow2.receiptDigest(r.as_tuple()) == "0x" + receipt_digest(r, other).hex()
    from tests.helpers.signing import sign_receipt

    sig = sign_receipt(r, worker_key, other)
    recovered = recover(escrow.receiptDigest(r.as_tuple()), sig)
    before = snap(job_id)
    with brownie.reverts(bad_worker_sig(job_id, recovered, worker)):
        escrow.settle(r.as_tuple(), sig, attest([r]), {"from": rando})
    assert snap(job_id) == before


def test_attestation_signed_for_another_escrow(escrow, escrow2, running, sign, attest, rando, snap):
    job_id, r = running()
    att = attest([r], domain_=domain(brownie.chain.id, escrow2.address))
    recovered = recover(escrow.attestationDigest(keccak(r.struct_hash()), 1), att[0])
    before = snap(job_id)
    with brownie.reverts(not_oracle(recovered, 1)):
        escrow.settle(r.as_tuple(), sign(r), att, {"from": rando})
    assert snap(job_id) == before


# ------------------------------------------------------------------ worker key


def test_rotated_out_worker_key(escrow, staking, running, sign, attest, worker, worker2, worker2_key, rando,
                                staked_provider, snap):
    job_id, r = running()
    old_sig = sign(r)
    staking.setWorker(worker2, {"from": staked_provider})
    before = snap(job_id)
    with brownie.reverts(bad_worker_sig(job_id, worker, worker2)):
        escrow.settle(r.as_tuple(), old_sig, attest([r]), {"from": rando})
    tx = escrow.settleBatch([r.as_tuple()], [old_sig], attest([r]), {"from": rando})  # skipped, changes nothing
    assert [(e["jobId"], e["reason"]) for e in events(tx, "SettlementSkipped")] == [(job_id, SkipReason.WRONG_WORKER)]
    assert snap(job_id) == before
    escrow.settle(r.as_tuple(), sign(r, key=worker2_key), attest([r]), {"from": rando})
    assert escrow.getJob(job_id)["status"] == SETTLED


def test_rotating_back_to_the_old_key_is_refused(escrow, staking, running, sign, attest, worker, worker2, rando,
                                                 staked_provider):
    job_id, r = running()
    staking.setWorker(worker2, {"from": staked_provider})
    with brownie.reverts(err("ProviderStakingWorkerRetired(address)", worker)):
        staking.setWorker(worker, {"from": staked_provider})
    assert escrow.getJob(job_id)["status"] == RUNNING


# --------------------------------------------------------------- oracle quorum


@pytest.fixture(scope="module")
def three(set_oracles, oracle_keys):
    """Oracle set: the first three keys at 2-of-3 (epoch 2)."""

    def _three():
        return set_oracles(oracle_keys[:3], 2)

    return _three


def test_duplicated_oracle_signature(escrow, running, sign, attest_under, oracle_keys, three, rando, snap):
    epoch = three()
    job_id, r = running()
    one = attest_under([r], [oracle_keys[0]], epoch)[0]
    before = snap(job_id)
    with brownie.reverts(not_sorted(1, addr_of(oracle_keys[0]), addr_of(oracle_keys[0]))):
        escrow.settle(r.as_tuple(), sign(r), [one, one], {"from": rando})
    assert snap(job_id) == before


def test_duplicated_signer_with_its_malleated_twin(escrow, running, sign, deployer, rando, snap):
    job_id, r = running()
    low, high, signer = malleable_pair(escrow.attestationDigest(keccak(r.struct_hash()), 2))
    escrow.setOracleSet([signer, addr_of("0x" + "61" * 32)], 2, {"from": deployer})
    before = snap(job_id)
    with brownie.reverts(err("JobEscrowMalformedSignature(uint256)", 1)):
        escrow.settle(r.as_tuple(), sign(r), [low, high], {"from": rando})
    assert snap(job_id) == before


def test_oracle_signatures_not_sorted(escrow, running, sign, attest_under, oracle_keys, three, rando, snap):
    epoch = three()
    job_id, r = running()
    keys = sorted_keys(oracle_keys[:2])
    sigs = attest_under([r], keys, epoch)
    lo, hi = addr_of(keys[0]), addr_of(keys[1])
    before = snap(job_id)
    with brownie.reverts(not_sorted(1, lo, hi)):
        escrow.settle(r.as_tuple(), sign(r), sigs[::-1], {"from": rando})
    assert snap(job_id) == before
    escrow.settle(r.as_tuple(), sign(r), sigs, {"from": rando})


def test_signer_outside_the_set(escrow, running, sign, attest_under, oracle_keys, three, rando, snap):
    epoch = three()
    job_id, r = running()
    keys = sorted_keys([oracle_keys[0], oracle_keys[4]])  # key 4 is not in the set
    sigs = attest_under([r], keys, epoch)
    before = snap(job_id)
    with brownie.reverts(not_oracle(addr_of(oracle_keys[4]), epoch)):
        escrow.settle(r.as_tuple(), sign(r), sigs, {"from": rando})
    assert snap(job_id) == before


def test_removed_oracle_signing_the_current_epoch(escrow, running, sign, attest_under, set_oracles, oracle_keys,
                                                  rando, snap):
    """An oracle rotated out stays out, even when it signs over the new epoch."""
    set_oracles(oracle_keys[:3], 2)
    epoch = set_oracles(oracle_keys[1:4], 2)  # key 0 removed
    job_id, r = running()
    sigs = attest_under([r], [oracle_keys[0], oracle_keys[1]], epoch)  # sorted by signer, as required
    before = snap(job_id)
    with brownie.reverts(not_oracle(addr_of(oracle_keys[0]), epoch)):
        escrow.settle(r.as_tuple(), sign(r), sigs, {"from": rando})
    assert snap(job_id) == before


@pytest.mark.parametrize("n,m", [(3, 2), (5, 3)])
def test_below_threshold(escrow, running, sign, attest_under, set_oracles, oracle_keys, rando, snap, n, m):
    epoch = set_oracles(oracle_keys[:n], m)
    job_id, r = running()
    before = snap(job_id)
    for have in range(m):
        sigs = attest_under([r], oracle_keys[:have], epoch) if have else []
        with brownie.reverts(below(have, m)):
            escrow.settle(r.as_tuple(), sign(r), sigs, {"from": rando})
    assert snap(job_id) == before
    escrow.settle(r.as_tuple(), sign(r), attest_under([r], oracle_keys[n - m:n], epoch), {"from": rando})
    assert escrow.getJob(job_id)["status"] == SETTLED


@pytest.mark.parametrize("same_keys", [True, False])
def test_attestation_from_the_previous_epoch_is_void(escrow, running, sign, attest_under, set_oracles, oracle_keys,
                                                     rando, snap, same_keys):
    epoch = set_oracles(oracle_keys[:3], 2)
    job_id, r = running()
    old = attest_under([r], oracle_keys[:2], epoch)
    new_epoch = set_oracles(oracle_keys[:3] if same_keys else oracle_keys[1:4], 2)
    assert new_epoch == epoch + 1
    recovered = recover(escrow.attestationDigest(keccak(r.struct_hash()), new_epoch), old[0])
    before = snap(job_id)
    with brownie.reverts(not_oracle(recovered, new_epoch)):
        escrow.settle(r.as_tuple(), sign(r), old, {"from": rando})
    assert snap(job_id) == before
    # claiming the old epoch does not help either: the contract signs over its own epoch
    escrow.settle(r.as_tuple(), sign(r), attest_under([r], oracle_keys[1:3], new_epoch), {"from": rando})
    assert escrow.getJob(job_id)["status"] == SETTLED


def test_first_epoch_attestation_void_after_rotation(escrow, running, sign, attest, set_oracles, oracle_key, rando,
                                                     snap):
    job_id, r = running()
    old = attest([r])  # epoch 1, the fixture's oracle
    set_oracles([oracle_key], 1)  # the same single key, epoch 2
    recovered = recover(escrow.attestationDigest(keccak(r.struct_hash()), 2), old[0])
    before = snap(job_id)
    with brownie.reverts(not_oracle(recovered, 2)):
        escrow.settle(r.as_tuple(), sign(r), old, {"from": rando})
    assert snap(job_id) == before


M_OF_N = [(m, n) for n in range(1, 6) for m in range(1, n + 1)]


@pytest.mark.parametrize("m,n", M_OF_N)
def test_m_of_n(escrow, running, sign, attest_under, set_oracles, oracle_keys, rando, staked_provider, snap, m, n):
    epoch = set_oracles(oracle_keys[:n], m)
    assert tuple(escrow.oracleSet())[1:] == (m, epoch)
    a, ra = running()
    b, rb = running()
    before = snap(a)
    if m > 1:
        with brownie.reverts(below(m - 1, m)):
            escrow.settle(ra.as_tuple(), sign(ra), attest_under([ra], oracle_keys[:m - 1], epoch), {"from": rando})
        assert snap(a) == before
    # any m of the n: here the last m
    tx = escrow.settle(ra.as_tuple(), sign(ra), attest_under([ra], oracle_keys[n - m:n], epoch), {"from": rando})
    assert events(tx, "JobSettled")[0]["jobId"] == a
    # more than m valid signatures are fine too
    escrow.settle(rb.as_tuple(), sign(rb), attest_under([rb], oracle_keys[:n], epoch), {"from": rando})
    assert escrow.providerRecord(staked_provider)["earnings"] == 2 * payout(1000)


# ------------------------------------------------------------------ settle once


def test_receipt_settles_once(escrow, running, settle, rando, snap):
    job_id, r = running()
    settle(r)
    before = snap(job_id)
    with brownie.reverts(wrong_status(job_id, SETTLED, RUNNING)):
        settle(r)
    assert snap(job_id) == before


def test_batch_with_the_same_job_twice_pays_once(escrow, running, batch_args, rando, staked_provider):
    job_id, r = running()
    tx = escrow.settleBatch(*batch_args([r, r]), {"from": rando})
    assert tx.return_value == 1
    assert [(e["jobId"], e["status"]) for e in events(tx, "SettlementSkipped")] == [(job_id, SETTLED)]
    assert len(events(tx, "JobSettled")) == 1
    assert escrow.providerRecord(staked_provider)["earnings"] == payout(1000)


def test_retried_batch_moves_no_money(escrow, running, batch_args, rando, snap):
    jobs = [running() for _ in range(3)]
    args = batch_args([r for _, r in jobs])
    escrow.settleBatch(*args, {"from": rando})
    ids = [j for j, _ in jobs]
    before = snap(*ids)
    tx = escrow.settleBatch(*args, {"from": rando})
    assert tx.return_value == 0
    assert [(e["jobId"], e["status"]) for e in events(tx, "SettlementSkipped")] == [(j, SETTLED) for j in ids]
    assert "Transfer" not in tx.events and "JobSettled" not in tx.events
    assert snap(*ids) == before


def test_batch_with_one_invalid_signature_skips_only_that_receipt(escrow, running, batch_args, rando, snap):
    jobs = [running() for _ in range(3)]
    receipts, sigs, att = batch_args([r for _, r in jobs])
    sigs[1] = (sigs[1][0], sigs[1][1][:31] + bytes([sigs[1][1][31] ^ 1]))  # one flipped bit in s
    ids = [j for j, _ in jobs]
    before = snap(ids[1])
    tx = escrow.settleBatch(receipts, sigs, att, {"from": rando})
    assert [e["jobId"] for e in events(tx, "JobSettled")] == [ids[0], ids[2]]
    assert [(e["jobId"], e["status"], e["reason"]) for e in events(tx, "SettlementSkipped")] == [
        (ids[1], RUNNING, SkipReason.WRONG_WORKER)
    ]
    assert snap(ids[1])["jobs"] == before["jobs"]
    assert receipts_hash([r for _, r in jobs])  # the attestation itself was valid
