"""The operations both state machines are made of. Each `do_*` method asks the model what must happen, sends
the transaction through the harness (which asserts the exact revert or the success), and checks the events
of a successful call against the model's numbers. The machines in test_*_machine.py pick which of these
to run and with what arguments."""

from __future__ import annotations

import copy
from collections import defaultdict

from hypothesis import strategies as st

from tests.helpers.signing import COMPLETED, FAILED_PROVIDER, Receipt
from tests.stateful.harness import batch
from tests.stateful.model import (
    DAY,
    DISPUTE_WINDOW,
    E18,
    ESCROW_CAPS,
    MAX_MIN_STAKE,
    MAX_UNBONDING_PERIOD,
    MIN_STAKE_PARAM,
    RULING_CAP,
    RULING_PARAM,
    U32,
    UNBONDING_PARAM,
    St,
    World,
)

RESULT_HASH = b"\xa5" * 32
SPEC_HASH = b"\x5a" * 32

seed = st.integers(min_value=0, max_value=2**32 - 1)
max_gpu_seconds = st.one_of(
    st.sampled_from([1, 1, 2, 5, 60, 3_600, 86_400, 1_000_000, U32, 0, U32 + 1]),
    st.integers(min_value=1, max_value=2_000_000),
)
deadline_in = st.sampled_from([1, 2, 30, 600, 3_600, 3_601, DAY, 7 * DAY, 365 * DAY, 0, 365 * DAY + 1])
sleep_for = st.sampled_from([1, 60, 599, 600, 3_600, DAY, 7 * DAY + 1, 30 * DAY])


def expect_event(got, want, what):
    """An event of a successful call carries exactly the model's numbers."""
    assert got == want, f"{what}: chain {got}, model {want}"


