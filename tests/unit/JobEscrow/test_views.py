"""Views: getJob decoded for every status, providerRecord, unstakeBlockers, parameters, oracleSet, roles, the
EIP-712 domain and digests."""

import brownie
import pytest
from brownie import chain
from eth_abi import encode
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from tests.fixtures.contracts import (
    ACCEPT_WINDOW,
    COLLATERAL_BPS,
    DISPUTE_BOND,
    DISPUTE_WINDOW,
    ESCROW_PARAMS,
    ESCROW_PARAMS_DEPLOYED,
    GPU_COUNT,
    PRICE,
    TIMEOUT_GRACE,
)
from tests.fixtures.jobs import SPEC_HASH
from tests.helpers.limits import limits
from tests.helpers.signing import ATTESTATION_FIELDS, RECEIPT_TYPEHASH, Receipt, receipt_digest

from .conftest import (
    BPS,
    CANCELLED,
    DAY,
    DISPUTED,
    FRAUD,
    OPEN,
    REJECTED,
    RUNNING,
    SETTLED,
    TIMED_OUT,
    UPHELD,
    ZERO,
    at,
    norm,
    now,
    unknown_job,
    dispute_reserve,
    warp,
)

DEPOSIT = 3600 * PRICE
COLLATERAL = -(-DEPOSIT * COLLATERAL_BPS // BPS)


def expected_view(client, provider, **changes):
    v = {"status": OPEN, "client": client, "provider": provider, "offerId": 1, "pricePerGpuSecond": PRICE,
         "maxGpuSeconds": 3600, "gpuCount": GPU_COUNT, "deposit": DEPOSIT, "collateral": COLLATERAL, "acceptBy": 0,
         "acceptedAt": 0, "deadline": 0, "billedGpuSeconds": 0, "settledAt": 0, "refundable": 0,
         "specHash": SPEC_HASH, "disputeBond": 0}
    v.update(changes)
    return {k: norm(x) for k, x in v.items()}


def view(escrow, job_id):
    return {k: norm(x) for k, x in escrow.getJob(job_id).dict().items()}


@pytest.fixture(scope="module")
def opened(escrow, token, client, staked_provider):
    """Open a 3600 GPU-second job at a pinned time; returns (id, created_at, deadline)."""

    def _opened():
        token.approve(escrow, 2**256 - 1, {"from": client})
        t = now() + 5
        with at(t):
            job_id = escrow.createJob(1, 3600, t + 2 * DAY, SPEC_HASH, *limits(escrow, 1), {"from": client}).return_value
        return job_id, t, t + 2 * DAY

    return _opened


def test_open_and_running(escrow, opened, client, staked_provider):
    job_id, t, deadline = opened()
    assert view(escrow, job_id) == expected_view(client, staked_provider, acceptBy=t + ACCEPT_WINDOW,
                                                 deadline=deadline)
    with at(t + 10):
        escrow.acceptJob(job_id, {"from": staked_provider})
    assert view(escrow, job_id) == expected_view(client, staked_provider, status=RUNNING, acceptedAt=t + 10,
                                                 deadline=deadline)


def test_settled_refunded_disputed_and_ruled(escrow, staking, deployer, opened, receipt, settle, client, rando,
                                             arbiter, staked_provider):
    for ruling in (True, False):
        job_id, t, _ = opened()
        escrow.acceptJob(job_id, {"from": staked_provider})
        tx = settle(receipt(job_id, gpu_seconds=1000))
        settled = dict(billedGpuSeconds=1000, settledAt=tx.timestamp)
        assert view(escrow, job_id) == expected_view(client, staked_provider, status=SETTLED,
                                                     refundable=2600 * PRICE, **settled)
        disputed_at = escrow.dispute(job_id, b"\x01" * 32, {"from": client}).timestamp
        ruling_by = disputed_at + escrow.rulingPeriod()  # while Disputed, the deadline is the ruling deadline
        assert view(escrow, job_id) == expected_view(client, staked_provider, status=DISPUTED, refundable=2600 * PRICE,
                                                     disputeBond=DISPUTE_BOND, deadline=ruling_by, **settled)
        escrow.claimRefunds([job_id], {"from": rando})
        # once the refund is out, maxGpuSeconds drops to the billed seconds; deposit and collateral stay as opened
        assert view(escrow, job_id) == expected_view(client, staked_provider, status=DISPUTED, maxGpuSeconds=1000,
                                                     disputeBond=DISPUTE_BOND, deadline=ruling_by, **settled)
        escrow.resolveDispute(job_id, ruling, {"from": arbiter})
        assert view(escrow, job_id) == expected_view(client, staked_provider, status=UPHELD if ruling else REJECTED,
                                                     maxGpuSeconds=1000, disputeBond=DISPUTE_BOND, **settled)
        if ruling:
            staking.unjail(staked_provider, {"from": deployer})  # the upheld dispute jailed it


def test_cancelled_timed_out_and_fraud(escrow, opened, client, rando, arbiter, staked_provider):
    cancelled, _, _ = opened()
    escrow.cancelJob(cancelled, {"from": client})
    timed_out, _, deadline = opened()
    fraud, _, _ = opened()
    escrow.acceptJob(timed_out, {"from": staked_provider})
    escrow.acceptJob(fraud, {"from": staked_provider})
    warp(deadline + TIMEOUT_GRACE)
    escrow.claimTimeout(timed_out, {"from": rando})
    escrow.reportFraud(fraud, b"\x02" * 32, {"from": arbiter})
    for job_id, status in ((cancelled, CANCELLED), (timed_out, TIMED_OUT), (fraud, FRAUD)):
        assert view(escrow, job_id) == expected_view(client, staked_provider, status=status)


def test_unknown_job(escrow, opened):
    for job_id in (0, 1):
        with brownie.reverts(unknown_job(job_id)):
            escrow.getJob(job_id)
    opened()
    escrow.getJob(1)
    with brownie.reverts(unknown_job(2)):
        escrow.getJob(2)


def test_job_count(escrow, opened):
    assert escrow.jobCount() == 0
    opened()
    opened()
    assert escrow.jobCount() == 2


def test_provider_record_and_blockers(escrow, staking, job, receipt, settle, client, rando, arbiter,
                                      staked_provider, provider2):
    zero = {"lockedCollateral": 0, "earnings": 0, "gpuSecondsServed": 0, "jobsCompleted": 0, "jobsFailed": 0,
            "jobsTimedOut": 0, "disputesLost": 0, "openDisputes": 0, "totalSlashed": 0, "valuePaid": 0}
    assert escrow.providerRecord(staked_provider).dict() == zero
    assert escrow.providerRecord(provider2).dict() == zero
    assert tuple(escrow.unstakeBlockers(staked_provider)) == (0, 0, 0, 0)
    a = job()
    b = job(deadline_in=DAY)
    c = job(max_gpu_seconds=1000)
    tx = settle(receipt(a, gpu_seconds=2000))
    settle(receipt(c, gpu_seconds=10, outcome=1))
    escrow.dispute(a, b"\x01" * 32, {"from": client})
    paid = 2000 * PRICE + 10 * PRICE
    fees = 2000 * PRICE * ESCROW_PARAMS[0] // BPS + 10 * PRICE * ESCROW_PARAMS[0] // BPS
    # a and c settled: their dispute reserves (a's raised to what it paid; c paid less than its collateral)
    coll = {a: dispute_reserve(escrow, a), b: escrow.getJob(b)["collateral"], c: dispute_reserve(escrow, c)}
    assert coll[a] == 2000 * PRICE and coll[c] == escrow.getJob(c)["collateral"]
    # c failed by the client's code: no failure of the provider
    assert escrow.providerRecord(staked_provider).dict() == dict(
        zero, lockedCollateral=sum(coll.values()), earnings=paid - fees, gpuSecondsServed=2010, jobsCompleted=1, jobsFailed=0,
        openDisputes=1, valuePaid=paid)
    last_settled = escrow.getJob(c)["settledAt"]
    frozen = escrow.getJob(a)["deposit"] - coll[a]  # what a's ruling can slash beyond its reserve
    assert tuple(escrow.unstakeBlockers(staked_provider)) == (sum(coll.values()), 1, last_settled + DISPUTE_WINDOW,
                                                              frozen)
    assert tx.timestamp <= last_settled
    warp(escrow.getJob(b)["deadline"] + TIMEOUT_GRACE)
    slashed = escrow.claimTimeout(b, {"from": rando}).events["JobTimedOut"]["slashed"]
    rec = escrow.providerRecord(staked_provider).dict()
    assert (rec["lockedCollateral"], rec["jobsTimedOut"], rec["totalSlashed"]) == (coll[a] + coll[c], 1, slashed)
    assert rec["totalSlashed"] == staking.totalSlashedOf(staked_provider)


def test_parameters_roles_oracles_and_wiring(escrow, token, staking, deployer, guardian, arbiter, treasury, oracle):
    assert list(escrow.parameters()) == ESCROW_PARAMS_DEPLOYED
    assert norm(tuple(escrow.roles())) == norm((treasury, guardian, arbiter))
    assert norm(tuple(escrow.oracleSet())) == norm(([oracle], 1, 1))
    assert escrow.accruedFees() == 0
    assert escrow.token() == token and escrow.staking() == staking
    assert escrow.governance() == deployer and escrow.pendingGovernance() == ZERO
    assert escrow.paused() is False
    assert escrow.METER_TOLERANCE_SECONDS() == 5
    assert escrow.MAX_JOB_DURATION() == 365 * DAY
    assert escrow.MAX_ORACLES() == 32
    assert escrow.RECEIPT_TYPEHASH() == "0x" + RECEIPT_TYPEHASH.hex()
    assert escrow.ATTESTATION_TYPEHASH() == "0x" + keccak(text="Attestation(bytes32 receiptsHash,uint64 oracleEpoch)").hex()


# -------------------------------------------------------------------- EIP-712


DOMAIN_TYPEHASH = keccak(text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")


def test_domain_separator(escrow):
    expected = keccak(encode(["bytes32", "bytes32", "bytes32", "uint256", "address"],
                             [DOMAIN_TYPEHASH, keccak(text="gpusettle JobEscrow"), keccak(text="1"), chain.id,
                              escrow.address]))
    assert escrow.domainSeparator() == "0x" + expected.hex()
    fields, name, version, chain_id, contract, salt, extensions = escrow.eip712Domain()
    assert (fields, name, version, chain_id, contract) == ("0x0f", "gpusettle JobEscrow", "1", chain.id, escrow)
    assert salt == "0x" + "00" * 32 and list(extensions) == []


def test_receipt_digest_matches_eth_account(escrow, dom, staked_provider):
    r = Receipt(7, str(staked_provider), 1234, 1_700_000_000, 1_700_000_500, b"\x42" * 32, 1)
    assert escrow.receiptDigest(r.as_tuple()) == "0x" + receipt_digest(r, dom).hex()
    # and it is the EIP-712 digest of the struct hash under this domain
    assert escrow.receiptDigest(r.as_tuple()) == "0x" + keccak(
        b"\x19\x01" + bytes(escrow.domainSeparator()) + r.struct_hash()).hex()


@pytest.mark.parametrize("epoch", [0, 1, 2**64 - 1])
def test_attestation_digest_matches_eth_account(escrow, dom, epoch):
    receipts_hash = keccak(b"some receipts")
    full = {"types": {"EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                                       {"name": "chainId", "type": "uint256"},
                                       {"name": "verifyingContract", "type": "address"}],
                      "Attestation": ATTESTATION_FIELDS},
            "primaryType": "Attestation", "domain": dom,
            "message": {"receiptsHash": receipts_hash, "oracleEpoch": epoch}}
    signable = encode_typed_data(full_message=full)
    expected = keccak(b"\x19" + signable.version + signable.header + signable.body)
    assert escrow.attestationDigest(receipts_hash, epoch) == "0x" + expected.hex()
