"""Fixtures and helpers for the JobEscrow unit tests.

Custom errors: brownie 1.22 decodes revert data with `brownie.exceptions.decode_typed_error`, which looks the
4-byte selector up in the errors of every compiled ABI and renders `"<Name>: <arg>, <arg>, ..."` (addresses in
lower case, bytes32 as a Python bytes literal, enums as their integer). `err()` ABI-encodes the expected error
exactly as the EVM returns it and feeds it through that same decoder, so `brownie.reverts(err(...))` compares the
selector and every argument value.

Time: every value that depends on `block.timestamp` is pinned with `at(ts)` (anvil's evm_setNextBlockTimestamp),
so errors that carry `nowTs` can be asserted exactly.
"""

import pytest
from eth_account import Account
from eth_keys import keys
from eth_utils import to_checksum_address

from tests.fixtures.accounts import WORKER2_KEY
from tests.fixtures.jobs import RESULT_HASH, SPEC_HASH
from tests.helpers.clock import at, now, warp  # noqa: F401 -- re-exported to the tests
from tests.helpers.limits import limits
from tests.helpers.revert import typed_error as err  # noqa: F401 -- re-exported to the tests
from tests.helpers.revert import unauthorized, wrong_status
from tests.helpers.signing import (  # noqa: F401
    COMPLETED,
    SECP256K1_N,
    Receipt,
    malleable_pair,
    sign_attestation,
    sign_receipt,
)

DAY = 24 * 3600
HOUR = 3600
MAX_U32 = 2**32 - 1
ZERO = "0x0000000000000000000000000000000000000000"
BPS = 10_000

# JobStatus
NONE, OPEN, RUNNING, SETTLED, CANCELLED, TIMED_OUT, DISPUTED, UPHELD, REJECTED, FRAUD = range(10)

PRICE2 = 3 * 10**14  # provider2's offer
GPU_COUNT2 = 2
ODD_PRICE = 7  # wei per GPU-second: makes the fee and collateral round
ODD_GPUS = 1


# ----------------------------------------------------------------- errors


def unknown_job(job_id):
    return err("JobEscrowUnknownJob(uint256)", job_id)


def param_range(param, value, lo, hi):
    return err("JobEscrowParameterOutOfRange(uint8,uint256,uint256,uint256)", param, value, lo, hi)


def paused():
    return err("EnforcedPause()")


def not_paused():
    return err("ExpectedPause()")


# ------------------------------------------------------------------- time


# ----------------------------------------------------------------- events


def norm(value):
    if isinstance(value, bytes):
        return "0x" + bytes(value).hex()
    if isinstance(value, (list, tuple)):
        return [norm(v) for v in value]
    if isinstance(value, str) and value.startswith("0x"):
        return value.lower()
    if hasattr(value, "address"):
        return str(value.address).lower()
    return value


def events(tx, name):
    """Every `name` event in `tx`, its values normalised (addresses and bytes as lower-case hex)."""
    if name not in tx.events:
        return []
    return [{k: norm(v) for k, v in ev.items()} for ev in tx.events[name]]


def expect_event(tx, name, **values):
    """`tx` emitted exactly one `name` event, with exactly these values."""
    found = events(tx, name)
    assert len(found) == 1, f"expected one {name}, got {found}"
    assert found[0] == {k: norm(v) for k, v in values.items()}
    return found[0]


def no_event(tx, name):
    assert name not in tx.events, f"unexpected {name}: {tx.events[name]}"


# ------------------------------------------------------------- signatures


def split(sig):
    """EIP-2098 (r, vs) -> (v, r, s)."""
    r, vs = sig
    vs_int = int.from_bytes(vs, "big")
    return 27 + (vs_int >> 255), int.from_bytes(r, "big"), vs_int & ((1 << 255) - 1)


def recover(digest, sig):
    """The address a compact signature recovers to over `digest` (as ecrecover would)."""
    v, r, s = split(sig)
    return Account._recover_hash(bytes(digest), vrs=(v, r, s))


def addr_of(key):
    return Account.from_key(key).address


def sorted_keys(keys):
    return sorted(keys, key=lambda k: int(addr_of(k), 16))


