"""Helpers and extra deployments for the attack suite (tests/security/).

Every attack test fails if the attack works: it asserts the exact custom error the contracts must raise and
that no token, stake or book entry moved. The shared fixtures (tests/fixtures/) give the deployed suite; this
file adds what the attacks need on top:

* `err()`: the revert string brownie reports for a custom error with given arguments (the error is ABI-encoded
  here and decoded by brownie's own decoder, so `brownie.reverts(err(...))` compares selector and arguments);
* time control (`at`, `warp`), pinned with anvil's evm_setNextBlockTimestamp;
* signing with eth-account only: receipts and attestations under any domain (another chain id, another escrow),
  a canonical signature and its high-s twin, a second valid signature by the same key (another nonce);
* `world()`: every token balance of every party and both contracts plus the books, to compare before/after;
* `fork()`: a raw evm snapshot, for running the same scenario twice (honest, then attacked) inside one test;
* `second_suite`, `hostile` and `big` deployments (built once per module that asks for them).
"""

from __future__ import annotations

from contextlib import contextmanager
from types import SimpleNamespace

import pytest
from brownie import chain, web3
from eth_account import Account
from eth_keys import keys as eth_keys
from eth_utils import keccak

from tests.fixtures.contracts import (
    CLIENT_FUNDS,
    ESCROW_PARAMS,
    GPU_COUNT,
    MIN_STAKE,
    PRICE,
    PROVIDER_STAKE,
    SUPPLY,
    UNBONDING_PERIOD,
)
from tests.fixtures.jobs import RESULT_HASH, SPEC_HASH
from tests.helpers.clock import at, now, warp  # noqa: F401 -- re-exported to the tests
from tests.helpers.limits import limits
from tests.helpers.revert import typed_error as err  # noqa: F401 -- re-exported to the tests
from tests.helpers.revert import unauthorized, wrong_status
from tests.helpers.signing import (
    ATTESTATION_FIELDS,
    COMPLETED,
    SECP256K1_N,
    Receipt,
    compact,
    domain,
    receipts_hash,
    sign_attestation,
    sign_receipt,
)

DAY = 24 * 3600
HOUR = 3600
BPS = 10_000
MAX_U32 = 2**32 - 1
MAX_U64 = 2**64 - 1
MAX_U96 = 2**96 - 1
MAX_U256 = 2**256 - 1
ZERO = "0x0000000000000000000000000000000000000000"

# JobStatus
NONE, OPEN, RUNNING, SETTLED, CANCELLED, TIMED_OUT, DISPUTED, UPHELD, REJECTED, FRAUD = range(10)

# keccak("ReentrancyGuardReentrantCall()")[:4], what OpenZeppelin's guard reverts with
GUARD_SELECTOR = keccak(text="ReentrancyGuardReentrantCall()")[:4]

# Throwaway keys for local chains only (distinct from tests/fixtures' worker and oracle keys).
ATTACKER_KEY = "0x" + "a1" * 32
PERMIT_CLIENT_KEY = "0x" + "a2" * 32
PERMIT_PROVIDER_KEY = "0x" + "a3" * 32


# ------------------------------------------------------------------ errors


# -------------------------------------------------------------------- time


@contextmanager
def fork():
    """Run a block of transactions, then put the chain back exactly as it was (a raw evm snapshot, so the
    per-test isolation snapshot of brownie's fn_isolation is left alone)."""
    snap_id = web3.provider.make_request("evm_snapshot", [])["result"]
    try:
        yield
    finally:
        chain._revert(snap_id)


# ---------------------------------------------------------------- signing


def addr_of(key):
    return Account.from_key(key).address


def sort_keys(keys):
    return sorted(keys, key=lambda k: int(addr_of(k), 16))


def dom_of(escrow, chain_id=None):
    return domain(chain.id if chain_id is None else chain_id, escrow.address)


def sign_r(receipt, key, escrow, chain_id=None):
    return sign_receipt(receipt, key, dom_of(escrow, chain_id))


def attest_r(receipts, keys, escrow, epoch=None, chain_id=None):
    if epoch is None:
        epoch = escrow.oracleSet()[2]
    return sign_attestation(list(receipts), epoch, list(keys), dom_of(escrow, chain_id))


def attestation_digest(receipts, epoch, dom):
    """The EIP-712 digest the oracles sign, computed with eth-account alone."""
    from eth_account.messages import encode_typed_data

    full = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Attestation": ATTESTATION_FIELDS,
        },
        "primaryType": "Attestation",
        "domain": dom,
        "message": {"receiptsHash": receipts_hash(list(receipts)), "oracleEpoch": epoch},
    }
    signable = encode_typed_data(full_message=full)
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