class ProtocolOps:
    """Mixed into each machine. Class attributes (set by the machine's __init__, which brownie calls on the
    class): `template` (a Harness holding the post-setup world), `accts` (role -> account), `workers`
    (address -> brownie account)."""

    # ------------------------------------------------------------------ per example

    def setup(self):
        t = self.template
        self.w = t.world.clone()
        self.h = copy.copy(t)
        self.h.world = self.w
        self.h.event_moves = defaultdict(int, t.event_moves)
        self.h.event_refunds = defaultdict(int, t.event_refunds)

    def invariant(self):
        self.h.check_invariants()

    def teardown_final(self):
        from tests.stateful.harness import print_stats

        print_stats()

    # ------------------------------------------------------------------ choosing

    def acct(self, address):
        """The brownie account that sends as `address`."""
        return self.workers.get(address) or self.by_address[address]

    def pick(self, options, s):
        return options[s % len(options)]

    def pick_job(self, s, statuses):
        """Mostly a job in one of `statuses`; one time in eight (or when there is none) any job or one that
        does not exist. (Zero, hypothesis's favourite, picks the ordinary case.)"""
        w = self.w
        candidates = [j for j, job in w.jobs.items() if job.status in statuses]
        if candidates and s % 8 != 7:
            return candidates[(s // 8) % len(candidates)]
        everything = list(w.jobs) + [len(w.jobs) + 1]
        return everything[(s // 8) % len(everything)]

    def caller_for_role(self, s, rightful):
        """`rightful` three times in four, otherwise someone else."""
        if s % 4 != 3:
            return rightful
        return self.pick([self.accts["rando"], self.accts["client"], self.accts["deployer"],
                          self.accts["guardian"]], s // 4)

    # ------------------------------------------------------------------ staking

    def do_stake(self, p, amount):
        if amount == "balance+1":
            amount = self.w.balances[str(p)] + 1
        errs = self.w.stake(str(p), amount, self.h.ts)
        tx = self.h.tx(self.staking.stake, amount, sender=p, errors=errs)
        if tx:
            expect_event(tx.events["Staked"]["bonded"], self.w.stakes[str(p)].bonded, "Staked.bonded")

    def do_request_unstake(self, p, s, amount=None):
        w = self.w
        stake, free = w.stakes[str(p)], w.free_stake(str(p))
        if amount is None:
            amount = [0, 1, free, free + 1, stake.bonded, free // 2, free // 3 + 1][s % 7]
        errs = w.request_unstake(str(p), amount, self.h.ts)
        tx = self.h.tx(self.staking.requestUnstake, amount, sender=p, errors=errs)
        if tx:
            ev = tx.events["UnstakeRequested"]
            expect_event((ev["amount"], ev["unbonding"], ev["releaseAt"]), (amount, stake.unbonding, stake.release_at),
                         "UnstakeRequested")

    def do_withdraw(self, p, wait=False, s=0):
        if wait:
            # time passes to the release time or the end of the dispute window, or the second before
            st_, until = self.w.stakes[str(p)], self.w.disputable_until(str(p))
            target = max(st_.release_at, until + 1) if s % 3 == 0 else [st_.release_at, until + 1][s % 2]
            self.h.ts = max(self.h.ts, target - (s >> 2) % 2)
        before = self.w.stakes[str(p)].unbonding
        errs = self.w.withdraw(str(p), self.h.ts)
        tx = self.h.tx(self.staking.withdraw, sender=p, errors=errs)
        if tx:
            expect_event(tx.events["Withdrawn"]["amount"], before, "Withdrawn.amount")

    def do_set_worker(self, p, s):
        options = list(self.workers) + [None]
        worker = options[s % len(options)]
        errs = self.w.set_worker(str(p), worker)
        self.h.tx(self.staking.setWorker, worker or "0x" + "00" * 20, sender=p, errors=errs)

    def do_jail(self, p, s):
        caller = self.caller_for_role(s, self.accts["deployer"])
        errs = self.w.jail(str(caller), str(p))
        self.h.tx(self.staking.jail, p, sender=caller, errors=errs)

    def do_unjail(self, p, s):
        caller = self.caller_for_role(s, self.accts["deployer"])
        errs = self.w.unjail(str(caller), str(p))
        self.h.tx(self.staking.unjail, p, sender=caller, errors=errs)

    # ------------------------------------------------------------------ governance parameters

    def param_value(self, contract, param, s):
        """A value for `param`: its bounds, just outside them, or a random value inside."""
        w = self.w
        if contract == "escrow":
            lo, hi = ESCROW_CAPS.get(param, RULING_CAP if param == RULING_PARAM else (0, 10**6))
            if param == DISPUTE_WINDOW:
                hi = w.dispute_window_max()
        elif param == MIN_STAKE_PARAM:
            lo, hi = 0, MAX_MIN_STAKE
        elif param == UNBONDING_PARAM:
            lo, hi = w.unbonding_min(), MAX_UNBONDING_PERIOD
        else:
            lo, hi = 0, 10**6
        if param == DISPUTE_WINDOW and contract == "escrow":
            extra = [w.unbonding_period - 1, w.unbonding_period]
        elif param == UNBONDING_PARAM and contract == "staking":
            extra = [w.params[DISPUTE_WINDOW], w.params[DISPUTE_WINDOW] + 1]
        elif param == MIN_STAKE_PARAM and contract == "staking":
            extra = [0, 100 * E18, 1_000 * E18]
        else:
            extra = []
        candidates = [lo, hi, lo + (s // 16) % (hi - lo + 1) if hi >= lo else lo, hi + 1] + extra
        if lo > 0:
            candidates.append(lo - 1)
        return candidates[s % len(candidates)]

    def do_set_escrow_param(self, param, s):
        caller = self.caller_for_role(s >> 20, self.accts["deployer"])
        value = self.param_value("escrow", param, s)
        errs = self.w.set_escrow_parameter(str(caller), param, value, self.h.ts)
        self.h.tx(self.escrow.setParameter, param, value, sender=caller, errors=errs)

    def do_set_staking_param(self, param, s):
        caller = self.caller_for_role(s >> 20, self.accts["deployer"])
        value = self.param_value("staking", param, s)
        errs = self.w.set_staking_parameter(str(caller), param, value)
        self.h.tx(self.staking.setParameter, param, value, sender=caller, errors=errs)

    # ------------------------------------------------------------------ jobs

    def do_create(self, client, offer_id, max_gs, deadline_delta):
        w, h = self.w, self.h
        deadline = h.ts + deadline_delta
        errs = w.create_job(str(client), offer_id, max_gs, deadline, h.ts)
        tx = h.tx(self.escrow.createJob, offer_id, max_gs, deadline, SPEC_HASH, *self.w.limits(offer_id), sender=client,
                  errors=errs)
        if tx:
            job = w.jobs[len(w.jobs)]
            ev = tx.events["JobCreated"]
            expect_event((ev["jobId"], ev["collateral"], ev["acceptBy"]), (job.id, job.collateral, job.accept_by),
                         "JobCreated")
            return job.id
        return None

    def do_accept(self, job_id, s):
        w = self.w
        job = w.jobs.get(job_id)
        provider = job.provider if job else str(self.accts["provider"])
        worker = w.stakes[provider].worker
        options = [provider, provider] + ([worker] if worker else []) + [str(self.accts["rando"])]
        caller = self.acct(self.pick(options, s))
        errs = w.accept_job(str(caller), job_id, self.h.ts)
        self.h.tx(self.escrow.acceptJob, job_id, sender=caller, errors=errs)

    def do_cancel(self, job_id, s):
        w = self.w
        job = w.jobs.get(job_id)
        provider = job.provider if job else str(self.accts["provider"])
        client = job.client if job else str(self.accts["client"])
        worker = w.stakes[provider].worker
        options = [client, client, provider, str(self.accts["rando"])] + ([worker] if worker else [])
        caller = self.acct(self.pick(options, s))
        before = w.balances.get(client, 0)
        errs = w.cancel_job(str(caller), job_id, self.h.ts)
        tx = self.h.tx(self.escrow.cancelJob, job_id, sender=caller, errors=errs)
        if tx:
            expect_event(tx.events["JobCancelled"]["refund"], w.balances[client] - before, "JobCancelled.refund")

    def do_timeout(self, job_id, s, wait=False):
        job = self.w.jobs.get(job_id)
        if wait and job and job.status == St.RUNNING:
            # time passes to exactly the claimable second, or the one before it
            self.h.ts = max(self.h.ts, job.deadline + job.grace - (s >> 8) % 2)
        caller = self.pick([self.accts["rando"], self.accts["client"], self.accts["provider"]], s)
        errs, result = self.w.claim_timeout(job_id, self.h.ts)
        tx = self.h.tx(self.escrow.claimTimeout, job_id, sender=caller, errors=errs)
        if tx:
            ev = tx.events["JobTimedOut"]
            expect_event((ev["refund"], ev["slashed"]), result, "JobTimedOut")

    def do_release_collateral(self, job_ids, s):
        caller = self.pick([self.accts["rando"], self.accts["provider"]], s)
        errs, total = self.w.release_collateral(str(caller), job_ids, self.h.ts)
        tx = self.h.tx(self.escrow.releaseCollateral, job_ids, sender=caller, errors=errs)
        if tx:
            expect_event(sum(ev["amount"] for ev in tx.events["CollateralReleased"]), total, "CollateralReleased")

    def do_claim_held(self, s):
        w = self.w
        candidates = list(w.held_claims) or [j for j, job in w.jobs.items() if job.status == St.TIMED_OUT] or [1]
        job_id = candidates[s % len(candidates)]
        errs, amount = w.claim_held_slash(job_id, self.h.ts)
        tx = self.h.tx(self.escrow.claimHeldSlash, job_id, sender=self.accts["rando"], errors=errs)
        if tx:
            expect_event(tx.events["HeldSlashClaimed"]["amount"], amount, "HeldSlashClaimed.amount")

    def do_fraud(self, job_id, s):
        caller = self.caller_for_role(s, self.accts["arbiter"])
        errs, result = self.w.report_fraud(str(caller), job_id)
        tx = self.h.tx(self.escrow.reportFraud, job_id, b"\xee" * 32, sender=caller, errors=errs)
        if tx:
            ev = tx.events["FraudReported"]
            expect_event((ev["slashed"], ev["compensation"]), result, "FraudReported")

    def do_collect_fraud_debt(self, provider, s):
        caller = self.caller_for_role(s, self.accts["rando"])
        errs, paid = self.w.collect_fraud_debt(str(provider), self.h.ts)
        tx = self.h.tx(self.escrow.collectFraudDebt, provider, sender=caller, errors=errs)
        if tx:
            got = [(ev["jobId"], ev["amount"], ev["remaining"]) for ev in tx.events["FraudDebtCollected"]]
            expect_event(got, paid, "FraudDebtCollected")

    def do_dispute(self, job_id, s):
        w = self.w
        job = w.jobs.get(job_id)
        client = job.client if job else str(self.accts["client"])
        caller = self.acct(client) if s % 5 else self.accts["rando"]
        errs = w.dispute(str(caller), job_id, self.h.ts)
        tx = self.h.tx(self.escrow.dispute, job_id, b"\xd1" * 32, sender=caller, errors=errs)
        if tx:
            expect_event(tx.events["JobDisputed"]["bond"], w.jobs[job_id].bond, "JobDisputed.bond")

    def do_resolve(self, job_id, upheld, s):
        caller = self.caller_for_role(s, self.accts["arbiter"])
        errs, result = self.w.resolve_dispute(str(caller), job_id, upheld, self.h.ts)
        tx = self.h.tx(self.escrow.resolveDispute, job_id, upheld, sender=caller, errors=errs)
        if tx:
            ev = tx.events["DisputeResolved"]
            expect_event((ev["upheld"], ev["slashed"], ev["compensation"]), (upheld, *result), "DisputeResolved")

    def do_lapse(self, job_id, wait, s):
        """Anyone lapses a dispute; with `wait`, time first goes to the ruling deadline or the second after it."""
        w = self.w
        job = w.jobs.get(job_id)
        if wait and job is not None and job.status == St.DISPUTED:
            self.h.ts = max(self.h.ts, job.ruling_deadline + (s & 1))
        caller = self.pick([self.accts["rando"], self.accts["client"], self.accts["arbiter"]], s >> 1)
        errs = w.lapse_dispute(job_id, self.h.ts)
        tx = self.h.tx(self.escrow.closeUnruledDispute, job_id, sender=caller, errors=errs)
        if tx:
            ev = tx.events["DisputeLapsed"]
            expect_event((ev["bond"], ev["frozen"]), (w.jobs[job_id].bond, w.jobs[job_id].frozen), "DisputeLapsed")

    def do_claim_refunds(self, job_ids, s):
        caller = self.pick([self.accts["rando"], self.accts["client"], self.accts["client2"]], s)
        errs, total = self.w.claim_refunds(str(caller), job_ids)
        tx = self.h.tx(self.escrow.claimRefunds, job_ids, sender=caller, errors=errs)
        if tx:
            expect_event(sum(ev["amount"] for ev in tx.events["RefundClaimed"]), total, "RefundClaimed, total")

    def do_withdraw_earnings(self, p):
        errs, amount = self.w.withdraw_earnings(str(p))
        tx = self.h.tx(self.escrow.withdrawEarnings, sender=p, errors=errs)
        if tx:
            expect_event(tx.events["EarningsWithdrawn"]["amount"], amount, "EarningsWithdrawn.amount")

    def do_withdraw_fees(self, s):
        caller = self.pick([self.accts["rando"], self.accts["treasury"], self.accts["provider"]], s)
        errs, amount = self.w.withdraw_fees()
        tx = self.h.tx(self.escrow.withdrawFees, sender=caller, errors=errs)
        if tx:
            expect_event(tx.events["FeesWithdrawn"]["amount"], amount, "FeesWithdrawn.amount")

    def do_send_stray(self, s):
        """Someone transfers tokens straight to the escrow (no escrow function runs)."""
        sender = self.pick([self.accts["rando"], self.accts["client"], self.accts["provider"]], s)
        amount = [1, 10**15, 10**18 + 7][(s >> 4) % 3]
        errs = self.w.send_stray(str(sender), amount)
        self.h.tx(self.token.transfer, self.escrow, amount, sender=sender, errors=errs)

    def do_sweep(self, s):
        caller = self.caller_for_role(s, self.accts["deployer"])
        errs, amount = self.w.sweep_excess(str(caller))
        tx = self.h.tx(self.escrow.sweepExcess, sender=caller, errors=errs)
        if tx:
            expect_event(tx.events["ExcessSwept"]["amount"], amount, "ExcessSwept.amount")

    def do_pause(self, s):
        caller = self.caller_for_role(s, self.accts["guardian"])
        self.h.tx(self.escrow.pause, sender=caller, errors=self.w.pause(str(caller)))

    def do_unpause(self, s):
        rightful = self.accts["guardian"] if s & 16 else self.accts["deployer"]
        caller = self.caller_for_role(s, rightful)
        self.h.tx(self.escrow.unpause, sender=caller, errors=self.w.unpause(str(caller)))

    # ------------------------------------------------------------------ receipts

    FLAWS = ("wrong_key", "future_end", "early_start", "too_many", "wrong_provider", "bad_outcome")

    def make_receipt(self, job_id, s, outcome, flaw=None):
        """A receipt for `job_id` and the worker that signs it. Honest unless `flaw` names what is wrong."""
        w, now = self.w, self.h.ts
        job = w.jobs.get(job_id)
        if job is None or job.status != St.RUNNING:
            provider = job.provider if job else str(self.accts["provider"])
            start = job.accepted_at if job and job.accepted_at else now - 10
            r = Receipt(job_id, provider, 1, start, start + 1, RESULT_HASH, outcome)
            return r, w.stakes[provider].worker or next(iter(self.workers))
        cap = min(now, job.deadline)  # an honest run ends by the deadline
        start = job.accepted_at if s & 1 else job.accepted_at + (s >> 1) % (cap - job.accepted_at + 1)
        end = cap if s & 2 else start + (s >> 2) % (cap - start + 1)
        limit = 0 if end == start else (end - start + 5) * job.gpus
        gs = [0, 1, min(job.max_gs, limit), limit, (s >> 3) % (limit + 1), min(job.max_gs + 1, limit)][(s >> 8) % 6]
        provider, signer = job.provider, w.stakes[job.provider].worker
        if flaw == "wrong_key":
            signer = self.pick([a for a in self.workers if a != signer], s >> 12)
        elif flaw == "future_end":
            end = now + 1 + (s >> 12) % 100
        elif flaw == "early_start":
            start = job.accepted_at - 1 - (s >> 12) % 100
        elif flaw == "too_many":
            gs = limit + 1 + (s >> 12) % 1000
        elif flaw == "wrong_provider":
            provider = self.pick([p for p in self.provider_addrs if p != job.provider], s >> 12)
        elif flaw == "bad_outcome":
            outcome = 3 + (s >> 12) % 253
        return Receipt(job_id, provider, gs, start, end, RESULT_HASH, outcome), signer

    def do_settle(self, job_id, s, outcome, flaw=None):
        r, signer = self.make_receipt(job_id, s, outcome, flaw)
        errs, result = self.w.settle(r, signer, self.h.ts)
        caller = self.pick([self.accts["rando"], self.accts["provider"], self.accts["client"]], s >> 16)
        tx = self.h.tx(self.escrow.settle, r.as_tuple(), self.h.sign_receipt(r, signer), self.h.attest([r]),
                       sender=caller, errors=errs)
        if tx:
            ev = tx.events["JobSettled"]
            expect_event((ev["jobId"], ev["gpuSeconds"], ev["payout"], ev["fee"], ev["outcome"]),
                         (r.jobId, *result, r.outcome), "JobSettled")
            withheld = self.w.jobs[r.jobId].withheld
            got = tx.events["PayWithheld"]["amount"] if "PayWithheld" in tx.events else 0
            expect_event((got,), (withheld,), "PayWithheld")

    def do_settle_batch(self, job_ids, s, flaw_at=None, flaw=None):
        receipts, signers = [], []
        for i, job_id in enumerate(job_ids):
            outcome = [COMPLETED, COMPLETED, 1, FAILED_PROVIDER][(s >> (2 * i)) % 4]
            r, signer = self.make_receipt(job_id, s >> i, outcome, flaw if i == flaw_at else None)
            receipts.append(r)
            signers.append(signer)
        errs, results = self.w.settle_batch(receipts, signers, self.h.ts)
        sigs = [self.h.sign_receipt(r, signer) for r, signer in zip(receipts, signers)]
        attestation = self.h.attest(receipts) if receipts else self.h.attest([Receipt(1, ZERO_ADDR, 0, 0, 0,
                                                                                      RESULT_HASH, 0)])
        tx = self.h.tx(self.escrow.settleBatch, [r.as_tuple() for r in receipts], sigs, attestation,
                       sender=self.accts["rando"], errors=errs)
        if tx:
            settled = [(job, res) for kind, job, res in results if kind == "settled"]
            skipped = [(job, status) for kind, job, status in results if kind == "skipped"]
            got_settled = [(ev["jobId"], (ev["gpuSeconds"], ev["payout"], ev["fee"]))
                           for ev in tx.events["JobSettled"]] if "JobSettled" in tx.events else []
            expect_event(got_settled, settled, "JobSettled in the batch")
            got_skipped = [(ev["jobId"], (ev["status"], ev["reason"])) for ev in tx.events["SettlementSkipped"]] \
                if "SettlementSkipped" in tx.events else []
            expect_event(got_skipped, skipped, "SettlementSkipped in the batch")

    # ------------------------------------------------------------------ time

    def do_sleep(self, seconds):
        self.h.sleep(seconds)

    def do_jump(self, s):
        """Jump to just before or exactly at a boundary the model knows about."""
        w, now = self.w, self.h.ts
        targets = []
        for p, st_ in w.stakes.items():
            if st_.unbonding:
                targets += [st_.release_at - 1, st_.release_at]
                until = w.disputable_until(p)
                if until:
                    targets += [until, until + 1]
        for job in w.jobs.values():
            if job.status == St.OPEN:
                targets += [job.accept_by, job.accept_by + 1]
            elif job.status == St.RUNNING:
                claim = job.deadline + job.grace
                targets += [claim - 1, claim]
            elif job.status == St.SETTLED:
                closes = job.settled_at + w.params[DISPUTE_WINDOW]
                targets += [closes, closes + 1]
            elif job.status == St.DISPUTED:
                targets += [job.ruling_deadline, job.ruling_deadline + 1]
        targets = sorted(t for t in set(targets) if t > now)
        if targets:
            self.h.ts = targets[s % len(targets)]
        else:
            self.h.sleep(1 + s % 3600)


ZERO_ADDR = "0x0000000000000000000000000000000000000000"


def initial_world(token, staking, escrow, accts, holders) -> World:
    """The model of the freshly deployed suite, read once from the chain."""
    params, min_stake, unbonding, supply = batch(
        [(escrow.parameters, ()), (staking.minStake, ()), (staking.unbondingPeriod, ()), (token.totalSupply, ())])
    balances = batch([(token.balanceOf, (h,)) for h in holders])
    w = World(token=str(token), staking=str(staking), escrow=str(escrow), governance=str(accts["deployer"]),
              guardian=str(accts["guardian"]), arbiter=str(accts["arbiter"]), treasury=str(accts["treasury"]),
              params=list(params), min_stake=min_stake, unbonding_period=unbonding, total_supply=supply)
    for h, b in zip(holders, balances):
        w.balances[str(h)] = b
    assert sum(balances) == supply, "some tokens are held outside the machine's accounts"
    return w


def prepare(token, staking, escrow, accts, worker_accounts, worker_keys, oracle_keys, extra_holders=()):
    """Fund and approve everyone, model the deployed suite and return a harness whose clock is the next block's
    timestamp. Setup actions then go through the harness like the machine's own steps."""
    from brownie import chain, web3

    from tests.fixtures.contracts import CLIENT_FUNDS
    from tests.helpers.signing import domain
    from tests.stateful.harness import Harness

    deployer = accts["deployer"]
    for name in ("client", "client2", "provider", "provider2", "provider3", "rando"):
        if name in accts and token.balanceOf(accts[name]) == 0:
            token.transfer(accts[name], CLIENT_FUNDS, {"from": deployer})
    for name in ("client", "client2", "provider", "provider2", "provider3", "rando"):
        if name in accts:
            token.approve(staking, 2**256 - 1, {"from": accts[name]})
            token.approve(escrow, 2**256 - 1, {"from": accts[name]})
    holders = list(dict.fromkeys([str(a) for a in accts.values()] + [str(a) for a in worker_accounts]
                                 + [str(staking), str(escrow), str(token)] + [str(a) for a in extra_holders]))
    world = initial_world(token, staking, escrow, accts, holders)
    epoch = escrow.oracleSet()[2]
    ts = web3.eth.get_block("latest").timestamp + 1
    providers = [str(accts[n]) for n in ("provider", "provider2", "provider3") if n in accts]
    return Harness(token, staking, escrow, world, ts, holders, providers, worker_keys,
                   domain(chain.id, escrow.address), oracle_keys, epoch)
