"""Fixtures and helpers for the LeaseEscrow unit tests (errors are compared as tests/unit/JobEscrow does)."""

import pytest

from tests.fixtures.leases import L_CANCELLED, L_DISPUTED, L_ENDED, L_OPEN, L_RUNNING
from tests.helpers.revert import typed_error as err


def lwrong(lease_id, status, expected):
    return err("LeaseEscrowWrongStatus(uint256,uint8,uint8)", lease_id, status, expected)


def lunknown(lease_id):
    return err("LeaseEscrowUnknownLease(uint256)", lease_id)


@pytest.fixture(autouse=True)
def lease_books_balance(isolation, lease_escrow, token, provider, provider2):
    """After every test: the lease escrow holds exactly what it owes: open and running leases' deposits not yet paid
    out, ended leases' refunds, dispute bonds, pay withheld for rulings, credited earnings and accrued fees."""
    yield
    owed = lease_escrow.accruedFees()
    for p in (provider, provider2):
        owed += lease_escrow.providerRecord(p)["earnings"]
    for lease_id in range(1, lease_escrow.leaseCount() + 1):
        v = lease_escrow.getLease(lease_id).dict()
        # Open, Running, Disputed: the deposit not paid out; Ended: the refund not claimed (deposit = paid + it).
        if v["status"] != L_CANCELLED:
            owed += v["deposit"] - v["paid"]
        if v["status"] == L_DISPUTED:
            owed += v["disputeBond"]
        owed += lease_escrow.leaseWithheldPay(lease_id)[0]
    assert token.balanceOf(lease_escrow) == owed, "lease escrow balance != what it owes"


__all__ = ["L_CANCELLED", "L_DISPUTED", "L_ENDED", "L_OPEN", "L_RUNNING", "err", "lunknown", "lwrong"]
