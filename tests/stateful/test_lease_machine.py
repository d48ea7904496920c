"""Stateful fuzzing of leases and GPU capacity together with jobs: two clients open leases (valid and not: too many
GPUs, a price or class limit the offer no longer meets, bad deposits and end times) on three offers of two
providers (reclaimable with an uptime guarantee, interruptible, dedicated), accept, decline, cancel, top up, close
and reclaim them, post attested checkpoints (honest, stale, gapped, past the billing end, impossible numbers,
batches of two), claim expiries and refunds, release collateral and withdraw earnings; providers pause, resume and
re-class their offers; jobs on the same offers take and give back GPUs; tokens are sent straight to the lease escrow
(where they stay: it has no sweep); time jumps to every boundary.

Every call is predicted by tests/stateful/lease_model.py first: the exact custom error, or success with the model's
numbers in its events. After every step, from the chain alone and against the model: each escrow's token balance
covers what its views say it owes (the lease escrow's excess is exactly the stray tokens sent to it, the job escrow's
none) and the job escrow's running total owed() equals the model's; reserved GPUs never exceed an offer's count and
equal the model's; a lease's provider is paid exactly rate x up seconds (never more), fee included; a client never
loses more than its deposit, and once its lease ended and refunded, no more than what it paid for up time; every
period is paid at most once (the paid periods of a lease chain from its start without overlap).
"""

from __future__ import annotations

import copy
import itertools
from collections import defaultdict

import pytest
from brownie import chain, web3
from brownie.exceptions import VirtualMachineError
from hypothesis import strategies as st

from tests.fixtures.contracts import CLIENT_FUNDS, E18
from tests.helpers.lease_signing import Checkpoint, lease_domain, sign_checkpoints
from tests.helpers.revert import revert_message
from tests.helpers.signing import Receipt, domain, sign_attestation, sign_receipt
from tests.stateful.conftest import machine_settings
from tests.stateful.harness import STATS, batch, print_stats, revert_string
from tests.stateful.lease_model import (
    CANCELLED,
    DISPUTED,
    ENDED,
    L_COLLATERAL_SECONDS,
    L_DISPUTE_BOND,
    L_DISPUTE_WINDOW,
    L_GRACE,
    OPEN,
    RUNNING,
    U64,
    LeaseWorld,
    Offer,
)

GAS = 3_000_000
_unique = itertools.count()  # distinct gas limits: see tests/stateful/harness.py
SPEC = b"\x1e" * 32
RESULT = b"\xa5" * 32
ZERO = "0x0000000000000000000000000000000000000000"
DAY = 24 * 3600
# (provider index, GPUs, price per GPU-second, class, notice, guarantee bps)
OFFERS = [(0, 4, 10**15, 1, 600, 9_000), (0, 2, 10**14, 2, 0, 0), (1, 2, 10**16, 0, 0, 5_000)]
STAKES = [10_000 * E18, 150 * E18]  # provider2's stake covers two of its leases' collateral at most


