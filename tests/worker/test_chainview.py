"""The contract-backed lease view decodes getLease by the ABI's component names (ILeaseEscrow.LeaseView)."""

from __future__ import annotations

import pytest

from gpusettle.errors import ConfigError
from gpusettle.worker.chainview import _output_names, lease_from_view
from gpusettle.worker.leasechain import AvailabilityClass, LeaseStatus

# ILeaseEscrow.LeaseView, in its declared order (branch lc, interfaces/ILeaseEscrow.sol).
LEASE_VIEW = [
    "status",
    "client",
    "provider",
    "offerId",
    "gpuCount",
    "pricePerGpuSecond",
    "ratePerSecond",
    "deposit",
    "paid",
    "paidThrough",
    "startedAt",
    "acceptBy",
    "endTime",
    "billingEnd",
    "runwayEnd",
    "availabilityClass",
    "noticeSeconds",
    "uptimeGuaranteeBps",
    "collateral",
    "specHash",
    "upSeconds",
    "downSeconds",
    "refundable",
    "lastCheckpointAt",
    "disputeBond",
    "collateralReleased",
]

ABI = [
    {
        "type": "function",
        "name": "getLease",
        "inputs": [{"name": "leaseId", "type": "uint256"}],
        "outputs": [
            {"name": "", "type": "tuple", "components": [{"name": n, "type": "uint256"} for n in LEASE_VIEW]}
        ],
    }
]


def test_get_lease_is_read_by_field_name() -> None:
    names = _output_names(ABI, "getLease")
    assert names == LEASE_VIEW
    raw = list(range(len(names)))
    raw[names.index("status")] = 2
    raw[names.index("availabilityClass")] = 1
    raw[names.index("specHash")] = bytes(range(32))  # type: ignore[call-overload]
    info = lease_from_view(9, dict(zip(names, raw, strict=True)))
    assert info.lease_id == 9 and info.status == LeaseStatus.RUNNING
    assert info.availability_class == AvailabilityClass.RECLAIMABLE
    assert info.offer_id == names.index("offerId") and info.gpu_count == names.index("gpuCount")
    assert info.runway_end == names.index("runwayEnd") and info.billing_end == names.index("billingEnd")
    assert info.end_time == names.index("endTime") and info.accept_by == names.index("acceptBy")
    assert info.notice_seconds == names.index("noticeSeconds")
    assert info.spec_hash == "0x" + bytes(range(32)).hex()
    with pytest.raises(ConfigError, match="no getLease"):
        _output_names([], "getLease")
