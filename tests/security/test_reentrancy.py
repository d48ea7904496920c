"""Attack: re-enter the escrow or the staking contract from a token callback, on every path that moves tokens.

The suite is deployed on ReentrantToken (contracts/test/), whose transfer hook calls back in the middle of a
transfer, after balances moved (as an ERC-777 / ERC-1363 receiver hook would). The client, the provider and the
arbiter are ContractWallets, so the re-entrant call carries their authority: a provider withdrawing its
earnings twice, a client cancelling a job while its deposit is being pulled, an arbiter ruling twice, and so on.

What stops it (SECURITY.md, "Reentrancy"): every function that moves tokens is nonReentrant and follows check,
effect, interaction. Each case runs the same outer call twice from the same state: honestly, and with the hook
armed. The re-entrant call must fail with ReentrancyGuardReentrantCall, and every balance, book entry and job
must end exactly as in the honest run (no extra money moved).
"""

import brownie
import pytest
from eth_account import Account
from hexbytes import HexBytes

from tests.fixtures.contracts import DISPUTE_WINDOW, PRICE, TIMEOUT_GRACE, UNBONDING_PERIOD
from tests.fixtures.jobs import SPEC_HASH
from tests.helpers.limits import limits

from .conftest import (
    DAY,
    GUARD_SELECTOR,
    HOUR,
    MAX_U256,
    PERMIT_CLIENT_KEY,
    PERMIT_PROVIDER_KEY,
    call_as,
    err,
    events_of,
    fork,
    hook_as,
    hook_direct,
    now,
    warp,
)

E18 = 10**18


def permit(token, key, spender, value):
    """(deadline, v, r, s) of an EIP-2612 permit on `token` by `key`."""
    owner = Account.from_key(key).address
    deadline = now() + DAY
    data = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Permit": [
                {"name": "owner", "type": "address"},
                {"name": "spender", "type": "address"},
                {"name": "value", "type": "uint256"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ],
        },
        "primaryType": "Permit",
        "domain": {"name": token.name(), "version": "1", "chainId": brownie.chain.id,
                   "verifyingContract": token.address},
        "message": {"owner": owner, "spender": str(spender), "value": value, "nonce": token.nonces(owner),
                    "deadline": deadline},
    }
    s = Account.sign_typed_data(key, full_message=data)
    return deadline, s.v, s.r.to_bytes(32, "big"), s.s.to_bytes(32, "big")


@pytest.fixture(scope="module")
def eoa(accounts, deployer, hostile):
    """An EOA whose key we hold, with ether and hostile tokens (for the permit paths)."""

    def _eoa(key):
        acct = accounts.add(key)
        deployer.transfer(acct, "10 ether")
        hostile.token.transfer(acct, 1_000_000 * E18, {"from": deployer})
        return acct

    return _eoa


@pytest.fixture(scope="module")
def stub_suite(hostile, StakingEscrowStub, ProviderStaking, deployer):
    """A ProviderStaking on the hostile token whose escrow is a StakingEscrowStub, so that `slash` itself can be
    called, and re-entered, with the escrow's authority. The provider wallet stakes 1,000 tokens there."""
    stub = StakingEscrowStub.deploy(DISPUTE_WINDOW, {"from": deployer})
    st = ProviderStaking.deploy(hostile.token, deployer, 0, UNBONDING_PERIOD, {"from": deployer})
    st.setEscrow(stub, {"from": deployer})
    call_as(hostile.provider, hostile.token, "approve", st, MAX_U256)
    call_as(hostile.provider, st, "stake", 1_000 * E18)
    return stub, st


def timed_out_jobs(h, n):
    ids = [h.job(deadline_in=2 * HOUR) for _ in range(n)]
    warp(h.escrow.getJob(ids[-1])["deadline"] + TIMEOUT_GRACE)
    return ids


# Each case sets up its state and returns (outer call, hook target, hook calldata, transfers to skip).
# Names read "outer path [leg] -> re-entered function [as whom]".


def case_create_job(h, **_):
    next_id = h.escrow.jobCount() + 1
    deadline = now() + 7 * DAY
    return (lambda: call_as(h.client, h.escrow, "createJob", 1, 3600, deadline, SPEC_HASH, *limits(h.escrow, 1)),
            *hook_as(h.client, h.escrow, "cancelJob", next_id), 0)


def case_create_job_with_permit(h, eoa, **_):
    h.settled()  # fees accrue, so withdrawFees has something to take
    client = eoa(PERMIT_CLIENT_KEY)
    deadline = now() + 7 * DAY
    p = permit(h.token, PERMIT_CLIENT_KEY, h.escrow, 3600 * PRICE)
    return (lambda: h.escrow.createJobWithPermit(1, 3600, deadline, SPEC_HASH, *limits(h.escrow, 1), *p, {"from": client}),
            *hook_direct(h.escrow, "withdrawFees"), 0)


