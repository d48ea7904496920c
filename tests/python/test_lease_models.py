"""Lease models refuse what the contract would refuse, with the reason."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gpusettle.hashing import keccak256
from gpusettle.leases.models import (
    Checkpoint,
    HeartbeatEvidence,
    LeaseStatus,
    LeaseTerms,
    evidence_hash,
)

A = "0x00000000000000000000000000000000000000A1"


def test_checkpoint_period_must_add_up() -> None:
    ok = Checkpoint(
        leaseId=1, fromTime=10, toTime=20, upSeconds=7, downSeconds=3, heartbeatsRoot="0x" + "00" * 32
    )
    assert ok.as_tuple()[5] == bytes(32)
    with pytest.raises(ValidationError, match="must equal the period"):
        Checkpoint(
            leaseId=1, fromTime=10, toTime=20, upSeconds=7, downSeconds=4, heartbeatsRoot="0x" + "00" * 32
        )
    with pytest.raises(ValidationError, match="must be after"):
        Checkpoint(
            leaseId=1, fromTime=20, toTime=20, upSeconds=0, downSeconds=0, heartbeatsRoot="0x" + "00" * 32
        )


def test_evidence_hash_is_keccak_of_canonical_json() -> None:
    doc = {"pid": 42, "alive": True, "gpus": [{"uuid": "GPU-1", "util": 90, "memUsedMb": 1000}]}
    canonical = b'{"alive":true,"gpus":[{"memUsedMb":1000,"util":90,"uuid":"GPU-1"}],"pid":42}'
    assert HeartbeatEvidence.model_validate(doc).canonical_json() == canonical
    assert evidence_hash(doc) == "0x" + keccak256(canonical).hex()
    with pytest.raises(ValidationError):
        HeartbeatEvidence.model_validate({**doc, "extra": 1})


def test_billing_end_as_known_now() -> None:
    base = {
        "leaseId": 1,
        "status": LeaseStatus.RUNNING,
        "client": A,
        "provider": A,
        "offerId": 1,
        "gpuCount": 1,
        "ratePerSecond": 1,
        "deposit": 100,
        "paidThrough": 10,
        "startedAt": 10,
    }
    assert LeaseTerms.model_validate(base).billing_end() == 0
    assert LeaseTerms.model_validate({**base, "runwayEnd": 110, "endTime": 90}).billing_end() == 90
    assert LeaseTerms.model_validate({**base, "runwayEnd": 110, "billingEnd": 50}).billing_end() == 50


def test_evidence_must_name_every_field_so_its_hash_is_the_senders() -> None:
    with pytest.raises(ValidationError, match="pid"):
        HeartbeatEvidence.model_validate({"gpus": [], "alive": False})
    sent = {"gpus": [], "pid": None, "alive": False}
    canonical = b'{"alive":false,"gpus":[],"pid":null}'
    assert HeartbeatEvidence.model_validate(sent).canonical_json() == canonical