# --------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def books_balance(isolation, escrow, token, staking, provider, provider2, rando):
    """After every test (before the chain is rolled back): the escrow holds exactly what it owes, namely every
    open or running job's deposit, every settled job's unclaimed refund, every posted dispute bond, every credited
    earning, the pay withheld for dispute windows, the accrued fees and the timeout slashes held for rulings; and the staking contract holds exactly the bonded plus unbonding stake."""
    yield
    owed = escrow.accruedFees()
    for p in (provider, provider2, rando):
        owed += escrow.providerRecord(p)["earnings"]
        owed += sum(escrow.heldSlashes(p))  # timeout slashes held for pending rulings
    for job_id in range(1, escrow.jobCount() + 1):
        v = escrow.getJob(job_id).dict()
        if v["status"] in (OPEN, RUNNING):
            owed += v["deposit"]
        elif v["status"] in (SETTLED, DISPUTED, UPHELD, REJECTED):
            owed += v["refundable"]
        if v["status"] == DISPUTED:
            owed += v["disputeBond"]
        owed += escrow.withheldPay(job_id)  # pay withheld until the job's dispute window closes
    assert token.balanceOf(escrow) == owed, "escrow balance != what it owes"
    staked = sum(sum(tuple(staking.stakeOf(p))[:2]) for p in (provider, provider2, rando))
    assert token.balanceOf(staking) == staked, "staking balance != bonded + unbonding"


@pytest.fixture(scope="module")
def worker2_key():
    return WORKER2_KEY


@pytest.fixture(scope="module")
def worker2(accounts, deployer):
    acct = accounts.add(WORKER2_KEY)
    deployer.transfer(acct, "10 ether")
    return acct


@pytest.fixture(scope="module")
def offer2(funded, token, staking, escrow, provider2, worker2):
    """provider2, staked like the first provider, with its own worker key and a 2-GPU offer; its id."""
    from tests.fixtures.contracts import PROVIDER_STAKE

    token.approve(staking, PROVIDER_STAKE, {"from": provider2})
    staking.stake(PROVIDER_STAKE, {"from": provider2})
    staking.setWorker(worker2, {"from": provider2})
    tx = staking.addOffer("NVIDIA A100 40GB", GPU_COUNT2, 40, PRICE2, "ipfs://offer2", {"from": provider2})
    return tx.events["OfferAdded"]["offerId"]


@pytest.fixture(scope="module")
def odd_offer(staked_provider, staking):
    """A second offer of the first provider at 7 wei per GPU-second on 1 GPU, so fees and collateral round."""
    tx = staking.addOffer("RTX 4090", ODD_GPUS, 24, ODD_PRICE, "ipfs://odd", {"from": staked_provider})
    return tx.events["OfferAdded"]["offerId"]


@pytest.fixture(scope="module")
def job(escrow, token, staked_provider, client):
    """Open a job (accepted by default) with block-time deadlines; returns its id.

    `deadline_in` is relative to the latest block; `accept_at` pins the acceptance block.
    """

    def _job(max_gpu_seconds=3600, offer_id=1, sender=None, deadline_in=7 * DAY, accept=True, acceptor=None,
             accept_at=None, spec=SPEC_HASH):
        sender = sender or client
        if token.allowance(sender, escrow) < 2**255:
            token.approve(escrow, 2**256 - 1, {"from": sender})
        tx = escrow.createJob(offer_id, max_gpu_seconds, now() + deadline_in, spec, *limits(escrow, offer_id), {"from": sender})
        job_id = tx.events["JobCreated"]["jobId"]
        if accept:
            terms_provider = escrow.getJob(job_id)["provider"]
            who = acceptor or terms_provider
            if accept_at is None:
                escrow.acceptJob(job_id, {"from": who})
            else:
                with at(accept_at):
                    escrow.acceptJob(job_id, {"from": who})
        return job_id

    return _job


