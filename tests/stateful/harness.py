"""Drives the contracts and the model in lockstep for the state machines.

Time is deterministic: every transaction is mined at a timestamp the harness chose (`evm_setNextBlockTimestamp`),
so the model can predict time-dependent reverts (unbonding, acceptance, timeout and dispute windows) to the
second. Every call goes through `Harness.tx`, which asks the model first: if the model names errors, the
transaction must revert with one of them (exact custom error and arguments); otherwise it must succeed.
After every step `check_invariants` reads the whole on-chain state in one JSON-RPC batch and checks the
protocol invariants on it, then compares it field by field with the model.
"""

from __future__ import annotations

import itertools
from collections import defaultdict

from brownie import web3
from brownie.exceptions import VirtualMachineError, decode_typed_error
from eth_abi import encode
from eth_utils import keccak, to_checksum_address

from tests.helpers.revert import revert_message
from tests.helpers.signing import sign_attestation, sign_receipt
from tests.stateful.model import (
    BPS,
    DISPUTE_WINDOW,
    ESCROW_CAPS,
    MAX_MIN_STAKE,
    MAX_UNBONDING_PERIOD,
    MIN_UNBONDING_PERIOD,
    ZERO,
    St,
    World,
)

GAS = 2_000_000
# Every transaction gets a distinct gas limit. Examples replay from the same snapshot, so without this the
# same call from the same account at the same nonce would be byte-identical to one mined (and reverted away)
# in an earlier example; anvil then mines it under an already-seen hash that brownie cannot find a receipt for
# ("Tx dropped without known replacement"). The limit is only a cap: gas price is zero and nothing reads gasleft.
# It stays below the 12M block gas limit of brownie's default development network.
_unique = itertools.count()
# (function, "ok" or the custom error's name) -> count, over the whole run; printed by the machines'
# teardown when GPUSETTLE_FUZZ_STATS is set, to see what the fuzzer reaches.
STATS: dict = defaultdict(int)
MOVE_EVENTS = ("JobSettled", "JobTimedOut", "JobCancelled", "FraudReported")


def _abi_arg(value, abi_type):
    if abi_type == "address":
        return str(value)
    if abi_type == "bytes32" and isinstance(value, str):
        return value.encode().ljust(32, b"\x00")
    return value


def revert_string(error: tuple) -> str:
    """The revert string brownie reports for a custom error: the error is ABI-encoded exactly as the EVM
    returns it and decoded by brownie's own decoder, so the selector and every argument are compared."""
    signature, args = error
    types = [t for t in signature[signature.index("(") + 1 : -1].split(",") if t]
    assert len(types) == len(args), f"{signature} takes {len(types)} arguments, got {args}"
    data = keccak(text=signature)[:4] + encode(types, [_abi_arg(a, t) for a, t in zip(args, types)])
    return decode_typed_error("0x" + data.hex())