def recover(digest, sig):
    """The address ecrecover gives for an EIP-2098 signature over `digest` (for the expected error values)."""
    r, vs = sig
    vs_int = int.from_bytes(vs, "big")
    v, s = 27 + (vs_int >> 255), vs_int & ((1 << 255) - 1)
    return Account._recover_hash(bytes(digest), vrs=(v, int.from_bytes(r, "big"), s))


def sign_with_nonce(digest, key, k):
    """A valid low-s EIP-2098 signature by `key` over `digest` made with nonce `k` (not RFC 6979's): the same
    signer, other signature bytes."""
    from eth_keys.backends.native.ecdsa import G, N, fast_multiply, inv

    d = int(key, 16)
    z = int.from_bytes(bytes(digest), "big")
    rx, ry = fast_multiply(G, k)
    r = rx % N
    s = inv(k, N) * (z + r * d) % N
    parity = ry & 1
    if s > N // 2:
        s, parity = N - s, parity ^ 1
    sig = compact(27 + parity, r, s)
    assert recover(digest, sig) == addr_of(key)
    return sig


def malleable_pair(digest):
    """A canonical low-s EIP-2098 signature over `digest`, its malleated twin (r, n - s) with the parity
    flipped, and the address both recover to.

    The twin of an ordinary signature rarely fits EIP-2098 (n - s exceeds 2^255 unless s is close to n/2), so
    the pair is built around a chosen s just above n/2: both recover to the same address, whose key nobody
    knows; the test names that address as the worker or the oracle.
    """
    seed = Account._sign_hash(b"\x00" * 32, "0x" + "31" * 32)
    r = seed.r
    s_high = SECP256K1_N // 2 + 1 + 0x5EC
    assert s_high < 2**255
    signer = eth_keys.Signature(vrs=(0, r, s_high)).recover_public_key_from_msg_hash(bytes(digest))
    twin = eth_keys.Signature(vrs=(1, r, SECP256K1_N - s_high)).recover_public_key_from_msg_hash(bytes(digest))
    assert twin.to_checksum_address() == signer.to_checksum_address()
    r_b = r.to_bytes(32, "big")
    high = (r_b, s_high.to_bytes(32, "big"))  # parity 0, s in the upper half
    low = (r_b, ((SECP256K1_N - s_high) | (1 << 255)).to_bytes(32, "big"))  # parity 1, canonical
    assert recover(digest, low) == recover(digest, high) == signer.to_checksum_address()
    return low, high, signer.to_checksum_address()


# ------------------------------------------------------------------ state


def events_of(tx, name):
    if name not in tx.events:
        return []
    return [dict(e) for e in tx.events[name]]


def balances(token, holders):
    return {str(h): token.balanceOf(h) for h in holders}


def supply_check(token, holders):
    """Sum of every holder's balance; equals totalSupply exactly when no token was created, burnt or sent to
    an address outside `holders`."""
    return sum(token.balanceOf(h) for h in holders), token.totalSupply()


def book_of(escrow, staking, provider):
    rec = escrow.providerRecord(provider).dict()
    bonded, unbonding, _release, jailed = staking.stakeOf(provider)
    return {**{k: int(v) for k, v in rec.items()}, "bonded": int(bonded), "unbonding": int(unbonding),
            "jailed": bool(jailed)}


def jobs_of(escrow):
    out = []
    for j in range(1, escrow.jobCount() + 1):
        v = escrow.getJob(j).dict()
        out.append((j, int(v["status"]), int(v["refundable"]), int(v["maxGpuSeconds"]), int(v["billedGpuSeconds"])))
    return out


# --------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def all_holders(accounts, worker, escrow, staking):
    """Every address the shared suite's token can reach: the node's accounts, the worker, both contracts."""
    return list(accounts[:10]) + [worker, escrow, staking]


@pytest.fixture(scope="module")
def world(token, escrow, staking, all_holders, provider, provider2):
    """Everything an attack could move in the shared suite, as one comparable value."""

    def _world():
        return {
            "balances": balances(token, all_holders),
            "fees": escrow.accruedFees(),
            "books": [book_of(escrow, staking, p) for p in (provider, provider2)],
            "jobs": jobs_of(escrow),
        }

    return _world


@pytest.fixture(scope="module")
def worker2(accounts, deployer):
    from tests.fixtures.accounts import WORKER2_KEY

    acct = accounts.add(WORKER2_KEY)
    if acct.balance() < 10**18:
        deployer.transfer(acct, "10 ether")
    return acct


@pytest.fixture(scope="module")
def dust_offer(staked_provider, staking):
    """The shared provider's second offer: 1 GPU at 1 base unit per GPU-second, the cheapest there can be."""
    return staking.addOffer("RTX 3060", 1, 12, 1, "ipfs://dust", {"from": staked_provider}).events["OfferAdded"][
        "offerId"]


