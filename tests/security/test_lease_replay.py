"""Attack: make an oracle attestation pay a lease more than once, or pay a lease it was not made for.

An attestation covers the exact checkpoints it was signed over (lease id, period, up and down seconds, heartbeats
root), under the lease escrow's EIP-712 domain (chain id and address) and the oracle set's current epoch. What
stops replay (SECURITY.md, "Leases"): a checkpoint applies only when its fromTime is the lease's paidThrough, so a
replayed checkpoint is skipped and moves nothing; any change to a checkpoint, the epoch, the chain, the contract or
the typed-data type changes the digest, so the signature recovers to some other address and the batch reverts;
high-s (malleated) signatures and repeated signers are refused.

Every test asserts the exact error and that nothing moved.
"""

import brownie
import pytest
from eth_account import Account
from eth_utils import keccak

from tests.fixtures.accounts import ORACLE_KEYS
from tests.fixtures.leases import LEASE_PARAMS, SKIP_NOT_CONTIGUOUS
from tests.helpers.lease_signing import (
    ATTESTATION_FIELDS,
    DOMAIN_FIELDS,
    Checkpoint,
    checkpoints_hash,
    lease_domain,
)
from tests.helpers.lease_signing import sign_checkpoints as sign_cps
from tests.helpers.signing import domain as job_domain

from .conftest import addr_of, err, events_of, malleable_pair, recover, sign_with_nonce, sort_keys

pytestmark = pytest.mark.usefixtures("staked_provider")


def _not_oracle(le, cps, sig, epoch):
    """The error for a signature that recovers to whatever address the submitted checkpoints' digest gives."""
    digest = le.attestationDigest(checkpoints_hash(cps), epoch)
    return err("LeaseEscrowNotOracle(address,uint64)", recover(digest, sig), epoch)


def test_a_paid_checkpoint_replayed_moves_nothing(
    lease_escrow, create_lease, checkpoint, attest_checkpoints, rando, lworld
):
    lease_id = create_lease()
    cp = checkpoint(lease_id, seconds=600, down=60)
    att = attest_checkpoints([cp])
    lease_escrow.submitCheckpoints([cp.as_tuple()], att, {"from": rando})
    before = lworld()
    for _ in range(2):  # the same transaction again, and once more in a batch with itself
        tx = lease_escrow.submitCheckpoints([cp.as_tuple()], att, {"from": rando})
        assert tx.return_value == 0
        assert [(e["leaseId"], e["reason"]) for e in events_of(tx, "CheckpointSkipped")] == [
            (lease_id, SKIP_NOT_CONTIGUOUS)
        ]
    twice = [cp, cp]
    tx = lease_escrow.submitCheckpoints(
        [c.as_tuple() for c in twice], attest_checkpoints(twice), {"from": rando}
    )
    assert tx.return_value == 0 and len(events_of(tx, "CheckpointSkipped")) == 2
    assert lworld() == before


def test_a_batch_with_the_same_checkpoint_twice_pays_it_once(
    lease_escrow, create_lease, checkpoint, attest_checkpoints, rando, staked_provider
):
    lease_id = create_lease()
    cp = checkpoint(lease_id, seconds=300)
    tx = lease_escrow.submitCheckpoints([cp.as_tuple()] * 2, attest_checkpoints([cp, cp]), {"from": rando})
    assert tx.return_value == 1
    assert len(events_of(tx, "CheckpointSettled")) == 1
    assert [e["reason"] for e in events_of(tx, "CheckpointSkipped")] == [SKIP_NOT_CONTIGUOUS]
    assert lease_escrow.getLease(lease_id)["paid"] == 300 * lease_escrow.getLease(lease_id)["ratePerSecond"]


def test_a_checkpoint_replayed_on_another_lease_is_refused(
    lease_escrow, create_lease, checkpoint, attest_checkpoints, client2, rando, lworld
):
    """Two leases accepted in one second have the same paidThrough: the attestation of one, with the lease id
    changed, must not pay the other."""
    a = create_lease(gpus=1)
    b = create_lease(gpus=1, sender=client2)
    cp_a = checkpoint(a, seconds=600)
    att = attest_checkpoints([cp_a])
    cp_b = Checkpoint(b, *cp_a.as_tuple()[1:])
    before = lworld()
    with brownie.reverts(_not_oracle(lease_escrow, [cp_b], att[0], _epoch(lease_escrow))):
        lease_escrow.submitCheckpoints([cp_b.as_tuple()], att, {"from": rando})
    assert lworld() == before


def _epoch(le):
    from brownie import JobEscrow

    return JobEscrow.at(le.jobEscrow()).oracleSet()[2]


