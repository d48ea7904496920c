"""What the lease attacks (tests/security/test_lease_*.py) share: a snapshot of everything a lease attack could
move, transactions mined in one block, and a whole lease suite on the hostile token (ReentrantToken) whose client,
provider and arbiter are ContractWallets.

Fixtures defined here are imported by name into the test modules that use them.
"""

from __future__ import annotations

from contextlib import contextmanager
from types import SimpleNamespace

import pytest
from brownie import chain, web3

from tests.fixtures.leases import LEASE_PARAMS, LEASE_SPEC, MAX_U64
from tests.helpers.lease_signing import Checkpoint, lease_domain, sign_checkpoints

from .conftest import MAX_U256, call_as, now, warp

LEASE_FIELDS = (
    "status",
    "deposit",
    "paid",
    "paidThrough",
    "billingEnd",
    "refundable",
    "collateral",
    "upSeconds",
    "downSeconds",
    "collateralReleased",
    "disputeBond",
)


def lease_state(le, staking, token, holders, providers, offers=(1,)):
    """Every balance, book, stake, lease and offer reservation an attack on `le` could move, as one value."""
    out = {
        "balances": {str(h): token.balanceOf(h) for h in holders},
        "fees": le.accruedFees(),
        "books": {str(p): tuple(le.providerRecord(p)) for p in providers},
        "stakes": {str(p): tuple(staking.stakeOf(p))[:2] for p in providers},
        "leases": {},
        "reserved": {o: staking.offer(o)["reservedGpus"] for o in offers},
    }
    for lease_id in range(1, le.leaseCount() + 1):
        v = le.getLease(lease_id).dict()
        out["leases"][lease_id] = tuple(v[k] for k in LEASE_FIELDS)
    return out


def owed_by(le, providers):
    """What the lease escrow owes, from its own views: deposits not paid out, refunds, bonds, earnings, fees."""
    owed = le.accruedFees() + sum(le.providerRecord(p)["earnings"] for p in providers)
    for lease_id in range(1, le.leaseCount() + 1):
        v = le.getLease(lease_id).dict()
        if v["status"] != 4:  # Cancelled: refunded in full
            owed += v["deposit"] - v["paid"]
        if v["status"] == 5:
            owed += v["disputeBond"]
    return owed


@contextmanager
def one_block(ts=None):
    """Transactions sent inside (with `required_confs=0` and a gas limit, see `send`) are mined together in one
    block when the block ends, in the order sent; `ts` fixes that block's timestamp."""
    web3.provider.make_request("evm_setAutomine", [False])
    sent = []
    try:
        yield sent
        if ts is not None:
            web3.provider.make_request("evm_setNextBlockTimestamp", [int(ts)])
        web3.provider.make_request("evm_mine", [])
    finally:
        web3.provider.make_request("evm_setAutomine", [True])
        chain._set_time_offset_from_block()
    for tx in sent:
        tx.wait(1)
    blocks = {tx.block_number for tx in sent}
    assert len(blocks) == 1, f"not one block: {blocks}"


def send(sent, fn, *args, sender, gas=1_500_000):
    """Queue `fn(*args)` into the block of `one_block`."""
    tx = fn(*args, {"from": sender, "gas": gas, "required_confs": 0, "allow_revert": True})
    sent.append(tx)
    return tx


@pytest.fixture(scope="module")
def lholders(accounts, worker, escrow, staking, lease_escrow):
    return list(accounts[:10]) + [worker, escrow, staking, lease_escrow]


@pytest.fixture(scope="module")
def lworld(lease_escrow, staking, token, lholders, provider, provider2):
    def _world(offers=(1,)):
        return lease_state(lease_escrow, staking, token, lholders, (provider, provider2), offers)

    return _world


@pytest.fixture(scope="module")
def hostile_lease(hostile, LeaseEscrow, deployer):
    """The hostile suite (tests/security/conftest.py) with a LeaseEscrow beside its job escrow. Offer 1 of the
    provider wallet is made reclaimable (notice 600 s) with a 90% uptime guarantee, so that checkpoints can
    penalise and reclaims happen."""
    h = hostile
    le = LeaseEscrow.deploy(h.token, h.staking, h.escrow, deployer, LEASE_PARAMS, {"from": deployer})
    h.staking.setLeaseEscrow(le, {"from": deployer})
    call_as(h.provider, h.staking, "setOfferAvailability", 1, 1, 600, 9_000)
    call_as(h.client, h.token, "approve", le, MAX_U256)
    dom = lease_domain(chain.id, le.address)

    def lease(gpus=1, hours=10, accept=True, end_time=0):
        price = h.staking.offer(1)["pricePerGpuSecond"]
        tx = call_as(
            h.client,
            le,
            "openLease",
            1,
            gpus,
            MAX_U64,
            2,
            0,
            LEASE_SPEC,
            price * gpus * hours * 3600,
            end_time,
        )
        lease_id = le.leaseCount()
        assert tx.status == 1
        if accept:
            le.acceptLease(lease_id, {"from": h.worker})
        return lease_id

    def cp(lease_id, seconds=600, down=0, to=None):
        v = le.getLease(lease_id).dict()
        start = v["paidThrough"]
        end = start + seconds if to is None else to
        warp(end + 1)
        return Checkpoint(lease_id, start, end, (end - start) - down, down)

    def cp_args(cps):
        return [c.as_tuple() for c in cps], sign_checkpoints(
            list(cps), h.escrow.oracleSet()[2], [h.oracle_key], dom
        )

    def submit(cps):
        return le.submitCheckpoints(*cp_args(cps), {"from": h.rando})

    def ended(down=0):
        """A lease closed and finally checkpointed: Ended, with a refund to claim and a checkpoint to dispute."""
        lease_id = lease()
        warp(now() + 600)
        tx = call_as(h.client, le, "closeLease", lease_id)
        submit([cp(lease_id, to=tx.timestamp, down=down)])
        return lease_id

    def observe():
        return {**h.observe(), "lease": lease_state(le, h.staking, h.token, h.holders() + [le], [h.provider])}

    return SimpleNamespace(
        h=h,
        le=le,
        dom=dom,
        lease=lease,
        cp=cp,
        cp_args=cp_args,
        submit=submit,
        ended=ended,
        observe=observe,
        now=now,
    )