class LeaseHarness:
    def __init__(self, c, world: LeaseWorld, ts, holders, providers, worker_keys, oracle_keys, epoch):
        self.c = c  # token, staking, escrow, lease
        self.world = world
        self.ts = ts
        self.holders = [str(h) for h in holders]
        self.providers = [str(p) for p in providers]
        self.worker_keys = worker_keys
        self.oracle_keys = oracle_keys
        self.epoch = epoch
        self.ldom = lease_domain(chain.id, c.lease.address)
        self.jdom = domain(chain.id, c.escrow.address)
        self.periods: dict[int, list] = defaultdict(list)

    def tx(self, fn, *args, sender, errors):
        resp = web3.provider.make_request("evm_setNextBlockTimestamp", [self.ts])
        assert "error" not in resp, resp
        expected = [revert_string(e) for e in errors]
        try:
            receipt = fn(*args, {"from": sender, "gas": GAS + next(_unique) % 6_000_000, "gas_price": 0})
        except VirtualMachineError as exc:
            exc.revert_msg = revert_message(exc)
            self.ts += 1
            if not expected:
                raise AssertionError(
                    f"{fn._name}{args} from {sender} reverted unexpectedly: {exc.revert_msg}"
                )
            assert exc.revert_msg in expected, (
                f"{fn._name}{args} reverted with {exc.revert_msg!r}, expected {expected}"
            )
            STATS[(fn._name, exc.revert_msg.split(":")[0])] += 1
            return None
        self.ts += 1
        STATS[(fn._name, "ok")] += 1
        assert not expected, (
            f"{fn._name}{args} from {sender} succeeded, expected a revert with one of {expected}"
        )
        if "CheckpointSettled" in receipt.events:
            for ev in receipt.events["CheckpointSettled"]:
                self.periods[ev["leaseId"]].append((ev["fromTime"], ev["toTime"]))
        return receipt

    def check_invariants(self):
        w, c = self.world, self.c
        lease_ids = list(range(1, len(w.leases) + 1))
        offer_ids = list(w.offers)
        calls = [
            (c.lease.accruedFees, ()),
            (c.escrow.accruedFees, ()),
            (c.lease.leaseCount, ()),
            (c.escrow.jobCount, ()),
            (c.escrow.owed, ()),
        ]
        calls += [(c.token.balanceOf, (h,)) for h in self.holders]
        calls += [(c.staking.stakeOf, (p,)) for p in self.providers]
        calls += [(c.lease.providerRecord, (p,)) for p in self.providers]
        calls += [(c.lease.unstakeBlockers, (p,)) for p in self.providers]
        calls += [(c.escrow.providerRecord, (p,)) for p in self.providers]
        calls += [(c.staking.offer, (o,)) for o in offer_ids]
        calls += [(c.lease.getLease, (i,)) for i in lease_ids]
        calls += [(c.lease.leaseWithheldPay, (i,)) for i in lease_ids]
        res = iter(batch(calls))
        lease_fees, job_fees, lease_count, job_count, job_owed = (next(res) for _ in range(5))
        balances = {h: next(res) for h in self.holders}
        stakes = {p: next(res) for p in self.providers}
        lrec = {p: next(res) for p in self.providers}
        lblock = {p: next(res) for p in self.providers}
        jrec = {p: next(res) for p in self.providers}
        offers = {o: next(res) for o in offer_ids}
        leases = {i: next(res) for i in lease_ids}
        withheld = {i: tuple(next(res)) for i in lease_ids}
        lease_addr, escrow_addr, staking_addr = str(c.lease), str(c.escrow), str(c.staking)

        # ---- from the chain alone
        owed = lease_fees + sum(r["earnings"] for r in lrec.values())
        for v in leases.values():
            if v["status"] != CANCELLED:
                owed += v["deposit"] - v["paid"]
            if v["status"] == DISPUTED:
                owed += v["disputeBond"]
        owed += sum(pay for pay, _ in withheld.values())
        # The balance covers what the escrow owes (tokens sent to it directly are the excess, owed to nobody).
        assert balances[lease_addr] >= owed, f"lease escrow holds {balances[lease_addr]}, owes {owed}"
        assert balances[staking_addr] == sum(s[0] + s[1] for s in stakes.values()), "staking != stakes"
        for o, view in offers.items():
            assert view["reservedGpus"] <= view["gpuCount"], (
                f"offer {o}: {view['reservedGpus']} > {view['gpuCount']}"
            )
        for p in self.providers:
            # both escrows' locks together never exceed the bond: a raised job reserve never takes a lease's collateral
            locked = lrec[p]["lockedCollateral"] + jrec[p]["lockedCollateral"]
            assert stakes[p][0] >= locked, f"{p}: bonded {stakes[p][0]} < job + lease locked {locked}"
        paid_by_provider = defaultdict(int)
        for i, v in leases.items():
            assert v["paid"] == v["ratePerSecond"] * v["upSeconds"], f"lease {i}: paid != rate x up"
            paid_by_provider[v["provider"]] += v["paid"]
            if v["status"] in (RUNNING, ENDED):
                got = sorted(self.periods[i])
                assert len({f for f, _ in got}) == len(got), f"lease {i}: a period paid twice: {got}"
                t = v["startedAt"]
                for f, to in got:
                    assert f == t, f"lease {i}: periods {got} do not chain from {v['startedAt']}"
                    t = to
                assert t == v["paidThrough"], f"lease {i}: periods end at {t}, paidThrough {v['paidThrough']}"
        for p in self.providers:
            # every token the provider (and the treasury's fee) ever got for leases is rate x up of its leases
            assert w.credited[p] == paid_by_provider[p], (
                f"{p}: credited {w.credited[p]} != paid {paid_by_provider[p]}"
            )

        # ---- the chain equals the model
        for h in self.holders:
            assert balances[h] == w.balances[h], f"balance of {h}: chain {balances[h]}, model {w.balances[h]}"
        assert balances[lease_addr] == w.lease_owed() + w.lease_stray
        assert job_owed == w.job_owed(), f"job owed(): chain {job_owed}, model {w.job_owed()}"
        assert balances[escrow_addr] == w.job_owed(), (
            f"job escrow holds {balances[escrow_addr]}, owes {w.job_owed()}"
        )
        assert (lease_fees, job_fees, lease_count, job_count) == (
            w.lease_fees,
            w.job_fees,
            len(w.leases),
            len(w.jobs),
        )
        for p in self.providers:
            assert stakes[p][0] == w.bonded[p], f"{p}: bonded {stakes[p][0]}, model {w.bonded[p]}"
            assert stakes[p][3] == (p in w.jailed), f"{p}: jailed {stakes[p][3]}, model {p in w.jailed}"
            assert stakes[p][1] == w.unbonding[p], f"{p}: unbonding {stakes[p][1]}, model {w.unbonding[p]}"
            got = (lblock[p][0], lblock[p][1], lblock[p][3])
            want = (w.lease_locked[p], w.open_disputes(p), w.lease_frozen[p])
            assert got == want, f"{p}: lease unstakeBlockers (locked, disputes, frozen) chain {got}, model {want}"
            assert (lrec[p]["lockedCollateral"], lrec[p]["earnings"]) == (
                w.lease_locked[p],
                w.lease_earnings[p],
            )
            assert (jrec[p]["lockedCollateral"], jrec[p]["earnings"]) == (w.job_locked[p], w.job_earnings[p])
        for o, view in offers.items():
            m = w.offers[o]
            assert (view["reservedGpus"], view["paused"], view["availabilityClass"]) == (
                m.reserved,
                m.paused,
                m.cls,
            ), (
                f"offer {o}: chain {(view['reservedGpus'], view['paused'], view['availabilityClass'])}, "
                f"model {(m.reserved, m.paused, m.cls)}"
            )
        for i, v in leases.items():
            m = w.leases[i]
            got = {k: v[k] for k in ("status", "deposit", "paid", "upSeconds", "collateral", "refundable")}
            want = {
                "status": m.status,
                "deposit": m.deposit if m.billing or m.status in (OPEN, CANCELLED) else m.paid + m.remaining,
                "paid": m.paid,
                "upSeconds": m.up,
                "collateral": 0 if m.released else m.collateral,
                "refundable": m.remaining if m.status == ENDED else 0,
            }
            if m.status in (RUNNING, ENDED, DISPUTED):
                got["paidThrough"], want["paidThrough"] = v["paidThrough"], m.paid_through
            if m.status == DISPUTED:
                got["disputeBond"], want["disputeBond"] = v["disputeBond"], m.bond
            got["rulingDeadline"], want["rulingDeadline"] = v["rulingDeadline"], m.ruling_deadline
            got["withheld"], want["withheld"] = withheld[i], (m.withheld, m.unreserved)
            assert got == want, f"lease {i}: chain {got}, model {want}"
            # a client never loses more than its deposit; once ended and refunded, no more than it paid for up time
            loss = m.deposit - m.client_back
            assert 0 <= m.client_back and loss <= m.deposit
            if m.status == CANCELLED:
                assert loss == 0
            if m.status == ENDED and m.remaining == 0:
                assert loss <= m.paid, f"lease {i}: client lost {loss}, paid for up time {m.paid}"