@pytest.mark.parametrize("field", ["fromTime", "toTime", "upSeconds", "downSeconds", "heartbeatsRoot"])
def test_changing_any_field_of_an_attested_checkpoint_is_refused(
    lease_escrow, create_lease, checkpoint, attest_checkpoints, rando, lworld, field
):
    lease_id = create_lease()
    cp = checkpoint(lease_id, seconds=600, down=100)
    att = attest_checkpoints([cp])
    forged = Checkpoint(*cp.as_tuple())
    if field == "fromTime":  # a longer period, still contiguous from the last paid one, is not
        forged.fromTime, forged.toTime = cp.fromTime, cp.toTime - 1
        forged.upSeconds = cp.upSeconds - 1
    elif field == "toTime":
        forged.toTime, forged.upSeconds = cp.toTime - 100, cp.upSeconds - 100
    elif field == "upSeconds":  # more up, less down: more pay for the same period
        forged.upSeconds, forged.downSeconds = cp.upSeconds + 100, 0
    elif field == "downSeconds":
        forged.upSeconds, forged.downSeconds = cp.upSeconds + 50, cp.downSeconds - 50
    else:
        forged.heartbeatsRoot = b"\x99" * 32
    before = lworld()
    with brownie.reverts(_not_oracle(lease_escrow, [forged], att[0], _epoch(lease_escrow))):
        lease_escrow.submitCheckpoints([forged.as_tuple()], att, {"from": rando})
    assert lworld() == before


def test_reordering_an_attested_batch_is_refused(
    lease_escrow, create_lease, checkpoint, attest_checkpoints, client2, rando, lworld
):
    a = create_lease(gpus=1)
    b = create_lease(gpus=1, sender=client2)
    ca, cb = checkpoint(a, seconds=300), checkpoint(b, seconds=200, advance=False)
    att = attest_checkpoints([ca, cb])
    before = lworld()
    with brownie.reverts(_not_oracle(lease_escrow, [cb, ca], att[0], _epoch(lease_escrow))):
        lease_escrow.submitCheckpoints([cb.as_tuple(), ca.as_tuple()], att, {"from": rando})
    # dropping a checkpoint from an attested batch is refused just the same
    with brownie.reverts(_not_oracle(lease_escrow, [ca], att[0], _epoch(lease_escrow))):
        lease_escrow.submitCheckpoints([ca.as_tuple()], att, {"from": rando})
    assert lworld() == before


def test_an_attestation_of_an_old_oracle_epoch_is_refused(
    lease_escrow, escrow, create_lease, checkpoint, attest_checkpoints, oracle, deployer, rando, lworld
):
    """Governance re-installs the same oracle set: the epoch moves on, so checkpoints attested (and not yet posted)
    under the old epoch no longer verify, though the same key signed them."""
    lease_id = create_lease()
    cp = checkpoint(lease_id, seconds=600)
    old_epoch = escrow.oracleSet()[2]
    att = attest_checkpoints([cp], epoch=old_epoch)
    escrow.setOracleSet([oracle], 1, {"from": deployer})
    new_epoch = escrow.oracleSet()[2]
    assert new_epoch == old_epoch + 1
    before = lworld()
    with brownie.reverts(_not_oracle(lease_escrow, [cp], att[0], new_epoch)):
        lease_escrow.submitCheckpoints([cp.as_tuple()], att, {"from": rando})
    # an attestation that names a future epoch does not verify either
    future = attest_checkpoints([cp], epoch=new_epoch + 1)
    with brownie.reverts(_not_oracle(lease_escrow, [cp], future[0], new_epoch)):
        lease_escrow.submitCheckpoints([cp.as_tuple()], future, {"from": rando})
    assert lworld() == before
    # signed under the current epoch, the same checkpoint pays
    assert (
        lease_escrow.submitCheckpoints(
            [cp.as_tuple()], attest_checkpoints([cp]), {"from": rando}
        ).return_value
        == 1
    )


@pytest.mark.parametrize("where", ["other chain", "other lease escrow", "job escrow domain"])
def test_an_attestation_for_another_domain_is_refused(
    LeaseEscrow,
    lease_escrow,
    escrow,
    staking,
    token,
    deployer,
    create_lease,
    checkpoint,
    oracle_key,
    rando,
    lworld,
    where,
):
    from brownie import chain

    lease_id = create_lease()
    cp = checkpoint(lease_id, seconds=600)
    epoch = _epoch(lease_escrow)
    if where == "other chain":
        dom = lease_domain(chain.id + 1, lease_escrow.address)
    elif where == "other lease escrow":
        # the same staking contract, job escrow and oracle set behind a second lease escrow (never registered)
        twin = LeaseEscrow.deploy(token, staking, escrow, deployer, LEASE_PARAMS, {"from": deployer})
        dom = lease_domain(chain.id, twin.address)
    else:
        dom = dict(lease_domain(chain.id, escrow.address), name="gpusettle JobEscrow")
    att = sign_cps([cp], epoch, [oracle_key], dom)
    before = lworld()
    with brownie.reverts(_not_oracle(lease_escrow, [cp], att[0], epoch)):
        lease_escrow.submitCheckpoints([cp.as_tuple()], att, {"from": rando})
    assert lworld() == before