@pytest.fixture(scope="module")
def receipt(escrow):
    """A receipt for a running job. Default: it started at acceptance and ran gpu_seconds / gpuCount
    seconds (rounded up); the chain is moved past its end so the end is not in the future."""

    def _receipt(job_id, gpu_seconds=1000, outcome=COMPLETED, start=None, end=None, provider=None,
                 result=RESULT_HASH, advance=True):
        j = escrow.getJob(job_id).dict()
        start = j["acceptedAt"] if start is None else start
        if end is None:
            end = start + -(-gpu_seconds // max(j["gpuCount"], 1))
        if advance:
            warp(end + 1)
        return Receipt(job_id, str(provider or j["provider"]), gpu_seconds, start, end, result, outcome)

    return _receipt


@pytest.fixture(scope="module")
def settle_args(sign, attest):
    """(receipt tuple, worker signature, attestation) for one honestly signed receipt."""

    def _args(r, key=None, oracle_keys_=None):
        return r.as_tuple(), sign(r, key=key), attest([r], keys=oracle_keys_)

    return _args


@pytest.fixture(scope="module")
def batch_args(sign, attest, worker_key, worker2_key, staked_provider):
    """(receipts, worker signatures, attestation) for a batch; each receipt is signed by its provider's worker."""

    def _args(receipts, oracle_keys_=None):
        sigs = [sign(r, key=worker_key if r.provider.lower() == str(staked_provider).lower() else worker2_key)
                for r in receipts]
        return [r.as_tuple() for r in receipts], sigs, attest(receipts, keys=oracle_keys_)

    return _args


@pytest.fixture(scope="module")
def settled_job(job, receipt, settle):
    """A job of 3600 max GPU-seconds settled for `billed` GPU-seconds; returns (job id, settle tx)."""

    def _settled(billed=1000, max_gpu_seconds=3600, outcome=COMPLETED, **kw):
        job_id = job(max_gpu_seconds=max_gpu_seconds, **kw)
        tx = settle(receipt(job_id, gpu_seconds=billed, outcome=outcome))
        return job_id, tx

    return _settled


@pytest.fixture(scope="module")
def set_oracles(escrow, deployer):
    """Replace the oracle set with the addresses of `keys` at `threshold`; returns the new epoch."""

    def _set(keys, threshold):
        tx = escrow.setOracleSet([addr_of(k) for k in keys], threshold, {"from": deployer})
        return tx.events["OracleSetUpdated"]["epoch"]

    return _set


@pytest.fixture(scope="module")
def snap(escrow, token, staking, client, client2, provider, provider2, rando, treasury, worker, arbiter,
         guardian, deployer):
    """Everything a failed call must leave untouched: token balances of every party and both contracts,
    the escrow's books, both providers' stakes and records, the given jobs, parameters, roles, pause flag."""
    holders = [client, client2, provider, provider2, rando, treasury, worker, arbiter, guardian, deployer,
               escrow, staking]

    def _snap(*job_ids):
        return {
            "balances": [token.balanceOf(a) for a in holders],
            "fees": escrow.accruedFees(),
            "jobCount": escrow.jobCount(),
            "jobs": [norm(tuple(escrow.getJob(j))) for j in job_ids],
            "records": [norm(tuple(escrow.providerRecord(p))) for p in (provider, provider2)],
            "blockers": [tuple(escrow.unstakeBlockers(p)) for p in (provider, provider2)],
            "stakes": [tuple(staking.stakeOf(p)) for p in (provider, provider2)],
            "params": tuple(escrow.parameters()),
            "oracles": norm(tuple(escrow.oracleSet())),
            "roles": norm(tuple(escrow.roles())),
            "paused": escrow.paused(),
            "governance": (escrow.governance(), escrow.pendingGovernance()),
            "allowances": [token.allowance(c, escrow) for c in (client, client2, rando)],
        }

    return _snap


__all__ = [
    "err", "unauthorized", "wrong_status", "unknown_job", "param_range", "paused", "not_paused",
    "now", "at", "warp", "norm", "events", "expect_event", "no_event", "split", "recover", "addr_of",
    "malleable_pair",
    "sorted_keys", "DAY", "HOUR", "MAX_U32", "ZERO", "BPS", "NONE", "OPEN", "RUNNING", "SETTLED",
    "CANCELLED", "TIMED_OUT", "DISPUTED", "UPHELD", "REJECTED", "FRAUD", "PRICE2", "GPU_COUNT2", "ODD_PRICE",
    "ODD_GPUS", "sign_attestation", "sign_receipt", "to_checksum_address",
]


def dispute_reserve(escrow, job_id, outcome=0):
    """A settled job's dispute reserve when free stake covered raising it (always, with these fixtures' stakes): what
    the job paid, or its collateral when that is more. None left for a FailedProvider receipt (`outcome` 2): it paid
    nothing and its collateral was released at settlement (issue 8, lower finding 7; its JobSettled still names the
    collateral as the reserve, and CollateralReleased follows)."""
    if outcome == 2:
        return 0
    j = escrow.getJob(job_id).dict()
    return max(j["collateral"], j["billedGpuSeconds"] * j["pricePerGpuSecond"])
