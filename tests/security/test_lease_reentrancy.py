"""Attack: re-enter the lease escrow (or the staking contract) from a token callback on every lease path that moves
tokens.

The suite runs on ReentrantToken, whose transfer hook calls back in the middle of a transfer after the balances
moved (as an ERC-777 / ERC-1363 receiver hook would); the client, the provider and the arbiter are ContractWallets,
so the re-entrant call carries their authority. Each case runs the same outer call twice from the same state, at the
same block time: honestly, and with the hook armed. The re-entrant call must fail with ReentrancyGuardReentrantCall,
and every balance, book, stake and lease must end exactly as in the honest run.

A checkpoint's uptime penalty is slashed from the staking contract to the client in the middle of the batch: the
client's hook may call closeLease or the provider's reclaimLease then. Those move no tokens, but a call that slips in
there would be overwritten by the batch's own write of the lease a moment later (an event saying the lease closed,
a lease that did not), so they are guarded too.
"""

import pytest
from hexbytes import HexBytes

from tests.fixtures.leases import LEASE_GRACE

from .conftest import GUARD_SELECTOR, HOUR, at, call_as, events_of, fork, hook_as, hook_direct, now, warp

E18 = 10**18


def _low_uptime(x, lease_id):
    """A checkpoint of `lease_id` with 50% uptime: below the 90% guarantee, so the batch slashes a penalty."""
    return x.cp(lease_id, seconds=600, down=300)


def _expired(x, n):
    ids = [x.lease(end_time=now() + 2 * HOUR) for _ in range(n)]
    warp(now() + 2 * HOUR + LEASE_GRACE + 1)
    return ids


def _disputed(x):
    lease_id = x.lease()
    x.submit([x.cp(lease_id)])
    call_as(x.h.client, x.le, "disputeCheckpoint", lease_id, b"\x01" * 32)
    return lease_id


# Each case sets up its state and returns (outer call, hook target, hook calldata, transfers to skip).


def case_open(x):
    h = x.h
    price = h.staking.offer(1)["pricePerGpuSecond"]
    return (
        lambda: call_as(h.client, x.le, "openLease", 1, 1, 2**64 - 1, 2, 0, b"\x1e" * 32, price * 3600, 0),
        *hook_as(h.client, x.le, "cancelLease", x.le.leaseCount() + 1),
        0,
    )


def case_cancel(x):
    done = x.ended(down=60)
    waiting = x.lease(accept=False)
    return (
        lambda: call_as(x.h.client, x.le, "cancelLease", waiting),
        *hook_direct(x.le, "claimRefund", done),
        0,
    )


def case_decline(x):
    a, b = x.lease(accept=False), x.lease(accept=False)
    return (
        lambda: x.le.declineLease(a, {"from": x.h.worker}),
        *hook_as(x.h.client, x.le, "cancelLease", b),
        0,
    )


def case_top_up(x):
    lease_id = x.lease()
    return (
        lambda: call_as(x.h.client, x.le, "topUp", lease_id, E18),
        *hook_as(x.h.client, x.le, "topUp", lease_id, E18),
        0,
    )


def case_claim_refund(x):
    done = x.ended(down=60)
    return lambda: x.le.claimRefund(done, {"from": x.h.rando}), *hook_direct(x.le, "claimRefund", done), 0


def case_withdraw_earnings(x):
    x.ended()
    return (
        lambda: call_as(x.h.provider, x.le, "withdrawEarnings"),
        *hook_as(x.h.provider, x.le, "withdrawEarnings"),
        0,
    )


def case_expiry_slash_leg(x):
    a, b = _expired(x, 2)
    return lambda: x.le.claimLeaseExpiry(a, {"from": x.h.rando}), *hook_direct(x.le, "claimLeaseExpiry", b), 0


def case_expiry_slash_leg_to_staking(x):
    call_as(x.h.provider, x.h.staking, "requestUnstake", 1_000 * E18)
    (a,) = _expired(x, 1)
    return (
        lambda: x.le.claimLeaseExpiry(a, {"from": x.h.rando}),
        *hook_as(x.h.provider, x.h.staking, "requestUnstake", E18),
        0,
    )


def case_expiry_refund_leg(x):
    a, b = _expired(x, 2)
    return lambda: x.le.claimLeaseExpiry(a, {"from": x.h.rando}), *hook_direct(x.le, "claimLeaseExpiry", b), 1


def case_checkpoint_penalty_to_batch(x):
    a, b = x.lease(), x.lease()
    first = [_low_uptime(x, a)]
    second = [x.cp(b, to=first[0].toTime)]
    return (lambda: x.submit(first), *hook_direct(x.le, "submitCheckpoints", *x.cp_args(second)), 0)


def case_checkpoint_penalty_to_close(x):
    a = x.lease()
    cps = [_low_uptime(x, a)]
    return lambda: x.submit(cps), *hook_as(x.h.client, x.le, "closeLease", a), 0


def case_checkpoint_penalty_to_reclaim(x):
    a = x.lease()
    cps = [_low_uptime(x, a)]
    return lambda: x.submit(cps), *hook_as(x.h.provider, x.le, "reclaimLease", a), 0