def seed_strategy():
    return st.integers(min_value=0, max_value=2**32 - 1)


class LeaseMachine:
    st_seed = seed_strategy()
    st_bool = st.booleans()
    st_gpus = st.sampled_from([1, 1, 2, 2, 3, 4, 0, 5])
    st_seconds = st.sampled_from([1, 60, 600, 1800, 3600, 7200])
    st_end = st.sampled_from([0, 0, 0, 120, 1800, 3600, 7200, -1])
    st_sleep = st.sampled_from([1, 30, 300, 599, 601, 1800, 3600])
    st_flaw = st.sampled_from([None] * 5 + ["stale", "gap", "past_end", "sum", "future"])

    def __init__(self, template, accts, workers):
        self.template = template
        self.accts = accts
        self.workers = workers  # address -> brownie account
        self.by_address = {str(a): a for a in accts.values()}
        self.clients = [accts["client"], accts["client2"]]
        self.providers = [accts["provider"], accts["provider2"]]
        self.c = template.c

    def setup(self):
        t = self.template
        self.w = t.world.clone()
        self.h = copy.copy(t)
        self.h.world = self.w
        self.h.periods = defaultdict(list, {k: list(v) for k, v in t.periods.items()})

    def invariant(self):
        self.h.check_invariants()

    def teardown_final(self):
        print_stats()  # with GPUSETTLE_FUZZ_STATS: what the fuzzer reached, call by outcome

    # ---------------------------------------------------------------- choosing

    def acct(self, address):
        return self.workers.get(address) or self.by_address[address]

    def pick_lease(self, s, statuses):
        cands = [i for i, lease in self.w.leases.items() if lease.status in statuses]
        if cands and s % 8 != 7:
            return cands[(s // 8) % len(cands)]
        everything = list(self.w.leases) + [len(self.w.leases) + 1]
        return everything[(s // 8) % len(everything)]

    def provider_side(self, provider, s):
        """The provider, its worker key, or (one time in four) someone else."""
        options = [provider, self.w.workers[provider], provider, str(self.accts["rando"])]
        return self.acct(options[s % 4])

    # ---------------------------------------------------------------- leases

    def rule_open(self, gpus="st_gpus", seconds="st_seconds", end="st_end", accept="st_bool", s="st_seed"):
        w, h = self.w, self.h
        client = self.clients[s & 1]
        offer_id = [1, 1, 2, 3, 3, 1, 2, 4][(s >> 1) % 8]
        o = w.offers.get(offer_id) or Offer(str(self.providers[0]), 1, 1)
        max_price = o.price - 1 if (s >> 4) % 8 == 7 else U64
        max_class = [2, 2, 1, 0, 3][(s >> 7) % 5]
        min_notice = [0, 0, 600, 601][(s >> 10) % 4]
        rate = o.price * max(gpus, 1)
        deposit = rate * seconds if (s >> 12) % 16 != 15 else rate - 1
        end_time = 0 if end == 0 else (h.ts - 1 if end < 0 else h.ts + end)
        errs = w.open_lease(
            str(client), offer_id, gpus, max_price, max_class, min_notice, deposit, end_time, h.ts
        )
        tx = h.tx(
            self.c.lease.openLease,
            offer_id,
            gpus,
            max_price,
            max_class,
            min_notice,
            SPEC,
            deposit,
            end_time,
            sender=client,
            errors=errs,
        )
        if tx and accept:
            self.do_accept(len(w.leases), s >> 16)

    def do_accept(self, lease_id, s):
        lease = self.w.leases.get(lease_id)
        caller = self.provider_side(lease.provider if lease else str(self.providers[0]), s)
        errs = self.w.accept_lease(str(caller), lease_id, self.h.ts)
        tx = self.h.tx(self.c.lease.acceptLease, lease_id, sender=caller, errors=errs)
        if tx:
            assert tx.events["LeaseAccepted"]["collateral"] == self.w.leases[lease_id].collateral

    def rule_accept(self, s="st_seed"):
        self.do_accept(self.pick_lease(s, (OPEN,)), s >> 12)

    def rule_decline(self, s="st_seed"):
        lease_id = self.pick_lease(s, (OPEN,))
        lease = self.w.leases.get(lease_id)
        caller = self.provider_side(lease.provider if lease else str(self.providers[0]), s >> 12)
        self.h.tx(
            self.c.lease.declineLease,
            lease_id,
            sender=caller,
            errors=self.w.decline_lease(str(caller), lease_id),
        )

    def rule_cancel(self, wait="st_bool", s="st_seed"):
        lease_id = self.pick_lease(s, (OPEN,))
        lease = self.w.leases.get(lease_id)
        if wait and lease and lease.status == OPEN:
            self.h.ts = max(self.h.ts, lease.accept_by + (s >> 12) % 2)
        client = lease.client if lease else str(self.clients[0])
        caller = self.acct([client, client, str(self.accts["rando"])][(s >> 14) % 3])
        self.h.tx(
            self.c.lease.cancelLease,
            lease_id,
            sender=caller,
            errors=self.w.cancel_lease(str(caller), lease_id, self.h.ts),
        )

    def rule_top_up(self, s="st_seed"):
        lease_id = self.pick_lease(s, (OPEN, RUNNING))
        lease = self.w.leases.get(lease_id)
        amount = [0, 1, (lease.rate if lease else 1) * 600][(s >> 12) % 3]
        caller = [self.clients[0], self.clients[1], self.accts["rando"]][(s >> 14) % 3]
        tx = self.h.tx(
            self.c.lease.topUp,
            lease_id,
            amount,
            sender=caller,
            errors=self.w.top_up(str(caller), lease_id, amount, self.h.ts),
        )
        if tx:
            assert tx.events["LeaseToppedUp"]["deposit"] == self.w.leases[lease_id].remaining  # not yet covered

    def rule_close(self, s="st_seed"):
        lease_id = self.pick_lease(s, (RUNNING, RUNNING, DISPUTED))
        lease = self.w.leases.get(lease_id)
        client = lease.client if lease else str(self.clients[0])
        caller = self.acct([client, client, client, str(self.accts["rando"])][(s >> 12) % 4])
        self.h.tx(
            self.c.lease.closeLease,
            lease_id,
            sender=caller,
            errors=self.w.close_lease(str(caller), lease_id, self.h.ts),
        )

    def rule_reclaim(self, s="st_seed"):
        lease_id = self.pick_lease(s, (RUNNING,))
        lease = self.w.leases.get(lease_id)
        caller = self.provider_side(lease.provider if lease else str(self.providers[0]), s >> 12)
        self.h.tx(
            self.c.lease.reclaimLease,
            lease_id,
            sender=caller,
            errors=self.w.reclaim_lease(str(caller), lease_id, self.h.ts),
        )

    def make_checkpoint(self, lease_id, s, flaw):
        now = self.h.ts
        lease = self.w.leases.get(lease_id)
        if lease is None or lease.status != RUNNING:
            start = lease.paid_through if lease and lease.paid_through else now - 10
            return Checkpoint(lease_id, start, start + 1, 1, 0)
        frm = lease.paid_through
        bound = min(now, lease.billing_end())
        if bound <= frm:
            to = frm + 1
        else:
            to = [bound, bound, frm + 1 + (s % (bound - frm))][(s >> 2) % 3]
        if flaw == "stale":
            frm = max(lease.started - 1, frm - 1 - (s >> 4) % 100)
        elif flaw == "gap":
            frm, to = frm + 1, max(to, frm + 2)
        elif flaw == "past_end":
            to = lease.billing_end() + 1
        elif flaw == "future":
            to = now + 1 + (s >> 4) % 60
        period = max(to - frm, 0)
        down = [0, 0, period // 2, period, (s >> 8) % (period + 1)][(s >> 5) % 5]
        up = period - down
        if flaw == "sum":
            up += 1
        if to <= frm:
            up, down = 0, 0
        return Checkpoint(lease_id, frm, to, up, down)

    def unstake_all(self, p):
        unstakeable = max(self.w.free_stake(p) - self.w.lease_frozen[p], 0)
        if unstakeable:
            errs = self.w.request_unstake(p, unstakeable)
            self.h.tx(self.c.staking.requestUnstake, unstakeable, sender=self.acct(p), errors=errs)

    def rule_checkpoint(self, flaw="st_flaw", two="st_bool", drain="st_bool", s="st_seed"):
        """One or two checkpoints (of two leases, or the same lease twice) in a batch, honest or flawed. With
        `drain`, the first lease's provider unstakes all it can just before: the ruling reserve the period adds
        finds no free stake, and the period's pay is withheld instead (issue 8, third review, finding 2, and the
        attack review of its fix)."""
        first = self.pick_lease(s, (RUNNING,))
        lease = self.w.leases.get(first)
        if drain and lease is not None:
            self.unstake_all(lease.provider)
        cps = [self.make_checkpoint(first, s >> 3, flaw)]
        if two:
            second = self.pick_lease(s >> 16, (RUNNING,))
            cps.append(self.make_checkpoint(second, s >> 19, None))
        self.submit_and_check(cps)

    def rule_withhold_then_catch_up(self, amount="st_bool", s="st_seed"):
        """A running lease's provider unstakes all it can; a checkpoint lands with its pay withheld; the provider
        bonds tokens again (a little or a lot); the next checkpoint locks what it can of the missing reserve and
        releases the withheld pay beyond what stays unlocked."""
        running = [i for i, lease in self.w.leases.items() if lease.status == RUNNING]
        if not running:
            return
        lease_id = running[s % len(running)]
        p = self.w.leases[lease_id].provider
        self.unstake_all(p)
        self.rule_sleep(600)
        self.submit_and_check([self.make_checkpoint(lease_id, s >> 4, None)])
        index = [str(a) for a in self.providers].index(p)
        self.rule_stake(index | ((2 if amount else 1) << 1))  # 5,000 or 50 tokens, as far as its balance goes
        self.rule_sleep(600)
        if self.w.lease_status(lease_id) == RUNNING:
            self.submit_and_check([self.make_checkpoint(lease_id, s >> 12, None)])

    def submit_and_check(self, cps):
        self.w.withheld_released = []
        errs, outcomes = self.w.submit_checkpoints(cps, self.h.ts)
        att = sign_checkpoints(cps, self.h.epoch, self.h.oracle_keys, self.h.ldom)
        tx = self.h.tx(
            self.c.lease.submitCheckpoints,
            [c.as_tuple() for c in cps],
            att,
            sender=self.accts["rando"],
            errors=errs,
        )
        if tx:
            settled = [r for kind, r in outcomes if kind == "settled"]
            skipped = [r for kind, r in outcomes if kind == "skipped"]
            got = (
                [(e["payout"], e["fee"], e["penalty"]) for e in tx.events["CheckpointSettled"]]
                if "CheckpointSettled" in tx.events
                else []
            )
            assert got == [r[:3] for r in settled], f"CheckpointSettled: chain {got}, model {settled}"
            got = (
                [(e["amount"], e["unreserved"]) for e in tx.events["LeasePayWithheld"]]
                if "LeasePayWithheld" in tx.events
                else []
            )
            want = [r[3:] for r in settled if r[4]]
            assert got == want, f"LeasePayWithheld: chain {got}, model {want}"
            if want:
                STATS[("lease pay withheld", "ok")] += 1
            self.check_withheld_released(tx, "catch-up")
            got = (
                [e["reason"] for e in tx.events["CheckpointSkipped"]]
                if "CheckpointSkipped" in tx.events
                else []
            )
            assert got == skipped, f"CheckpointSkipped: chain {got}, model {skipped}"
            assert tx.return_value == len(settled)

    def rule_expiry(self, wait="st_bool", s="st_seed"):
        lease_id = self.pick_lease(s, (RUNNING,))
        lease = self.w.leases.get(lease_id)
        if wait and lease and lease.status == RUNNING:
            self.h.ts = max(self.h.ts, lease.expiry_at() - (s >> 12) % 2)
        errs, result = self.w.claim_expiry(lease_id, self.h.ts)
        tx = self.h.tx(self.c.lease.claimLeaseExpiry, lease_id, sender=self.accts["rando"], errors=errs)
        if tx:
            ev = tx.events["LeaseExpired"]
            assert (ev["refund"], ev["slashed"]) == result

    def rule_claim_refund(self, s="st_seed"):
        lease_id = self.pick_lease(s, (ENDED,))
        errs, amount = self.w.claim_refund(lease_id)
        tx = self.h.tx(self.c.lease.claimRefund, lease_id, sender=self.accts["rando"], errors=errs)
        if tx:
            assert tx.events["LeaseRefundClaimed"]["amount"] == amount

    def rule_release_collateral(self, wait="st_bool", s="st_seed"):
        lease_id = self.pick_lease(s, (ENDED,))
        lease = self.w.leases.get(lease_id)
        if wait and lease and lease.last_cp_at:
            self.h.ts = max(self.h.ts, lease.last_cp_at + L_DISPUTE_WINDOW + (s >> 12) % 2)
        caller = self.accts["rando"]
        self.w.withheld_released = []
        errs, total = self.w.release_collateral(str(caller), [lease_id], self.h.ts)
        tx = self.h.tx(self.c.lease.releaseLeaseCollateral, [lease_id], sender=caller, errors=errs)
        if tx:
            assert tx.events["LeaseCollateralReleased"]["amount"] == total
            self.check_withheld_released(tx, "release")

    def check_withheld_released(self, tx, how):
        got = [e["amount"] for e in tx.events["LeaseWithheldPayReleased"]] if "LeaseWithheldPayReleased" in tx.events else []
        assert got == self.w.withheld_released, f"LeaseWithheldPayReleased: chain {got}, model {self.w.withheld_released}"
        if got:
            STATS[(f"lease withheld pay released by {how}", "ok")] += 1

    def rule_dispute(self, s="st_seed"):
        """The client disputes the last checkpoint of a running or ended lease (or someone else tries)."""
        lease_id = self.pick_lease(s, (RUNNING, ENDED))
        lease = self.w.leases.get(lease_id)
        client = lease.client if lease else str(self.clients[0])
        caller = self.acct([client, client, client, str(self.accts["rando"])][(s >> 12) % 4])
        errs = self.w.dispute_checkpoint(str(caller), lease_id, self.h.ts)
        tx = self.h.tx(self.c.lease.disputeCheckpoint, lease_id, b"\x0d" * 32, sender=caller, errors=errs)
        if tx:
            assert tx.events["CheckpointDisputed"]["bond"] == L_DISPUTE_BOND

    def rule_dispute_a_long_run(self, drain="st_bool", s="st_seed"):
        """A running lease billed in one checkpoint for up to two hours (more than the hour of its rate that its
        collateral is), then disputed by its client: the dispute freezes the part of the ruling's slash that the
        collateral does not cover (issue 11), which the next steps' unstaking must leave in place. With `drain`,
        the provider unstakes all it can first, so that the period's pay is withheld and the ruling draws on it."""
        running = [i for i, lease in self.w.leases.items() if lease.status == RUNNING]
        if not running:
            return
        lease_id = running[s % len(running)]
        lease = self.w.leases[lease_id]
        if drain:
            self.unstake_all(lease.provider)
        self.h.ts = max(self.h.ts, min(lease.billing_end(), lease.paid_through + 2 * L_COLLATERAL_SECONDS))
        cps = [self.make_checkpoint(lease_id, 0, None)]  # to now (or the billing end), no down time
        errs, _ = self.w.submit_checkpoints(cps, self.h.ts)
        att = sign_checkpoints(cps, self.h.epoch, self.h.oracle_keys, self.h.ldom)
        self.h.tx(self.c.lease.submitCheckpoints, [c.as_tuple() for c in cps], att, sender=self.accts["rando"],
                  errors=errs)
        client = self.acct(lease.client)
        errs = self.w.dispute_checkpoint(lease.client, lease_id, self.h.ts)
        self.h.tx(self.c.lease.disputeCheckpoint, lease_id, b"\x0e" * 32, sender=client, errors=errs)

    def rule_reject_dispute(self, s="st_seed"):
        """The arbiter rejects a dispute, maybe long after the billing end: the provider keeps a grace from now."""
        lease_id = self.pick_lease(s, (DISPUTED,))
        errs = self.w.reject_dispute(lease_id, self.h.ts)
        tx = self.h.tx(
            self.c.lease.resolveCheckpointDispute, lease_id, False, sender=self.accts["arbiter"], errors=errs
        )
        if tx:
            assert tx.events["CheckpointDisputeResolved"]["upheld"] is False

    def rule_uphold_dispute(self, s="st_seed"):
        """The arbiter upholds a dispute (maybe too late): the lease ends at its last paid second, the provider is
        slashed (free stake only) and jailed, the client compensated up to what it paid and its bond returned."""
        lease_id = self.pick_lease(s, (DISPUTED,))
        self.w.withheld_released = []
        errs, out = self.w.uphold_dispute(lease_id, self.h.ts)
        tx = self.h.tx(
            self.c.lease.resolveCheckpointDispute, lease_id, True, sender=self.accts["arbiter"], errors=errs
        )
        if tx:
            ev = tx.events["CheckpointDisputeResolved"]
            assert (ev["upheld"], ev["slashed"], ev["compensation"]) == (True, *out)
            self.check_withheld_released(tx, "ruling")

    def rule_unjail(self, s="st_seed"):
        """Governance lets a jailed provider (or one that is not) take work again."""
        p = self.providers[s % len(self.providers)]
        errs = self.w.unjail(str(p))
        self.h.tx(self.c.staking.unjail, p, sender=self.accts["deployer"], errors=errs)

    def rule_lapse_dispute(self, wait="st_bool", s="st_seed"):
        """Anyone closes a dispute the arbiter did not rule on: refused until the ruling deadline (`wait` moves the
        clock to it or one second past it), then the bond goes back to the client and the lease is as before the
        dispute."""
        lease_id = self.pick_lease(s, (DISPUTED,))
        lease = self.w.leases.get(lease_id)
        if wait and lease and lease.ruling_deadline:
            self.h.ts = max(self.h.ts, lease.ruling_deadline + (s >> 12) % 2)
        bond, client = (lease.bond, lease.client) if lease else (0, None)
        errs = self.w.lapse_dispute(lease_id, self.h.ts)
        tx = self.h.tx(self.c.lease.closeUnruledCheckpointDispute, lease_id, sender=self.accts["rando"], errors=errs)
        if tx:
            ev = tx.events["CheckpointDisputeLapsed"]
            assert (ev["bond"], str(ev["client"])) == (bond, client)

    def rule_request_unstake(self, s="st_seed"):
        """A provider unstakes: a little, everything unstakeable, one base unit more (refused with the numbers), or
        nothing; open disputes keep back only what their rulings can slash beyond the leases' collateral."""
        p = self.providers[s & 1]
        w = self.w
        unstakeable = max(w.free_stake(str(p)) - w.lease_frozen[str(p)], 0)
        amount = [10**18, 10**18, 10**18, 10**18, unstakeable + 1, unstakeable + 1, unstakeable, 0][(s >> 1) % 8]
        errs = w.request_unstake(str(p), amount)
        self.h.tx(self.c.staking.requestUnstake, amount, sender=p, errors=errs)

    def rule_stake(self, s="st_seed"):
        """A provider bonds more of its tokens: free stake comes back, and the next checkpoint of a lease short of
        its ruling reserve locks what it can and releases the withheld pay beyond what stays unlocked."""
        p = self.providers[s & 1]
        have = self.w.balances[str(p)]
        amount = min([10**18, 50 * 10**18, 5_000 * 10**18][(s >> 1) % 3], have)
        if amount == 0:
            return
        self.h.tx(self.c.token.approve, self.c.staking, amount, sender=p, errors=[])
        self.w.bonded[str(p)] += amount
        self.w.move(str(p), self.w.staking, amount)
        self.h.tx(self.c.staking.stake, amount, sender=p, errors=[])

    def rule_stray_tokens(self, s="st_seed"):
        """Tokens sent to the lease escrow directly: owed to nobody, they stay in it (no sweep), and every later
        payout is still exactly what the model says."""
        sender = [self.accts["rando"], self.clients[0], self.providers[1]][s % 3]
        amount = [1, 10**15, 10**18 + 7][(s >> 2) % 3]
        errs = self.w.send_stray(str(sender), amount)
        self.h.tx(self.c.token.transfer, self.c.lease, amount, sender=sender, errors=errs)

    def rule_withdraw_earnings(self, s="st_seed"):
        who = [self.providers[0], self.providers[1], self.accts["rando"]][s % 3]
        errs, amount = self.w.withdraw_lease_earnings(str(who))
        tx = self.h.tx(self.c.lease.withdrawEarnings, sender=who, errors=errs)
        if tx:
            assert tx.events["EarningsWithdrawn"]["amount"] == amount

    # ---------------------------------------------------------------- offers

    def rule_pause_or_resume(self, s="st_seed"):
        offer_id = 1 + s % 3
        caller = self.provider_side(self.w.offers[offer_id].provider, s >> 2)
        if (s >> 4) & 1:
            self.h.tx(
                self.c.staking.pauseOffer,
                offer_id,
                sender=caller,
                errors=self.w.pause_offer(str(caller), offer_id),
            )
        else:
            self.h.tx(
                self.c.staking.resumeOffer,
                offer_id,
                sender=caller,
                errors=self.w.resume_offer(str(caller), offer_id),
            )

    def rule_set_availability(self, s="st_seed"):
        offer_id = 1 + s % 3
        o = self.w.offers[offer_id]
        cls, notice, guarantee = [
            (0, 0, 0),
            (0, 0, 9_500),
            (1, 600, 9_000),
            (1, 60, 0),
            (2, 0, 0),
            (1, 0, 0),
            (2, 5, 0),
        ][(s >> 2) % 7]
        caller = self.acct(o.provider if (s >> 5) % 4 else str(self.accts["rando"]))
        self.h.tx(
            self.c.staking.setOfferAvailability,
            offer_id,
            cls,
            notice,
            guarantee,
            sender=caller,
            errors=self.w.set_availability(str(caller), offer_id, cls, notice, guarantee),
        )

    # ---------------------------------------------------------------- jobs on the same offers

    def rule_create_job(self, gpus="st_gpus", accept="st_bool", s="st_seed"):
        w, h = self.w, self.h
        client = self.clients[s & 1]
        offer_id = 1 + (s >> 1) % 3
        max_gs = [60, 3_600, 100_000][(s >> 3) % 3]
        deadline = h.ts + 7 * DAY
        errs = w.create_job(str(client), offer_id, gpus, max_gs, deadline, h.ts)
        tx = h.tx(
            self.c.escrow.createJob, offer_id, max_gs, deadline, SPEC, gpus, U64, sender=client, errors=errs
        )
        if tx and accept:
            job_id = len(w.jobs)
            provider = self.acct(w.jobs[job_id].provider)
            h.tx(self.c.escrow.acceptJob, job_id, sender=provider, errors=w.accept_job(job_id, h.ts))

    def rule_cancel_job(self, s="st_seed"):
        cands = [j for j, job in self.w.jobs.items() if job.status == 1]
        if not cands:
            return
        job_id = cands[s % len(cands)]
        client = self.acct(self.w.jobs[job_id].client)
        self.w.cancel_job(job_id)
        self.h.tx(self.c.escrow.cancelJob, job_id, sender=client, errors=[])

    def rule_settle_job(self, s="st_seed"):
        w, h = self.w, self.h
        cands = [j for j, job in w.jobs.items() if job.status == 2]
        if not cands:
            return
        job = w.jobs[cands[s % len(cands)]]
        end = min(h.ts, job.deadline)
        gs = min(job.max_gs, (end - job.accepted_at) * job.gpus)
        r = Receipt(job.id, job.provider, gs, job.accepted_at, end, RESULT, 0)
        errs = w.settle_job(job.id, gs, job.accepted_at, end, h.ts)
        sig = sign_receipt(r, h.worker_keys[w.workers[job.provider]], h.jdom)
        att = sign_attestation([r], h.epoch, h.oracle_keys, h.jdom)
        h.tx(self.c.escrow.settle, r.as_tuple(), sig, att, sender=self.accts["rando"], errors=errs)

    def rule_release_job_gpus(self, s="st_seed"):
        w = self.w
        cands = (
            [j for j, job in w.jobs.items() if job.status == 3 and not job.gpus_released]
            or list(w.jobs)
            or [1]
        )
        job_id = cands[s % len(cands)]
        errs, n = w.release_job_gpus(str(self.accts["rando"]), [job_id])
        tx = self.h.tx(self.c.escrow.releaseJobGpus, [job_id], sender=self.accts["rando"], errors=errs)
        if tx:
            assert tx.return_value == n

    # ---------------------------------------------------------------- time

    def rule_sleep(self, seconds="st_sleep"):
        self.h.ts += seconds

    def rule_jump(self, s="st_seed"):
        """To just before or exactly at a boundary: acceptance deadline, billing end, expiry, dispute window, ruling
        deadline."""
        now, targets = self.h.ts, []
        for lease in self.w.leases.values():
            if lease.status == OPEN:
                targets += [lease.accept_by, lease.accept_by + 1]
            elif lease.status == RUNNING:
                end = lease.billing_end()
                targets += [end - 1, end, end + 1, end + L_GRACE - 1, end + L_GRACE]
                targets += [lease.expiry_at() - 1, lease.expiry_at()]
            elif lease.status == DISPUTED:
                end = lease.billing_end()
                targets += [end + L_GRACE, end + L_GRACE + 1]  # a ruling after the old expiry time
                targets += [lease.ruling_deadline, lease.ruling_deadline + 1]  # the last ruling, the first lapse
            elif lease.status == ENDED and lease.last_cp_at and not lease.released:
                targets += [lease.last_cp_at + L_DISPUTE_WINDOW, lease.last_cp_at + L_DISPUTE_WINDOW + 1]
        targets = sorted(t for t in set(targets) if t > now)
        self.h.ts = targets[s % len(targets)] if targets else now + 1 + s % 600


@pytest.mark.stateful
def test_lease_machine(
    state_machine,
    token,
    staking,
    escrow,
    lease_escrow,
    deployer,
    client,
    client2,
    provider,
    provider2,
    rando,
    arbiter,
    funded,
    worker_accounts,
    worker_keys,
    oracle_keys,
):
    from types import SimpleNamespace

    accts = {
        "deployer": deployer,
        "client": client,
        "client2": client2,
        "provider": provider,
        "provider2": provider2,
        "rando": rando,
        "arbiter": arbiter,
    }
    c = SimpleNamespace(token=token, staking=staking, escrow=escrow, lease=lease_escrow)
    providers = [provider, provider2]
    workers = {str(p): str(a) for p, a in zip(providers, worker_accounts)}
    for who in (client, client2, provider, provider2, rando):
        if token.balanceOf(who) == 0:
            token.transfer(who, CLIENT_FUNDS, {"from": deployer})
        for spender in (staking, escrow, lease_escrow):
            token.approve(spender, 2**256 - 1, {"from": who})
    for p, amount in zip(providers, STAKES):
        staking.stake(amount, {"from": p})
        staking.setWorker(workers[str(p)], {"from": p})
    for owner, gpus, price, cls, notice, guarantee in OFFERS:
        p = providers[owner]
        staking.addOffer("GPU", gpus, 80, price, "ipfs://offer", {"from": p})
        staking.setOfferAvailability(staking.offerCount(), cls, notice, guarantee, {"from": p})

    holders = list(
        dict.fromkeys(
            [str(a) for a in accts.values()]
            + [str(a) for a in worker_accounts]
            + [str(staking), str(escrow), str(lease_escrow), str(token)]
        )
    )
    w = LeaseWorld(
        token=str(token),
        staking=str(staking),
        escrow=str(escrow),
        lease_escrow=str(lease_escrow),
        workers=workers,
        min_stake=staking.minStake(),
    )
    for h_, b in zip(holders, batch([(token.balanceOf, (h_,)) for h_ in holders])):
        w.balances[h_] = b
    for p, amount in zip(providers, STAKES):
        w.bonded[str(p)] = amount
    for i, (owner, gpus, price, cls, notice, guarantee) in enumerate(OFFERS, start=1):
        w.offers[i] = Offer(str(providers[owner]), gpus, price, cls, notice, guarantee)
    assert sum(w.balances.values()) == token.totalSupply(), "tokens outside the machine's accounts"
    ts = web3.eth.get_block("latest").timestamp + 1
    h = LeaseHarness(c, w, ts, holders, providers, worker_keys, oracle_keys[:1], escrow.oracleSet()[2])
    by_worker = {str(a): a for a in worker_accounts}

    # Start every example with leases in each state and a job holding GPUs: open (1), running (2), running with a
    # checkpoint paid and disputed (3, provider2's dedicated offer), ended by a close and its final checkpoint (4), a
    # running job on offer 2. (The seeds pick those paths through the rules; see the rules for their bits.)
    ops = LeaseMachine.__new__(LeaseMachine)
    ops.template, ops.accts, ops.workers, ops.c = h, accts, by_worker, c
    ops.by_address = {str(a): a for a in accts.values()}
    ops.clients, ops.providers = [client, client2], providers
    ops.w, ops.h = w, h
    ops.rule_open(gpus=1, seconds=7200, end=0, accept=False, s=0)
    ops.rule_open(gpus=2, seconds=7200, end=0, accept=True, s=1)
    ops.rule_open(gpus=1, seconds=7200, end=0, accept=True, s=3 << 1)
    ops.rule_open(gpus=1, seconds=3600, end=0, accept=True, s=(2 << 1) | 1)
    ops.rule_create_job(gpus=1, accept=True, s=2)
    ops.rule_sleep(600)
    ops.rule_checkpoint(flaw=None, two=False, drain=False, s=8)
    ops.rule_close(s=16)
    ops.rule_checkpoint(flaw=None, two=False, drain=False, s=16)
    ops.rule_dispute(s=8)  # lease 3's checkpoint, by its client: the ruling waits (rule_reject_dispute)
    h.check_invariants()
    assert [w.leases[i].status for i in range(1, 5)] == [OPEN, RUNNING, DISPUTED, ENDED]
    assert w.leases[3].up >= 600 and w.jobs[1].status == 2

    state_machine(LeaseMachine, h, accts, by_worker, settings=machine_settings(step_count=12))
