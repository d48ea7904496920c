"""Attack: replay a receipt (or its attestation) where it was not made for: another chain id, another escrow
deployment, another job, after the worker key was rotated, after the oracle set changed, or a second time.

What stops it (SECURITY.md, "Replay of receipts"): the EIP-712 domain binds chain id and escrow address (and is
recomputed if the chain id changes after a fork); the job id is signed; the worker must be the provider's current
key; the attestation is signed over the current oracle epoch; a settled job is no longer Running.
Each test first shows the replay refused with the exact error and nothing moved, then that the honest
version of the same receipt settles (so the refusal is due to the replay and nothing else).
"""

import brownie
import pytest
from brownie import chain, web3
from eth_abi import encode
from eth_utils import keccak

from gpusettle.models import SkipReason
from tests.fixtures.accounts import WORKER2_KEY
from tests.fixtures.contracts import PRICE, PROVIDER_STAKE
from tests.helpers.limits import limits
from tests.helpers.signing import receipt_digest

from .conftest import (
    DISPUTED,
    RUNNING,
    SETTLED,
    UPHELD,
    attest_r,
    attestation_digest,
    dom_of,
    err,
    events_of,
    now,
    receipt_for,
    recover,
    sign_r,
    wrong_status,
)


def separator(chain_id, verifying_contract):
    typehash = keccak(text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
    return "0x" + keccak(encode(["bytes32", "bytes32", "bytes32", "uint256", "address"],
                                [typehash, keccak(text="gpusettle JobEscrow"), keccak(text="1"), chain_id,
                                 str(verifying_contract)])).hex()


def bad_worker(job_id, recovered, worker):
    return err("JobEscrowInvalidWorkerSignature(uint256,address,address)", job_id, recovered, worker)


def not_oracle(signer, epoch):
    return err("JobEscrowNotOracle(address,uint64)", signer, epoch)


@pytest.mark.parametrize("other_chain", [1, 31338, 11155111])
def test_receipt_signed_for_another_chain_id_is_refused(escrow, staked_provider, worker, worker_key, oracle_key,
                                                        job_at, rando, world, other_chain):
    assert other_chain != chain.id
    job_id = job_at()
    r = receipt_for(escrow, job_id)
    epoch = escrow.oracleSet()[2]
    here = dom_of(escrow)
    before = world()

    foreign_sig = sign_r(r, worker_key, escrow, chain_id=other_chain)
    with brownie.reverts(bad_worker(job_id, recover(receipt_digest(r, here), foreign_sig), worker)):
        escrow.settle(r.as_tuple(), foreign_sig, attest_r([r], [oracle_key], escrow), {"from": rando})

    foreign_att = attest_r([r], [oracle_key], escrow, chain_id=other_chain)
    signer = recover(attestation_digest([r], epoch, here), foreign_att[0])
    with brownie.reverts(not_oracle(signer, epoch)):
        escrow.settle(r.as_tuple(), sign_r(r, worker_key, escrow), foreign_att, {"from": rando})
    assert world() == before

    escrow.settle(r.as_tuple(), sign_r(r, worker_key, escrow), attest_r([r], [oracle_key], escrow), {"from": rando})
    assert escrow.getJob(job_id)["status"] == SETTLED


def test_after_a_chain_fork_receipts_signed_for_the_old_chain_id_are_refused(escrow, staked_provider, worker,
                                                                             worker_key, oracle_key, job_at, rando,
                                                                             world):
    """The chain id changes under the deployed escrow (a fork): OpenZeppelin's EIP712 recomputes the domain, so
    what was signed for the old chain id no longer settles, and what is signed for the new one does."""
    old_id = chain.id
    job_id = job_at()
    r = receipt_for(escrow, job_id)
    old_sig, old_att = sign_r(r, worker_key, escrow), attest_r([r], [oracle_key], escrow)
    new_id = old_id + 1
    assert escrow.domainSeparator() == separator(old_id, escrow.address)
    before = world()
    web3.provider.make_request("anvil_setChainId", [new_id])
    try:
        assert web3.eth.chain_id == new_id
        assert escrow.domainSeparator() == separator(new_id, escrow.address)
        new_dom = dom_of(escrow, chain_id=new_id)
        with brownie.reverts(bad_worker(job_id, recover(receipt_digest(r, new_dom), old_sig), worker)):
            escrow.settle.call(r.as_tuple(), old_sig, attest_r([r], [oracle_key], escrow, chain_id=new_id),
                               {"from": rando})
        epoch = escrow.oracleSet()[2]
        signer = recover(attestation_digest([r], epoch, new_dom), old_att[0])
        with brownie.reverts(not_oracle(signer, epoch)):
            escrow.settle.call(r.as_tuple(), sign_r(r, worker_key, escrow, chain_id=new_id), old_att,
                               {"from": rando})
        # Signed for the fork's chain id, the same receipt settles there.
        escrow.settle.call(r.as_tuple(), sign_r(r, worker_key, escrow, chain_id=new_id),
                           attest_r([r], [oracle_key], escrow, chain_id=new_id), {"from": rando})
    finally:
        web3.provider.make_request("anvil_setChainId", [old_id])
    assert web3.eth.chain_id == old_id
    assert world() == before
    # Back on the original chain the original signatures are good again.
    escrow.settle(r.as_tuple(), old_sig, old_att, {"from": rando})
    assert escrow.getJob(job_id)["status"] == SETTLED


def test_receipt_for_one_escrow_is_refused_by_another_deployment(escrow, staking, token, second_suite,
                                                                 staked_provider, worker, worker_key, oracle_key,
                                                                 client, rando, world):
    """Two deployments, the same provider, worker, oracle and job id 1 in both: a receipt and attestation made for
    the first escrow do not settle the job of the second."""
    e2, s2 = second_suite.escrow, second_suite.staking
    token.approve(s2, PROVIDER_STAKE, {"from": staked_provider})
    s2.stake(PROVIDER_STAKE, {"from": staked_provider})
    s2.setWorker(worker, {"from": staked_provider})
    s2.addOffer("NVIDIA H100 80GB HBM3", 4, 80, PRICE, "ipfs://offer", {"from": staked_provider})
    token.approve(e2, 2**256 - 1, {"from": client})
    token.approve(escrow, 2**256 - 1, {"from": client})
    deadline = now() + 7 * 24 * 3600
    j2 = e2.createJob(1, 3600, deadline, b"\x5a" * 32, *limits(e2, 1), {"from": client}).events["JobCreated"]["jobId"]
    j1 = escrow.createJob(1, 3600, deadline, b"\x5a" * 32, *limits(escrow, 1), {"from": client}).events["JobCreated"]["jobId"]
    assert j1 == j2 == 1
    e2.acceptJob(j2, {"from": staked_provider})  # accepted first, so the first escrow's start time fits it too
    escrow.acceptJob(j1, {"from": staked_provider})
    r = receipt_for(escrow, j1)
    sig1, att1 = sign_r(r, worker_key, escrow), attest_r([r], [oracle_key], escrow)
    before, before2 = world(), (token.balanceOf(e2), e2.providerRecord(staked_provider))

    dom2 = dom_of(e2)
    with brownie.reverts(bad_worker(j2, recover(receipt_digest(r, dom2), sig1), worker)):
        e2.settle(r.as_tuple(), sig1, attest_r([r], [oracle_key], e2), {"from": rando})
    epoch2 = e2.oracleSet()[2]
    with brownie.reverts(not_oracle(recover(attestation_digest([r], epoch2, dom2), att1[0]), epoch2)):
        e2.settle(r.as_tuple(), sign_r(r, worker_key, e2), att1, {"from": rando})
    with brownie.reverts(not_oracle(recover(attestation_digest([r], epoch2, dom2), att1[0]), epoch2)):
        e2.settleBatch([r.as_tuple()], [sig1], att1, {"from": rando})
    assert world() == before
    assert (token.balanceOf(e2), e2.providerRecord(staked_provider)) == before2
    assert e2.getJob(j2)["status"] == RUNNING

    # Each escrow settles its own job with its own signatures.
    escrow.settle(r.as_tuple(), sig1, att1, {"from": rando})
    e2.settle(r.as_tuple(), sign_r(r, worker_key, e2), attest_r([r], [oracle_key], e2), {"from": rando})
    assert escrow.getJob(j1)["status"] == e2.getJob(j2)["status"] == SETTLED


def test_receipt_body_replayed_for_another_job_is_refused(escrow, staked_provider, worker, worker_key, oracle_key,
                                                          job_at, rando, world):
    """Same provider, same times, same GPU-seconds: only the job id differs, and the worker signed the job id."""
    job_b = job_at()
    job_a = job_at()  # accepted after job_b, so a receipt starting at job_a's acceptance fits job_b's times too
    ra = receipt_for(escrow, job_a, gpu_seconds=2000)
    rb = type(ra)(**{**ra.__dict__, "jobId": job_b})
    sig_a = sign_r(ra, worker_key, escrow)
    before = world()

    dom = dom_of(escrow)
    with brownie.reverts(bad_worker(job_b, recover(receipt_digest(rb, dom), sig_a), worker)):
        escrow.settle(rb.as_tuple(), sig_a, attest_r([rb], [oracle_key], escrow), {"from": rando})
    epoch = escrow.oracleSet()[2]
    att_a = attest_r([ra], [oracle_key], escrow)
    with brownie.reverts(not_oracle(recover(attestation_digest([rb], epoch, dom), att_a[0]), epoch)):
        escrow.settle(rb.as_tuple(), sign_r(rb, worker_key, escrow), att_a, {"from": rando})
    assert world() == before

    escrow.settle(ra.as_tuple(), sig_a, att_a, {"from": rando})
    assert (escrow.getJob(job_a)["status"], escrow.getJob(job_b)["status"]) == (SETTLED, RUNNING)
    # The receipt settled job A; resubmitted for job B with A's signature it is still refused.
    with brownie.reverts(bad_worker(job_b, recover(receipt_digest(rb, dom), sig_a), worker)):
        escrow.settle(rb.as_tuple(), sig_a, attest_r([rb], [oracle_key], escrow), {"from": rando})


def test_receipt_signed_by_a_rotated_out_worker_key_is_refused(escrow, staking, staked_provider, worker, worker_key,
                                                               worker2, oracle_key, job_at, rando, world):
    job_id = job_at()
    waiting = job_at(accept=False)
    r = receipt_for(escrow, job_id)
    old_sig, att = sign_r(r, worker_key, escrow), attest_r([r], [oracle_key], escrow)

    # The provider learns its hot key leaked and rotates it before the receipt is posted.
    staking.setWorker(worker2, {"from": staked_provider})
    before = world()
    with brownie.reverts(bad_worker(job_id, worker, worker2)):
        escrow.settle(r.as_tuple(), old_sig, att, {"from": rando})
    tx = escrow.settleBatch([r.as_tuple()], [old_sig], att, {"from": rando})  # skipped in a batch, changes nothing
    assert events_of(tx, "SettlementSkipped") == [{"jobId": job_id, "status": RUNNING,
                                                   "reason": SkipReason.WRONG_WORKER}]
    # Nor can the old key accept or decline the provider's jobs.
    with brownie.reverts(err("JobEscrowNotProviderOrWorker(uint256,address)", waiting, worker)):
        escrow.acceptJob(waiting, {"from": worker})
    assert world() == before

    escrow.settle(r.as_tuple(), sign_r(r, WORKER2_KEY, escrow), att, {"from": rando})
    assert escrow.getJob(job_id)["status"] == SETTLED


def test_attestation_made_before_an_oracle_set_change_is_refused(escrow, deployer, staked_provider, worker_key,
                                                                 oracle_key, oracle, job_at, rando, world):
    job_id = job_at()
    r = receipt_for(escrow, job_id)
    old_epoch = escrow.oracleSet()[2]
    old_att = attest_r([r], [oracle_key], escrow)
    # Governance re-installs the very same oracle: the epoch still moves on, voiding every earlier attestation.
    escrow.setOracleSet([oracle], 1, {"from": deployer})
    epoch = escrow.oracleSet()[2]
    assert epoch == old_epoch + 1
    before = world()
    signer = recover(attestation_digest([r], epoch, dom_of(escrow)), old_att[0])
    with brownie.reverts(not_oracle(signer, epoch)):
        escrow.settle(r.as_tuple(), sign_r(r, worker_key, escrow), old_att, {"from": rando})
    with brownie.reverts(not_oracle(signer, epoch)):
        escrow.settleBatch([r.as_tuple()], [sign_r(r, worker_key, escrow)], old_att, {"from": rando})
    # Nor may the old attestation claim its old epoch: the escrow only checks against the current one.
    assert old_att == attest_r([r], [oracle_key], escrow, epoch=old_epoch)
    assert world() == before

    escrow.settle(r.as_tuple(), sign_r(r, worker_key, escrow), attest_r([r], [oracle_key], escrow), {"from": rando})
    assert escrow.getJob(job_id)["status"] == SETTLED


def test_settled_receipt_resubmitted_is_refused_or_skipped_and_pays_once(escrow, token, staked_provider, client,
                                                                         arbiter, worker_key, oracle_key, job_at,
                                                                         rando, world):
    job_id = job_at()
    r = receipt_for(escrow, job_id, gpu_seconds=1000)
    args = (r.as_tuple(), sign_r(r, worker_key, escrow), attest_r([r], [oracle_key], escrow))
    escrow.settle(*args, {"from": rando})

    for status in (SETTLED, DISPUTED, UPHELD):
        if status == DISPUTED:
            escrow.dispute(job_id, b"\x01" * 32, {"from": client})
        if status == UPHELD:
            escrow.resolveDispute(job_id, True, {"from": arbiter})
        before = world()
        with brownie.reverts(wrong_status(job_id, status, RUNNING)):
            escrow.settle(*args, {"from": rando})
        tx = escrow.settleBatch([args[0]], [args[1]], args[2], {"from": rando})
        assert events_of(tx, "SettlementSkipped") == [{"jobId": job_id, "status": status,
                                                       "reason": SkipReason.NOT_RUNNING}]
        assert "JobSettled" not in tx.events
        assert world() == before