def case_checkpoint_penalty_to_top_up(x):
    a = x.lease()
    cps = [_low_uptime(x, a)]
    return lambda: x.submit(cps), *hook_as(x.h.client, x.le, "topUp", a, E18), 0


def case_dispute_bond(x):
    a, b = x.lease(), x.lease()
    x.submit([x.cp(a), x.cp(b, to=x.le.getLease(a)["paidThrough"] + 600)])
    return (
        lambda: call_as(x.h.client, x.le, "disputeCheckpoint", a, b"\x01" * 32),
        *hook_as(x.h.client, x.le, "disputeCheckpoint", b, b"\x02" * 32),
        0,
    )


def case_resolve_upheld_payout_leg(x):
    a, b = _disputed(x), _disputed(x)
    return (
        lambda: call_as(x.h.arbiter, x.le, "resolveCheckpointDispute", a, True),
        *hook_as(x.h.arbiter, x.le, "resolveCheckpointDispute", b, True),
        1,
    )


def case_resolve_upheld_slash_leg(x):
    a = _disputed(x)
    return (
        lambda: call_as(x.h.arbiter, x.le, "resolveCheckpointDispute", a, True),
        *hook_as(x.h.provider, x.h.staking, "requestUnstake", E18),
        0,
    )


def case_resolve_rejected(x):
    x.ended()
    a = _disputed(x)
    return (
        lambda: call_as(x.h.arbiter, x.le, "resolveCheckpointDispute", a, False),
        *hook_as(x.h.provider, x.le, "withdrawEarnings"),
        0,
    )


def case_withdraw_fees(x):
    x.ended()
    return lambda: x.le.withdrawFees({"from": x.h.rando}), *hook_direct(x.le, "withdrawFees"), 0


CASES = {
    "openLease -> cancelLease [client]": case_open,
    "cancelLease -> claimRefund [anyone]": case_cancel,
    "declineLease -> cancelLease [client]": case_decline,
    "topUp -> topUp [client]": case_top_up,
    "claimRefund -> claimRefund [anyone]": case_claim_refund,
    "withdrawEarnings -> withdrawEarnings [provider]": case_withdraw_earnings,
    "claimLeaseExpiry [slash] -> claimLeaseExpiry [anyone]": case_expiry_slash_leg,
    "claimLeaseExpiry [slash] -> staking.requestUnstake [provider]": case_expiry_slash_leg_to_staking,
    "claimLeaseExpiry [refund] -> claimLeaseExpiry [anyone]": case_expiry_refund_leg,
    "submitCheckpoints [penalty] -> submitCheckpoints [anyone]": case_checkpoint_penalty_to_batch,
    "submitCheckpoints [penalty] -> closeLease [client]": case_checkpoint_penalty_to_close,
    "submitCheckpoints [penalty] -> reclaimLease [provider]": case_checkpoint_penalty_to_reclaim,
    "submitCheckpoints [penalty] -> topUp [client]": case_checkpoint_penalty_to_top_up,
    "disputeCheckpoint [bond] -> disputeCheckpoint [client]": case_dispute_bond,
    "resolveCheckpointDispute upheld [payout] -> resolveCheckpointDispute [arbiter]": case_resolve_upheld_payout_leg,
    "resolveCheckpointDispute upheld [slash] -> staking.requestUnstake [provider]": case_resolve_upheld_slash_leg,
    "resolveCheckpointDispute rejected [bond] -> withdrawEarnings [provider]": case_resolve_rejected,
    "withdrawFees -> withdrawFees [anyone]": case_withdraw_fees,
}


def hook_results(tx):
    return [(bool(e["ok"]), HexBytes(e["returnData"])) for e in events_of(tx, "HookCalled")]


@pytest.mark.parametrize("case", list(CASES))
def test_reentrant_lease_call_fails_and_moves_nothing_extra(hostile_lease, deployer, case):
    x = hostile_lease
    action, target, data, skip = CASES[case](x)
    ts = now() + 5

    with fork():
        with at(ts):
            honest_tx = action()
        assert honest_tx.status == 1
        assert hook_results(honest_tx) == []
        honest = x.observe()

    x.h.token.arm(target, data, skip, {"from": deployer})
    with at(ts):
        tx = action()
    assert tx.status == 1
    assert hook_results(tx) == [(False, HexBytes(GUARD_SELECTOR))], "the re-entrant call must hit the guard"
    assert x.h.token.hookCalls() == 1
    assert x.observe() == honest


def test_a_close_inside_a_checkpoint_batch_is_not_lost(hostile_lease, deployer):
    """What an unguarded closeLease inside the batch's penalty transfer would do: LeaseClosed is emitted, then the
    batch writes back the lease as it read it, so billing goes on. The close must either fail or hold."""
    x = hostile_lease
    a = x.lease()
    cps = [_low_uptime(x, a)]
    x.h.token.arm(*hook_as(x.h.client, x.le, "closeLease", a), 0, {"from": deployer})
    tx = x.submit(cps)
    closed = events_of(tx, "LeaseClosed")
    v = x.le.getLease(a).dict()
    assert not closed or v["billingEnd"] == closed[0]["billingEnd"], (
        f"LeaseClosed(billingEnd={closed[0]['billingEnd']}) was emitted but the lease's billing end is "
        f"{v['billingEnd']} (runway end {v['runwayEnd']}): the close was overwritten"
    )
