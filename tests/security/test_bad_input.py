"""Attack: hand the contracts input no honest tool would produce: receipts whose fields carry dirty high bits (so
that the hash the escrow computes over raw calldata differs from the decoded values), out-of-range prices and job
sizes, zero amounts and addresses, malformed signatures, truncated calldata, mismatched batch arrays.

What stops it: the ABI decoder validates every field the escrow reads (JobEscrow._receiptStructHash relies on
this), explicit range checks with custom errors everywhere else. Each refusal is exact and moves nothing.
"""

import brownie
import pytest
from brownie import web3
from eth_abi import encode
from eth_account import Account
from eth_utils import keccak
from web3.exceptions import ContractLogicError

from tests.fixtures.contracts import PRICE
from tests.fixtures.jobs import SPEC_HASH
from tests.helpers.limits import limits
from tests.helpers.signing import RECEIPT_TYPEHASH, compact

from .conftest import (
    DAY,
    MAX_U32,
    MAX_U64,
    RUNNING,
    SETTLED,
    ZERO,
    at,
    attest_r,
    err,
    now,
    receipt_for,
    sign_r,
)

ATTESTATION_TYPEHASH = keccak(text="Attestation(bytes32 receiptsHash,uint64 oracleEpoch)")
SETTLE_SELECTOR = keccak(text="settle((uint256,address,uint64,uint64,uint64,bytes32,uint8),(bytes32,bytes32),"
                              "(bytes32,bytes32)[])")[:4]
FIELDS = ["jobId", "provider", "gpuSeconds", "startTime", "endTime", "resultHash", "outcome"]
SPARE_BITS = {"provider": 160, "gpuSeconds": 64, "startTime": 64, "endTime": 64, "outcome": 8}


def sign_digest(digest, key):
    s = Account._sign_hash(digest, key)
    return compact(s.v, s.r, s.s)


def raw_settle(escrow, words, worker_key, oracle_key):
    """settle() calldata for a receipt given as its seven raw 32-byte words, with a worker signature and a one-oracle
    attestation over the hash of exactly those words (what the escrow hashes)."""
    struct_hash = keccak(RECEIPT_TYPEHASH + b"".join(words))
    sep = bytes(escrow.domainSeparator())
    worker_sig = sign_digest(keccak(b"\x19\x01" + sep + struct_hash), worker_key)
    epoch = escrow.oracleSet()[2]
    att_struct = keccak(encode(["bytes32", "bytes32", "uint64"], [ATTESTATION_TYPEHASH, keccak(struct_hash), epoch]))
    oracle_sig = sign_digest(keccak(b"\x19\x01" + sep + att_struct), oracle_key)
    tail = encode(["(bytes32,bytes32)[]"], [[oracle_sig]])  # offset word (0x20) + length + items
    head_words = 7 + 2 + 1
    offset = (head_words * 32).to_bytes(32, "big")
    return SETTLE_SELECTOR + b"".join(words) + worker_sig[0] + worker_sig[1] + offset + tail[32:]


def clean_words(r):
    values = [r.jobId, int(str(r.provider), 16), r.gpuSeconds, r.startTime, r.endTime,
              int.from_bytes(r.resultHash, "big"), r.outcome]
    return [v.to_bytes(32, "big") for v in values]


def revert_data(escrow, sender, data):
    """The revert data of an eth_call of `data` (raises if the call succeeds)."""
    try:
        web3.eth.call({"from": str(sender), "to": escrow.address, "data": "0x" + data.hex()})
    except ContractLogicError as e:  # newer web3
        return e.data if isinstance(e.data, str) else "0x"
    except ValueError as e:  # the web3 brownie 1.22 ships: the node's JSON-RPC error object
        payload = e.args[0] if e.args and isinstance(e.args[0], dict) else {}
        assert payload.get("message") == "execution reverted", e
        return payload.get("data", "0x")
    raise AssertionError("the call succeeded")


@pytest.mark.parametrize("field", list(SPARE_BITS))
def test_receipt_with_dirty_high_bits_is_refused(escrow, staked_provider, worker_key, oracle_key, rando, job_at,
                                                 world, field):
    """The escrow hashes the receipt's raw calldata words; a field with bits set above its type must be rejected by
    the decoder, not hashed one way and read another, even when the worker and the oracle signed those words."""
    job_id = job_at()
    r = receipt_for(escrow, job_id, gpu_seconds=1000)
    words = clean_words(r)
    i = FIELDS.index(field)
    dirty = list(words)
    dirty[i] = (int.from_bytes(words[i], "big") | (1 << (255 if field != "provider" else 200))).to_bytes(32, "big")
    data = raw_settle(escrow, dirty, worker_key, oracle_key)
    before = world()
    assert revert_data(escrow, rando, data) in ("0x", None, "")  # the ABI decoder's plain revert, no error data
    with brownie.reverts():
        rando.transfer(escrow, 0, data="0x" + data.hex(), gas_limit=1_000_000)
    assert world() == before
    assert escrow.getJob(job_id)["status"] == RUNNING

    # The same construction with clean words settles: the refusal was the dirty bits and nothing else.
    rando.transfer(escrow, 0, data="0x" + raw_settle(escrow, words, worker_key, oracle_key).hex())
    assert escrow.getJob(job_id)["status"] == SETTLED