def case_cancel_job(h, **_):
    done = h.settled()
    waiting = h.job(accept=False)
    return (lambda: call_as(h.client, h.escrow, "cancelJob", waiting),
            *hook_direct(h.escrow, "claimRefunds", [done]), 0)


def case_claim_timeout_slash_leg(h, **_):
    a, b = timed_out_jobs(h, 2)
    return lambda: h.escrow.claimTimeout(a, {"from": h.rando}), *hook_direct(h.escrow, "claimTimeout", b), 0


def case_claim_timeout_slash_leg_to_staking(h, **_):
    call_as(h.provider, h.staking, "requestUnstake", 1_000 * E18)
    job_id = h.job(deadline_in=8 * DAY)
    warp(now() + 8 * DAY + TIMEOUT_GRACE)
    return (lambda: h.escrow.claimTimeout(job_id, {"from": h.rando}),
            *hook_as(h.provider, h.staking, "withdraw"), 0)


def case_claim_timeout_refund_leg(h, **_):
    a, b = timed_out_jobs(h, 2)
    return lambda: h.escrow.claimTimeout(a, {"from": h.rando}), *hook_direct(h.escrow, "claimTimeout", b), 1


def case_claim_refunds(h, **_):
    done = h.settled()
    return (lambda: h.escrow.claimRefunds([done], {"from": h.rando}),
            *hook_direct(h.escrow, "claimRefunds", [done]), 0)


def case_claim_refunds_to_settle(h, **_):
    done = h.settled()
    r = h.receipt(h.job())
    receipts, sigs, att = h.settle_args([r])
    return (lambda: h.escrow.claimRefunds([done], {"from": h.rando}),
            *hook_direct(h.escrow, "settle", receipts[0], sigs[0], att), 0)


def case_dispute(h, **_):
    a, b = h.settled(), h.settled()
    return (lambda: call_as(h.client, h.escrow, "dispute", a, b"\x01" * 32),
            *hook_as(h.client, h.escrow, "dispute", b, b"\x02" * 32), 0)


def case_resolve_upheld_slash_leg(h, **_):
    d = h.disputed()
    return (lambda: call_as(h.arbiter, h.escrow, "resolveDispute", d, True),
            *hook_as(h.provider, h.staking, "requestUnstake", E18), 0)


def case_resolve_upheld_payout_leg(h, **_):
    a, b = h.disputed(), h.disputed()
    return (lambda: call_as(h.arbiter, h.escrow, "resolveDispute", a, True),
            *hook_as(h.arbiter, h.escrow, "resolveDispute", b, True), 1)


def case_resolve_rejected(h, **_):
    d = h.disputed()
    return (lambda: call_as(h.arbiter, h.escrow, "resolveDispute", d, False),
            *hook_as(h.provider, h.escrow, "withdrawEarnings"), 0)


def case_report_fraud_slash_leg(h, **_):
    a, b = h.job(), h.job()
    return (lambda: call_as(h.arbiter, h.escrow, "reportFraud", a, b"\xee" * 32),
            *hook_as(h.arbiter, h.escrow, "reportFraud", b, b"\xee" * 32), 0)


def case_report_fraud_refund_leg(h, **_):
    a, waiting = h.job(), h.job(accept=False)
    return (lambda: call_as(h.arbiter, h.escrow, "reportFraud", a, b"\xee" * 32),
            *hook_as(h.client, h.escrow, "cancelJob", waiting), 1)


def case_withdraw_earnings(h, **_):
    h.settled()
    return (lambda: call_as(h.provider, h.escrow, "withdrawEarnings"),
            *hook_as(h.provider, h.escrow, "withdrawEarnings"), 0)


def case_withdraw_earnings_to_settle_batch(h, **_):
    h.settled()
    rs = [h.receipt(h.job()), h.receipt(h.job())]
    return (lambda: call_as(h.provider, h.escrow, "withdrawEarnings"),
            *hook_direct(h.escrow, "settleBatch", *h.settle_args(rs)), 0)


def case_withdraw_fees(h, **_):
    h.settled()
    return lambda: h.escrow.withdrawFees({"from": h.rando}), *hook_direct(h.escrow, "withdrawFees"), 0


def case_stake(h, **_):
    return (lambda: call_as(h.provider, h.staking, "stake", E18),
            *hook_as(h.provider, h.staking, "stake", E18), 0)


def case_stake_to_request_unstake(h, **_):
    return (lambda: call_as(h.provider, h.staking, "stake", E18),
            *hook_as(h.provider, h.staking, "requestUnstake", 2 * E18), 0)


def case_stake_with_permit(h, eoa, **_):
    staker = eoa(PERMIT_PROVIDER_KEY)
    p = permit(h.token, PERMIT_PROVIDER_KEY, h.staking, 500 * E18)
    return (lambda: h.staking.stakeWithPermit(500 * E18, *p, {"from": staker}),
            *hook_as(h.provider, h.staking, "requestUnstake", E18), 0)