def _sign_job_attestation(hash_, epoch, key, dom):
    """A JobEscrow Attestation(bytes32 receiptsHash,uint64 oracleEpoch) over `hash_`."""
    full = {
        "types": {
            "EIP712Domain": DOMAIN_FIELDS,
            "Attestation": [
                {"name": "receiptsHash", "type": "bytes32"},
                {"name": "oracleEpoch", "type": "uint64"},
            ],
        },
        "primaryType": "Attestation",
        "domain": dom,
        "message": {"receiptsHash": hash_, "oracleEpoch": epoch},
    }
    from tests.helpers.signing import compact

    s = Account.sign_typed_data(key, full_message=full)
    return compact(s.v, s.r, s.s)


@pytest.mark.parametrize("dom_of", ["job escrow", "lease escrow"])
def test_a_job_escrow_attestation_does_not_verify_as_a_lease_one(
    lease_escrow, escrow, create_lease, checkpoint, oracle_key, rando, lworld, dom_of
):
    """The oracles sign job batches as Attestation(receiptsHash, epoch) under the job escrow's domain. One whose
    32-byte hash equals a checkpoints hash (under either domain) must not pay checkpoints."""
    from brownie import chain

    lease_id = create_lease()
    cp = checkpoint(lease_id, seconds=600)
    epoch = _epoch(lease_escrow)
    dom = (
        job_domain(chain.id, escrow.address)
        if dom_of == "job escrow"
        else lease_domain(chain.id, lease_escrow.address)
    )
    sig = _sign_job_attestation(checkpoints_hash([cp]), epoch, oracle_key, dom)
    before = lworld()
    with brownie.reverts(_not_oracle(lease_escrow, [cp], sig, epoch)):
        lease_escrow.submitCheckpoints([cp.as_tuple()], [sig], {"from": rando})
    assert lworld() == before
    # and the converse: the lease attestation's type hash is not the job escrow's
    assert keccak(text="CheckpointAttestation(bytes32 checkpointsHash,uint64 oracleEpoch)") != keccak(
        text="Attestation(bytes32 receiptsHash,uint64 oracleEpoch)"
    )
    assert [f["name"] for f in ATTESTATION_FIELDS] == ["checkpointsHash", "oracleEpoch"]


def test_a_malleated_attestation_signature_is_refused(
    lease_escrow, escrow, create_lease, checkpoint, deployer, rando, lworld
):
    """The high-s twin of a valid signature recovers to the same signer; only the canonical low-s form counts."""
    lease_id = create_lease()
    cp = checkpoint(lease_id, seconds=600)
    next_epoch = escrow.oracleSet()[2] + 1
    digest = lease_escrow.attestationDigest(checkpoints_hash([cp]), next_epoch)
    low, high, signer = malleable_pair(digest)
    escrow.setOracleSet([signer], 1, {"from": deployer})  # the pair's (keyless) signer is the oracle now
    assert escrow.oracleSet()[2] == next_epoch
    before = lworld()
    with brownie.reverts(err("LeaseEscrowMalformedSignature(uint256)", 0)):
        lease_escrow.submitCheckpoints([cp.as_tuple()], [high], {"from": rando})
    assert lworld() == before
    assert lease_escrow.submitCheckpoints([cp.as_tuple()], [low], {"from": rando}).return_value == 1


def test_one_oracle_cannot_count_twice(
    lease_escrow, escrow, create_lease, checkpoint, deployer, rando, lworld
):
    """Threshold 2: the same signature twice, or two different valid signatures by one key, are one signer."""
    keys = sort_keys(ORACLE_KEYS[:2])
    escrow.setOracleSet([addr_of(k) for k in keys], 2, {"from": deployer})
    epoch = escrow.oracleSet()[2]
    lease_id = create_lease()
    cp = checkpoint(lease_id, seconds=600)
    digest = lease_escrow.attestationDigest(checkpoints_hash([cp]), epoch)
    one = sign_cps([cp], epoch, [keys[0]], lease_domain(brownie.chain.id, lease_escrow.address))[0]
    other = sign_with_nonce(digest, keys[0], 0xC0FFEE)
    assert other != one
    signer = addr_of(keys[0])
    before = lworld()
    for pair in ([one, one], [one, other]):
        with brownie.reverts(
            err("LeaseEscrowOracleSignersNotSorted(uint256,address,address)", 1, signer, signer)
        ):
            lease_escrow.submitCheckpoints([cp.as_tuple()], pair, {"from": rando})
    with brownie.reverts(err("LeaseEscrowAttestationBelowThreshold(uint256,uint256)", 1, 2)):
        lease_escrow.submitCheckpoints([cp.as_tuple()], [one], {"from": rando})
    # a non-oracle key as the second signer
    stranger = "0x" + "5e" * 32
    pair = sign_cps([cp], epoch, [keys[0], stranger], lease_domain(brownie.chain.id, lease_escrow.address))
    bad = addr_of(stranger)
    with brownie.reverts(err("LeaseEscrowNotOracle(address,uint64)", bad, epoch)):
        lease_escrow.submitCheckpoints([cp.as_tuple()], pair, {"from": rando})
    assert lworld() == before
    both = sign_cps([cp], epoch, keys, lease_domain(brownie.chain.id, lease_escrow.address))
    assert lease_escrow.submitCheckpoints([cp.as_tuple()], both, {"from": rando}).return_value == 1