def test_truncated_settle_calldata_is_refused(escrow, staked_provider, worker_key, oracle_key, rando, job_at, world):
    job_id = job_at()
    r = receipt_for(escrow, job_id)
    data = raw_settle(escrow, clean_words(r), worker_key, oracle_key)
    before = world()
    for cut in (4, 4 + 32 * 3, len(data) - 1, len(data) - 32):
        with brownie.reverts():
            rando.transfer(escrow, 0, data="0x" + data[:cut].hex(), gas_limit=1_000_000)
    assert world() == before


def test_malformed_signatures_are_refused(escrow, worker, worker_key, oracle_key, rando, job_at, world):
    job_id = job_at()
    r = receipt_for(escrow, job_id)
    good_w, good_a = sign_r(r, worker_key, escrow), attest_r([r], [oracle_key], escrow)
    zero = (b"\x00" * 32, b"\x00" * 32)
    top = (good_w[0], b"\xff" * 32)  # s = 2^255 - 1: above the curve order's half
    before = world()
    for bad in (zero, top, (b"\x00" * 32, good_w[1])):
        with brownie.reverts(err("JobEscrowInvalidWorkerSignature(uint256,address,address)", job_id, ZERO, worker)):
            escrow.settle(r.as_tuple(), bad, good_a, {"from": rando})
        with brownie.reverts(err("JobEscrowMalformedSignature(uint256)", 0)):
            escrow.settle(r.as_tuple(), good_w, [bad], {"from": rando})
    assert world() == before


def test_batch_arrays_must_pair_up(escrow, worker_key, oracle_key, rando, job_at, world):
    job_id = job_at()
    r = receipt_for(escrow, job_id)
    sig, att = sign_r(r, worker_key, escrow), attest_r([r], [oracle_key], escrow)
    before = world()
    with brownie.reverts(err("JobEscrowEmptyBatch()")):
        escrow.settleBatch([], [], att, {"from": rando})
    with brownie.reverts(err("JobEscrowLengthMismatch(uint256,uint256)", 1, 2)):
        escrow.settleBatch([r.as_tuple()], [sig, sig], att, {"from": rando})
    with brownie.reverts(err("JobEscrowLengthMismatch(uint256,uint256)", 2, 1)):
        escrow.settleBatch([r.as_tuple(), r.as_tuple()], [sig], att, {"from": rando})
    assert world() == before


def test_job_sizes_deadlines_and_offers_out_of_range_are_refused(escrow, staking, token, staked_provider, client,
                                                                 world):
    token.approve(escrow, 2**256 - 1, {"from": client})
    before = world()
    for bad in (0, MAX_U32 + 1, 2**255):
        with brownie.reverts(err("JobEscrowInvalidMaxGpuSeconds(uint256)", bad)):
            escrow.createJob(1, bad, now() + DAY, SPEC_HASH, *limits(escrow, 1), {"from": client})
    for deadline_in in (0, 365 * DAY + 1):  # not in the future; beyond the longest job
        ts = now() + 1
        expected = err("JobEscrowInvalidDeadline(uint256,uint256,uint256)", ts + deadline_in, ts, ts + 365 * DAY)
        with at(ts), brownie.reverts(expected):
            escrow.createJob(1, 3600, ts + deadline_in, SPEC_HASH, *limits(escrow, 1), {"from": client})
    for offer_id in (0, 99, 2**64):
        with brownie.reverts(err("ProviderStakingUnknownOffer(uint256)", offer_id)):
            escrow.createJob(offer_id, 3600, now() + DAY, SPEC_HASH, *limits(escrow, offer_id), {"from": client})
    assert world() == before


def test_offer_and_stake_inputs_out_of_range_are_refused(staking, token, staked_provider, rando):
    with brownie.reverts(err("ProviderStakingInvalidPrice(uint256,uint256)", 0, MAX_U64)):
        staking.addOffer("H100", 1, 80, 0, "ipfs://x", {"from": staked_provider})
    with brownie.reverts(err("ProviderStakingInvalidGpuCount(uint256)", 0)):
        staking.addOffer("H100", 0, 80, PRICE, "ipfs://x", {"from": staked_provider})
    # A price above 2^64 - 1 cannot be encoded: the raw calldata is refused by the decoder.
    data = staking.addOffer.encode_input("H100", 1, 80, 1, "ipfs://x")
    raw = bytearray(bytes.fromhex(data[2:]))
    raw[4 + 32 * 3: 4 + 32 * 4] = (2**64).to_bytes(32, "big")
    count = staking.offerCount()
    with brownie.reverts():
        staked_provider.transfer(staking, 0, data="0x" + raw.hex(), gas_limit=1_000_000)
    assert staking.offerCount() == count
    with brownie.reverts(err("ProviderStakingZeroAmount()")):
        staking.stake(0, {"from": rando})
    with brownie.reverts(err("ProviderStakingZeroAmount()")):
        staking.requestUnstake(0, {"from": staked_provider})
    with brownie.reverts(err("SafeCastOverflowedUintDowncast(uint8,uint256)", 96, 2**96)):
        staking.stake(2**96, {"from": rando})
    with brownie.reverts(err("ZeroAddress()")):
        staking.setWorker(ZERO, {"from": staked_provider})
    with brownie.reverts(err("ProviderStakingNotOfferOwner(uint256,address,address)", 1, rando, staked_provider)):
        staking.updateOffer(1, 1, 80, PRICE, "ipfs://mine", {"from": rando})