def case_withdraw(h, **_):
    call_as(h.provider, h.staking, "requestUnstake", 1_000 * E18)
    warp(now() + UNBONDING_PERIOD)
    return lambda: call_as(h.provider, h.staking, "withdraw"), *hook_as(h.provider, h.staking, "withdraw"), 0


def case_slash(h, stub_suite, **_):
    stub, st = stub_suite
    return (lambda: call_as(stub, st, "slash", h.provider, 100 * E18, h.rando, 0),
            *hook_as(stub, st, "slash", h.provider, 100 * E18, h.rando, 0), 0)


CASES = {
    "createJob -> cancelJob [client]": case_create_job,
    "createJobWithPermit -> withdrawFees [anyone]": case_create_job_with_permit,
    "cancelJob -> claimRefunds [anyone]": case_cancel_job,
    "claimTimeout [slash] -> claimTimeout [anyone]": case_claim_timeout_slash_leg,
    "claimTimeout [slash] -> staking.withdraw [provider]": case_claim_timeout_slash_leg_to_staking,
    "claimTimeout [refund] -> claimTimeout [anyone]": case_claim_timeout_refund_leg,
    "claimRefunds -> claimRefunds [anyone]": case_claim_refunds,
    "claimRefunds -> settle [anyone]": case_claim_refunds_to_settle,
    "dispute [bond] -> dispute [client]": case_dispute,
    "resolveDispute upheld [slash] -> staking.requestUnstake [provider]": case_resolve_upheld_slash_leg,
    "resolveDispute upheld [payout] -> resolveDispute [arbiter]": case_resolve_upheld_payout_leg,
    "resolveDispute rejected [bond] -> withdrawEarnings [provider]": case_resolve_rejected,
    "reportFraud [slash] -> reportFraud [arbiter]": case_report_fraud_slash_leg,
    "reportFraud [refund] -> cancelJob [client]": case_report_fraud_refund_leg,
    "withdrawEarnings -> withdrawEarnings [provider]": case_withdraw_earnings,
    "withdrawEarnings -> settleBatch [anyone]": case_withdraw_earnings_to_settle_batch,
    "withdrawFees -> withdrawFees [anyone]": case_withdraw_fees,
    "staking.stake -> staking.stake [provider]": case_stake,
    "staking.stake -> staking.requestUnstake [provider]": case_stake_to_request_unstake,
    "staking.stakeWithPermit -> staking.requestUnstake [provider]": case_stake_with_permit,
    "staking.withdraw -> staking.withdraw [provider]": case_withdraw,
    "staking.slash -> staking.slash [escrow]": case_slash,
}


def hook_results(tx):
    return [(bool(e["ok"]), HexBytes(e["returnData"])) for e in events_of(tx, "HookCalled")]


@pytest.mark.parametrize("case", list(CASES))
def test_reentrant_call_fails_and_moves_nothing_extra(hostile, eoa, stub_suite, deployer, case):
    h = hostile
    action, target, data, skip = CASES[case](h, eoa=eoa, stub_suite=stub_suite)

    def observe():
        stub, st = stub_suite
        return {**h.observe(), "stub": [h.token.balanceOf(a) for a in (stub, st)],
                "stub_stake": [int(v) for v in st.stakeOf(h.provider)[:2]]}

    with fork():
        honest_tx = action()
        assert honest_tx.status == 1
        assert hook_results(honest_tx) == []
        honest = observe()

    h.token.arm(target, data, skip, {"from": deployer})
    tx = action()
    assert tx.status == 1
    assert hook_results(tx) == [(False, HexBytes(GUARD_SELECTOR))], "the re-entrant call must hit the guard"
    assert h.token.hookCalls() == 1
    assert observe() == honest


def test_cross_contract_reentry_sees_committed_books(hostile, deployer):
    """During the timeout's refund to the client (escrow locked, staking not), the provider re-enters the staking
    contract to unstake its stake as it stood before the timeout. The escrow has already unlocked the collateral and
    the slash is done, so only the truly free stake may start unbonding: the call fails with the exact free amount."""
    h = hostile
    job_id = h.job(deadline_in=2 * HOUR)
    j = h.escrow.getJob(job_id).dict()
    warp(j["deadline"] + TIMEOUT_GRACE)
    bonded_before = int(h.staking.stakeOf(h.provider)[0])
    slash = j["collateral"] // 2
    asked = bonded_before  # everything, as if the collateral were still there and nothing slashed
    h.token.arm(*hook_as(h.provider, h.staking, "requestUnstake", asked), 1, {"from": deployer})
    tx = h.escrow.claimTimeout(job_id, {"from": h.rando})
    expected = err("ProviderStakingInsufficientFreeStake(address,uint256,uint256)", h.provider,
                   bonded_before - slash, asked)
    (ok, data), = hook_results(tx)
    assert not ok
    from brownie.exceptions import decode_typed_error

    assert decode_typed_error("0x" + bytes(data).hex()) == expected
    assert int(h.staking.stakeOf(h.provider)[0]) == bonded_before - slash
