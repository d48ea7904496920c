"""Views: getLease, runwayEnd, leaseCount, providerRecord, digests against eth-account's."""

import brownie
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from tests.fixtures.contracts import PRICE
from tests.helpers.lease_signing import Checkpoint, checkpoint_typed_data, checkpoints_hash
from tests.unit.LeaseEscrow.conftest import lunknown


def test_unknown_lease(lease_escrow):
    for fn in (lease_escrow.getLease, lease_escrow.runwayEnd, lease_escrow.leaseParameters):
        with brownie.reverts(lunknown(3)):
            fn(3)


def test_runway_is_zero_unless_running(lease_escrow, create_lease):
    lease_id = create_lease(accept=False)
    assert lease_escrow.runwayEnd(lease_id) == 0


def test_checkpoint_digest_matches_eth_account(lease_escrow, ldom):
    cp = Checkpoint(5, 100, 200, 90, 10, b"\x42" * 32)
    signable = encode_typed_data(full_message=checkpoint_typed_data(cp, ldom))
    assert lease_escrow.checkpointDigest(cp.as_tuple()) == "0x" + keccak(
        b"\x19" + signable.version + signable.header + signable.body).hex()


def test_attestation_digest_and_domain(lease_escrow, ldom):
    cp = Checkpoint(5, 100, 200, 90, 10)
    digest = lease_escrow.attestationDigest(checkpoints_hash([cp]), 1)
    assert len(bytes(digest)) == 32
    assert lease_escrow.domainSeparator() != lease_escrow.attestationDigest(checkpoints_hash([cp]), 2)


def test_provider_record(lease_escrow, create_lease, staked_provider):
    create_lease(gpus=1)
    r = lease_escrow.providerRecord(staked_provider).dict()
    assert r["lockedCollateral"] == PRICE * 3600 and r["earnings"] == 0 and r["openDisputes"] == 0
    assert lease_escrow.leaseCount() == 1