@pytest.fixture(scope="module")
def job_at(escrow, token, client):
    """Open (and by default accept) a job on any offer of the shared suite; returns the id."""

    def _job(offer_id=1, max_gpu_seconds=3600, deadline_in=7 * DAY, sender=None, accept=True, acceptor=None):
        sender = sender or client
        if token.allowance(sender, escrow) < 2**255:
            token.approve(escrow, MAX_U256, {"from": sender})
        tx = escrow.createJob(offer_id, max_gpu_seconds, now() + deadline_in, SPEC_HASH, *limits(escrow, offer_id), {"from": sender})
        job_id = tx.events["JobCreated"]["jobId"]
        if accept:
            escrow.acceptJob(job_id, {"from": acceptor or escrow.getJob(job_id)["provider"]})
        return job_id

    return _job


def receipt_for(escrow, job_id, gpu_seconds=1000, outcome=COMPLETED, start=None, end=None, provider=None,
                advance=True):
    """A receipt for a running job that started at acceptance; the chain is moved past its end."""
    j = escrow.getJob(job_id).dict()
    start = j["acceptedAt"] if start is None else start
    if end is None:
        end = start + -(-gpu_seconds // max(j["gpuCount"], 1))
    if advance:
        warp(end + 1)
    return Receipt(job_id, str(provider or j["provider"]), gpu_seconds, start, end, RESULT_HASH, outcome)


@pytest.fixture(scope="module")
def second_suite(ProviderStaking, JobEscrow, token, deployer, guardian, arbiter, treasury, oracle, funded):
    """A second deployment of staking + escrow on the same token, with the same oracle set and parameters."""
    staking2 = ProviderStaking.deploy(token, deployer, MIN_STAKE, UNBONDING_PERIOD, {"from": deployer})
    escrow2 = JobEscrow.deploy(token, staking2, deployer, guardian, arbiter, treasury, [oracle], 1, ESCROW_PARAMS,
                               {"from": deployer})
    staking2.setEscrow(escrow2, {"from": deployer})
    return SimpleNamespace(staking=staking2, escrow=escrow2)


# ------------------------------------------------------- the hostile suite


def call_as(wallet, contract, fn, *args, sender=None):
    """`wallet` (a ContractWallet) calls `contract.fn(*args)`; returns the transaction."""
    from brownie import accounts

    data = getattr(contract, fn).encode_input(*args)
    return wallet.exec(contract, data, {"from": sender or accounts[0]})


def hook_as(wallet, contract, fn, *args):
    """(target, data) for ReentrantToken.arm: the hook makes `wallet` call `contract.fn(*args)`."""
    inner = getattr(contract, fn).encode_input(*args)
    return wallet, wallet.exec.encode_input(contract, inner)


def hook_direct(contract, fn, *args):
    """(target, data) for ReentrantToken.arm: the token itself calls `contract.fn(*args)` (open functions)."""
    return contract, getattr(contract, fn).encode_input(*args)


@pytest.fixture(scope="module")
def hostile(ReentrantToken, ContractWallet, ProviderStaking, JobEscrow, deployer, guardian, treasury, oracle,
            oracle_key, worker, worker_key, rando, accounts):
    """A whole suite on ReentrantToken. The client, the provider and the arbiter are ContractWallets, so the
    token's hook can re-enter with their authority. The provider's worker is the shared worker key (an EOA)."""
    tok = ReentrantToken.deploy(deployer, SUPPLY, {"from": deployer})
    cw_client = ContractWallet.deploy({"from": deployer})
    cw_provider = ContractWallet.deploy({"from": deployer})
    cw_arbiter = ContractWallet.deploy({"from": deployer})
    staking_ = ProviderStaking.deploy(tok, deployer, MIN_STAKE, UNBONDING_PERIOD, {"from": deployer})
    escrow_ = JobEscrow.deploy(tok, staking_, deployer, guardian, cw_arbiter, treasury, [oracle], 1, ESCROW_PARAMS,
                               {"from": deployer})
    staking_.setEscrow(escrow_, {"from": deployer})
    for who in (cw_client, cw_provider, rando):
        tok.transfer(who, CLIENT_FUNDS, {"from": deployer})
    call_as(cw_provider, tok, "approve", staking_, MAX_U256)
    call_as(cw_provider, staking_, "stake", PROVIDER_STAKE)
    call_as(cw_provider, staking_, "setWorker", worker)
    call_as(cw_provider, staking_, "addOffer", "NVIDIA H100 80GB HBM3", GPU_COUNT, 80, PRICE, "ipfs://h")
    call_as(cw_client, tok, "approve", escrow_, MAX_U256)
    h = SimpleNamespace(token=tok, staking=staking_, escrow=escrow_, client=cw_client, provider=cw_provider,
                        arbiter=cw_arbiter, worker=worker, worker_key=worker_key, oracle_key=oracle_key,
                        treasury=treasury, rando=rando, deployer=deployer)

    def job(max_gpu_seconds=3600, deadline_in=7 * DAY, accept=True):
        tx = call_as(cw_client, escrow_, "createJob", 1, max_gpu_seconds, now() + deadline_in, SPEC_HASH, *limits(escrow_, 1))
        job_id = tx.events["JobCreated"]["jobId"]
        if accept:
            escrow_.acceptJob(job_id, {"from": worker})
        return job_id

    def receipt(job_id, gpu_seconds=1000):
        return receipt_for(escrow_, job_id, gpu_seconds)

    def settle_args(receipts):
        return ([r.as_tuple() for r in receipts], [sign_r(r, worker_key, escrow_) for r in receipts],
                attest_r(receipts, [oracle_key], escrow_))

    def settle(r):
        return escrow_.settle(r.as_tuple(), sign_r(r, worker_key, escrow_), attest_r([r], [oracle_key], escrow_),
                              {"from": rando})

    def settled(gpu_seconds=1000):
        j = job()
        settle(receipt(j, gpu_seconds))
        return j

    def disputed():
        j = settled()
        call_as(cw_client, escrow_, "dispute", j, b"\x01" * 32)
        return j

    def holders():
        return [cw_client, cw_provider, cw_arbiter, escrow_, staking_, treasury, rando, deployer, worker, tok]

    def observe():
        """Every balance and book entry the hostile suite has (no timestamps: the honest and the attacked run
        are mined at different times)."""
        return {
            "balances": balances(tok, holders()),
            "fees": escrow_.accruedFees(),
            "book": book_of(escrow_, staking_, cw_provider),
            "jobs": jobs_of(escrow_),
        }

    h.job, h.receipt, h.settle_args, h.settle, h.settled, h.disputed = job, receipt, settle_args, settle, settled, disputed
    h.holders, h.observe = holders, observe
    return h


# ------------------------------------------------------------ the big suite


BIG_SUPPLY = MAX_U96  # the largest supply the contracts take (their fields are 96 bits; larger is refused)
BIG_MIN_STAKE = 10**18  # one token: the largest jobs leave the provider little of the supply to stake


@pytest.fixture(scope="module")
def big(ComputeToken, ProviderStaking, JobEscrow, deployer, guardian, arbiter, treasury, oracle, oracle_key,
        worker, worker_key, accounts):
    """A suite whose token has the largest supply the contracts accept (2^96 - 1 base units), so that jobs at the
    hard limits (price 2^64 - 1, 2^32 - 1 GPU-seconds: a deposit of 2^96 - 2^64 - 2^32 + 1) can be funded.
    accounts[8] provides, accounts[7] is the client; the deployer holds the supply until a test calls
    `fund(stake, client_funds)`, which splits it between the two as the test needs (it cannot give both the
    largest amounts: that is the bound)."""
    tok = ComputeToken.deploy("gpusettle Compute", "GPUC", deployer, BIG_SUPPLY, {"from": deployer})
    staking_ = ProviderStaking.deploy(tok, deployer, BIG_MIN_STAKE, UNBONDING_PERIOD, {"from": deployer})
    escrow_ = JobEscrow.deploy(tok, staking_, deployer, guardian, arbiter, treasury, [oracle], 1, ESCROW_PARAMS,
                               {"from": deployer})
    staking_.setEscrow(escrow_, {"from": deployer})
    prov, cli = accounts[8], accounts[7]
    tok.approve(staking_, MAX_U256, {"from": prov})
    staking_.setWorker(worker, {"from": prov})
    tok.approve(escrow_, MAX_U256, {"from": cli})

    def fund(stake=BIG_MIN_STAKE, client_funds=0):
        assert stake + client_funds <= tok.balanceOf(deployer), "more than the supply"
        tok.transfer(prov, stake, {"from": deployer})
        staking_.stake(stake, {"from": prov})
        if client_funds:
            tok.transfer(cli, client_funds, {"from": deployer})

    return SimpleNamespace(token=tok, staking=staking_, escrow=escrow_, provider=prov, client=cli, worker=worker,
                           worker_key=worker_key, oracle_key=oracle_key, deployer=deployer, treasury=treasury,
                           arbiter=arbiter, holders=list(accounts[:10]) + [worker, escrow_, staking_], fund=fund)


__all__ = [name for name in dir() if not name.startswith("_")]


# The lease attacks' fixtures (tests/security/lease_support.py), for every module here.
from .lease_support import hostile_lease, lholders, lworld  # noqa: F401