class Harness:
    def __init__(self, token, staking, escrow, world: World, ts: int, holders, providers, worker_keys, dom,
                 oracle_keys, epoch):
        self.token, self.staking, self.escrow = token, staking, escrow
        self.world = world
        self.ts = ts  # the timestamp of the next transaction
        self.holders = [str(h) for h in holders]
        self.providers = [str(p) for p in providers]
        self.worker_keys = worker_keys  # address -> private key
        self.dom = dom
        self.oracle_keys = oracle_keys
        self.epoch = epoch
        self.event_moves = defaultdict(int)
        self.event_refunds = defaultdict(int)

    # ---------------------------------------------------------------- transactions

    def tx(self, fn, *args, sender, errors):
        """Send `fn(*args)` from `sender` at the harness's clock. `errors` is what the model said: a non-empty
        list means the transaction must revert with one of those custom errors."""
        resp = web3.provider.make_request("evm_setNextBlockTimestamp", [self.ts])
        assert "error" not in resp, resp
        expected = [revert_string(e) for e in errors]
        try:
            receipt = fn(*args, {"from": sender, "gas": GAS + next(_unique) % 8_000_000, "gas_price": 0})
        except VirtualMachineError as exc:
            exc.revert_msg = revert_message(exc)
            self.ts += 1
            if not expected:
                raise AssertionError(f"{fn._name}{args} from {sender} reverted unexpectedly: {exc.revert_msg}")
            STATS[(fn._name, exc.revert_msg.split(":")[0] + (" (paused)" if self.world.paused else ""))] += 1
            assert exc.revert_msg in expected, (
                f"{fn._name}{args} reverted with {exc.revert_msg!r}, expected one of {expected}"
            )
            return None
        self.ts += 1
        STATS[(fn._name, "ok (paused)" if self.world.paused and fn._name != "JobEscrow.pause" else "ok")] += 1
        assert not expected, f"{fn._name}{args} from {sender} succeeded, expected a revert with one of {expected}"
        assert receipt.timestamp == self.ts - 1
        for name in MOVE_EVENTS:
            if name in receipt.events:
                for ev in receipt.events[name]:
                    self.event_moves[ev["jobId"]] += 1
        if "RefundClaimed" in receipt.events:
            for ev in receipt.events["RefundClaimed"]:
                self.event_refunds[ev["jobId"]] += 1
        return receipt

    def sleep(self, seconds: int) -> None:
        self.ts += seconds

    # ---------------------------------------------------------------- signing

    def sign_receipt(self, receipt, signer: str):
        return sign_receipt(receipt, self.worker_keys[signer], self.dom)

    def attest(self, receipts):
        return sign_attestation(list(receipts), self.epoch, self.oracle_keys, self.dom)

    # ---------------------------------------------------------------- reading the chain

    def batch(self, calls):
        return batch(calls)

    def snapshot(self):
        w = self.world
        tok, stk, esc = self.token, self.staking, self.escrow
        job_ids = list(range(1, len(w.jobs) + 1))
        calls = [(tok.totalSupply, ()), (esc.accruedFees, ()), (esc.parameters, ()), (esc.paused, ()),
                 (stk.minStake, ()), (stk.unbondingPeriod, ()), (esc.jobCount, ()), (esc.owed, ())]
        calls += [(tok.balanceOf, (h,)) for h in self.holders]
        calls += [(stk.stakeOf, (p,)) for p in self.providers]
        calls += [(stk.workerOf, (p,)) for p in self.providers]
        calls += [(stk.totalSlashedOf, (p,)) for p in self.providers]
        calls += [(esc.providerRecord, (p,)) for p in self.providers]
        calls += [(esc.unstakeBlockers, (p,)) for p in self.providers]
        calls += [(esc.heldSlashes, (p,)) for p in self.providers]
        calls += [(esc.fraudDebtOf, (p,)) for p in self.providers]
        calls += [(esc.getJob, (j,)) for j in job_ids]
        calls += [(esc.withheldPay, (j,)) for j in job_ids]
        calls += [(esc.fraudDebt, (j,)) for j in job_ids]
        offer_ids = list(range(1, len(w.offers) + 1))
        calls += [(stk.offer, (o,)) for o in offer_ids]
        res = iter(self.batch(calls))
        snap = {k: next(res) for k in ("supply", "fees", "params", "paused", "min_stake", "unbonding", "job_count",
                                       "owed")}
        snap["balances"] = {h: next(res) for h in self.holders}
        snap["stakes"] = {p: next(res) for p in self.providers}
        snap["workers"] = {p: next(res) for p in self.providers}
        snap["slashed"] = {p: next(res) for p in self.providers}
        snap["records"] = {p: next(res) for p in self.providers}
        snap["blockers"] = {p: next(res) for p in self.providers}
        snap["held_slashes"] = {p: next(res) for p in self.providers}
        snap["fraud_debts"] = {p: next(res) for p in self.providers}
        snap["jobs"] = {j: next(res) for j in job_ids}
        snap["withheld"] = {j: next(res) for j in job_ids}
        snap["fraud_debt"] = {j: next(res) for j in job_ids}
        snap["offers"] = {o: next(res) for o in offer_ids}
        return snap

    # ---------------------------------------------------------------- invariants

    def check_invariants(self):
        w = self.world
        s = self.snapshot()
        staking, escrow = str(self.staking), str(self.escrow)

        # Tokens are conserved: no burns happen in the machines, so every token is held by a known account.
        assert sum(s["balances"].values()) == s["supply"] == w.total_supply, "token supply not conserved"

        # The staking contract holds exactly the bonded and unbonding stake of all providers.
        staked = sum(st[0] + st[1] for st in s["stakes"].values())
        assert s["balances"][staking] == staked, f"staking holds {s['balances'][staking]}, stakes sum {staked}"

        # Escrow solvency, from on-chain views alone: the escrow's balance covers open deposits + unclaimed refunds
        # + disputed bonds + provider earnings + accrued fees + held slashes, and its running total owed() is exactly
        # that (tokens sent to it directly are the excess, owed to nobody, which only a sweep takes).
        held = 0
        for j, job in s["jobs"].items():
            status = St(job["status"])
            if status in (St.OPEN, St.RUNNING):
                held += job["deposit"]
            else:
                held += job["refundable"]
            if status == St.DISPUTED:
                held += job["disputeBond"]
            held += s["withheld"][j]  # pay withheld until the job's dispute window closes
        held += sum(r["earnings"] for r in s["records"].values()) + s["fees"]
        held += sum(sum(h) for h in s["held_slashes"].values())  # timeout slashes held for rulings
        assert s["balances"][escrow] >= held, f"escrow holds {s['balances'][escrow]}, owes {held}"
        assert s["owed"] == held, f"owed() is {s['owed']}, the views sum to {held}"

        # No slash ever takes the collateral locked for a provider's other work: bonded stake covers it.
        for p, st_ in s["stakes"].items():
            assert st_[0] >= s["blockers"][p][0], f"{p}: bonded {st_[0]} < locked {s['blockers'][p][0]}"

        # Capacity is never sold twice: the GPUs reserved on an offer never exceed its count, and equal the model's.
        for o, offer in s["offers"].items():
            assert offer["reservedGpus"] <= offer["gpuCount"], f"offer {o}: {offer['reservedGpus']} reserved > count"
            assert offer["reservedGpus"] == w.offers[o].reserved, (
                f"offer {o}: chain reserves {offer['reservedGpus']}, model {w.offers[o].reserved}")

        # Each job's money moves at most once; a refund is claimed at most once.
        for j, n in self.event_moves.items():
            assert n <= 1, f"job {j}: money moved {n} times"
        for j, n in self.event_refunds.items():
            assert n <= 1, f"job {j}: refund claimed {n} times"

        # Parameters stay inside their hard caps, and disputes close before unbonding stake can leave.
        params = list(s["params"])
        for i, (lo, hi) in ESCROW_CAPS.items():
            assert lo <= params[i] <= hi, f"escrow parameter {i} = {params[i]} outside [{lo}, {hi}]"
        assert 0 <= s["min_stake"] <= MAX_MIN_STAKE
        assert MIN_UNBONDING_PERIOD <= s["unbonding"] <= MAX_UNBONDING_PERIOD
        assert params[DISPUTE_WINDOW] < s["unbonding"], "dispute window outlasts unbonding"
        assert all(0 <= params[i] <= BPS for i in range(4))

        # ---- the chain equals the model
        assert s["supply"] == w.total_supply
        for h in self.holders:
            assert s["balances"][h] == w.balances[h], f"balance of {h}: chain {s['balances'][h]}, model {w.balances[h]}"
        assert params == w.params, f"params: chain {params}, model {w.params}"
        assert s["min_stake"] == w.min_stake and s["unbonding"] == w.unbonding_period
        assert s["paused"] == w.paused
        assert s["fees"] == w.fees, f"accrued fees: chain {s['fees']}, model {w.fees}"
        assert s["job_count"] == len(w.jobs)
        assert s["owed"] == w.escrow_liabilities(), f"owed(): chain {s['owed']}, model {w.escrow_liabilities()}"
        for p in self.providers:
            m, b = w.stakes[p], w.books[p]
            assert tuple(s["stakes"][p]) == (m.bonded, m.unbonding, m.release_at, m.jailed), (
                f"stakeOf({p}): chain {tuple(s['stakes'][p])}, model {(m.bonded, m.unbonding, m.release_at, m.jailed)}"
            )
            assert s["workers"][p] == (m.worker or ZERO)
            assert s["slashed"][p] == m.slashed, f"totalSlashed({p}): chain {s['slashed'][p]}, model {m.slashed}"
            rec = s["records"][p]
            expect = {"lockedCollateral": b.locked, "earnings": b.earnings, "gpuSecondsServed": b.served,
                          "jobsCompleted": b.completed, "jobsFailed": b.failed, "jobsTimedOut": b.timed_out,
                          "disputesLost": b.disputes_lost, "openDisputes": b.open_disputes, "totalSlashed": m.slashed,
                          "valuePaid": b.value_paid}
            got = {k: rec[k] for k in expect}
            assert got == expect, f"providerRecord({p}): chain {got}, model {expect}"
            counted = b.open_disputes + (1 if b.debts else 0)  # the escrow counts owed fraud debts as one dispute
            blockers = (b.locked, counted, w.disputable_until(p), b.frozen if counted else 0)
            assert tuple(s["blockers"][p]) == blockers, (
                f"unstakeBlockers({p}): chain {tuple(s['blockers'][p])}, model {blockers}"
            )
            owed = w.owed(p)
            assert tuple(s["fraud_debts"][p]) == (owed, len(b.debts)), (
                f"fraudDebtOf({p}): chain {tuple(s['fraud_debts'][p])}, model {(owed, len(b.debts))}"
            )
            # What is owed for fraud stays frozen: never unstaked, never locked by new work.
            assert b.frozen >= owed
        for j, job in s["jobs"].items():
            m = w.jobs[j]
            assert s["withheld"][j] == m.withheld, f"withheldPay({j}): chain {s['withheld'][j]}, model {m.withheld}"
            assert s["fraud_debt"][j] == m.debt, f"fraudDebt({j}): chain {s['fraud_debt'][j]}, model {m.debt}"
            expect = {"status": int(m.status), "client": m.client, "provider": m.provider, "offerId": m.offer,
                          "pricePerGpuSecond": m.price, "maxGpuSeconds": m.max_gs, "gpuCount": m.gpus, "deposit": m.deposit,
                          "collateral": m.collateral, "refundable": m.refundable, "disputeBond": m.bond}
            if m.status == St.OPEN:
                expect.update(acceptBy=m.accept_by, deadline=m.deadline)
            elif m.status == St.RUNNING:
                expect.update(acceptedAt=m.accepted_at, deadline=m.deadline)
            elif m.status in (St.SETTLED, St.DISPUTED, St.UPHELD, St.REJECTED, St.LAPSED):
                expect.update(billedGpuSeconds=m.billed, settledAt=m.settled_at)
                if m.status == St.DISPUTED:
                    expect.update(deadline=m.ruling_deadline)
            got = {k: job[k] for k in expect}
            assert got == expect, f"job {j}: chain {got}, model {expect}"
        # and the model's own books balance
        assert w.balances[escrow] == w.escrow_liabilities() + w.stray
        assert w.balances[staking] == sum(st.bonded + st.unbonding for st in w.stakes.values())
        assert self.event_moves == {j: n for j, n in w.moves.items() if n}
        assert self.event_refunds == {j: n for j, n in w.refunds.items() if n}


def print_stats():
    import os

    if os.environ.get("GPUSETTLE_FUZZ_STATS"):
        for (name, outcome), n in sorted(STATS.items()):
            print(f"{name:>22} {outcome:<45} {n}")
    STATS.clear()


def batch(calls):
    """eth_call every (contract method, args) in one JSON-RPC batch and decode the results."""
    requests = [("eth_call", [{"to": fn._address, "data": fn.encode_input(*args)}, "latest"])
                for fn, args in calls]
    responses = web3.provider.make_batch_request(requests)
    assert len(responses) == len(calls)
    out = []
    for (fn, _), resp in zip(calls, responses):
        assert "result" in resp, f"{fn._name} failed: {resp}"
        out.append(fn.decode_output(resp["result"]))
    return out


def checksum(address) -> str:
    return to_checksum_address(str(address))
