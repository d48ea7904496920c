"""Stateful fuzzing of JobEscrow: two clients and two providers open jobs (from 1 GPU-second at 1 wei to the
largest the offers allow), accept, cancel, settle them one by one and in batches (random subsets, duplicates,
already-settled jobs, sometimes one bad receipt), claim timeouts and refunds, dispute and resolve, report fraud,
withdraw earnings and fees; the guardian pauses and unpauses, governance sets parameters in and out of their
caps, providers unstake and rotate worker keys, and time jumps to the boundaries of every window.

Invariants after every step (tests/stateful/harness.py), from on-chain views alone: the escrow's balance is at
least open deposits + unclaimed refunds + bonds of disputed jobs + provider earnings + accrued fees + held slashes,
and its running total owed() equals that sum and the model's (tokens sent to it directly are the excess, which
only governance's sweep takes); the staking
balance equals bonded + unbonding stake; tokens are conserved; each job's money moves once (JobSettled,
JobTimedOut, JobCancelled and FraudReported at most once per job, RefundClaimed at most once); every parameter
is inside its hard cap. Then every balance, job, provider record and parameter is compared with the model.
Pausing never traps funds: the model does not let the pause block cancel, timeout, refund, dispute or withdraw
calls, so while paused each of them must still succeed whenever it would otherwise.
"""

import pytest
from hypothesis import strategies as st

from tests.fixtures.contracts import PROVIDER_STAKE
from tests.stateful.conftest import machine_settings
from tests.stateful.machine import ProtocolOps, deadline_in, max_gpu_seconds, prepare, seed, sleep_for
from tests.stateful.model import COLLATERAL, COMPLETED, DISPUTE_WINDOW, FAILED_CLIENT, FAILED_PROVIDER, St

# (owner index, GPUs, price per GPU-second); offer 5 is withdrawn during setup, offer 6 never exists.
OFFERS = [(0, 4, 10**15), (0, 1, 1), (1, 2, 3 * 10**15), (1, 8, 1), (1, 1, 10**15)]
N_OFFERS = len(OFFERS) + 1
SHIELD_OFFERS = (7, 8)  # one per provider, added after the others (see prepare_escrow)
SHIELD_PRICE = 10**15


class EscrowMachine(ProtocolOps):
    st_seed = seed
    st_max_gs = max_gpu_seconds
    st_deadline = deadline_in
    st_sleep = sleep_for
    st_bool = st.booleans()
    st_offer = st.integers(min_value=1, max_value=N_OFFERS)
    st_param = st.integers(min_value=0, max_value=9)
    st_outcome = st.sampled_from([COMPLETED, COMPLETED, FAILED_CLIENT, FAILED_PROVIDER])
    st_flaw = st.sampled_from([None] * 6 + list(ProtocolOps.FLAWS))
    st_picks = st.lists(st.integers(min_value=0, max_value=2**16), min_size=1, max_size=6)

    def __init__(self, template, accts, workers):
        self.template = template
        self.accts = accts
        self.workers = workers
        self.by_address = {str(a): a for a in accts.values()}
        self.providers = [accts["provider"], accts["provider2"]]
        self.provider_addrs = [str(p) for p in self.providers]
        self.clients = [accts["client"], accts["client2"]]
        self.token, self.staking, self.escrow = template.token, template.staking, template.escrow

    def jobs_from(self, picks, statuses):
        """Job ids chosen by `picks`: mostly jobs in `statuses`, sometimes any job or an unknown one; picks
        may repeat a job."""
        return [self.pick_job(p, statuses) for p in picks]

    # ---------------------------------------------------------------- jobs

    def rule_create(self, offer="st_offer", max_gs="st_max_gs", deadline="st_deadline", accept="st_bool",
                    s="st_seed"):
        job_id = self.do_create(self.clients[s & 1], offer, max_gs, deadline)
        if job_id and accept:
            self.do_accept(job_id, s >> 1)

    def rule_accept(self, s="st_seed"):
        self.do_accept(self.pick_job(s, (St.OPEN,)), s >> 12)

    def rule_cancel(self, s="st_seed"):
        self.do_cancel(self.pick_job(s, (St.OPEN,)), s >> 12)

    def rule_settle(self, outcome="st_outcome", flaw="st_flaw", s="st_seed"):
        self.do_settle(self.pick_job(s, (St.RUNNING,)), s >> 12, outcome, flaw)

    def rule_settle_short(self, s="st_seed"):
        """The provider unstakes its free stake just before its receipt lands (as an attacker times it), so the
        reserve cannot be raised and the pay beyond the collateral is withheld (issue 8, third review)."""
        job_id = self.pick_job(s, (St.RUNNING,))
        if job_id not in self.w.jobs or s & 8:
            # A fresh job that can run long enough to bill in full (often the case the attack needs).
            created = self.do_create(self.clients[s & 1], 1 + (s >> 4) % (N_OFFERS - 1), 1 + (s >> 8) % 500_000,
                                     7 * 86_400)
            if created:
                self.do_accept(created, 0)
                job_id = created
        job = self.w.jobs.get(job_id)
        if job is not None:
            # Long enough a run to bill the job in full (never past its deadline), so it pays beyond its collateral.
            run_for = -(-job.max_gs // job.gpus)
            if job.accepted_at + run_for > self.h.ts:
                self.do_sleep(min(job.accepted_at + run_for, job.deadline) - self.h.ts)
            # All the stake it may unstake: free stake less what open disputes freeze.
            unstakeable = max(self.w.free_stake(job.provider) - self.w.books[job.provider].frozen, 0)
            if unstakeable:
                self.do_request_unstake(next(p for p in self.providers if str(p) == job.provider), 0, unstakeable)
        self.do_settle(job_id, 0b11 | (2 << 8), COMPLETED)  # the whole run, billed in full (make_receipt)
        if s & 16:
            # The client disputes at once; the ruling (resolve, lapse) draws on or releases the withheld pay.
            self.do_dispute(job_id, 1)  # by the client
            if s & 32:
                self.do_resolve(job_id, bool(s & 64), 0)

    def rule_settle_batch(self, picks="st_picks", flaw="st_flaw", s="st_seed"):
        """Random subsets of running jobs, with duplicates, settled or unknown jobs mixed in; sometimes one
        bad receipt, which must revert the whole batch."""
        job_ids = self.jobs_from(picks, (St.RUNNING,)) if s % 32 != 31 else []
        self.do_settle_batch(job_ids, s, flaw_at=(s % len(job_ids)) if job_ids else None, flaw=flaw)

    def rule_timeout(self, wait="st_bool", s="st_seed"):
        """Claim a timeout, sometimes after time passes to the claimable second (or the one before)."""
        self.do_timeout(self.pick_job(s, (St.RUNNING,)), s >> 12, wait)

    def rule_claim_refunds(self, picks="st_picks", s="st_seed"):
        self.do_claim_refunds(self.jobs_from(picks, SETTLED_OR_REFUNDABLE), s)

    def rule_dispute(self, s="st_seed"):
        self.do_dispute(self.pick_job(s, (St.SETTLED,)), s >> 12)

    def rule_resolve(self, upheld="st_bool", s="st_seed"):
        self.do_resolve(self.pick_job(s, (St.DISPUTED,)), upheld, s >> 12)

    def rule_lapse(self, wait="st_bool", s="st_seed"):
        self.do_lapse(self.pick_job(s, (St.DISPUTED,)), wait, s >> 12)

    def rule_fraud(self, s="st_seed"):
        self.do_fraud(self.pick_job(s, (St.RUNNING,)), s >> 12)

    def rule_fraud_shielded(self, s="st_seed"):
        """A fraud report front-run by an unaccepted job that locks the provider's free stake (outside review of
        2026-12-03): the slash falls short, and the rest becomes a fraud debt. The shield is cancelled after."""
        job_id = self.pick_job(s, (St.RUNNING,))
        job = self.w.jobs.get(job_id)
        shield = None
        if job is not None and job.status == St.RUNNING:
            offer_id = SHIELD_OFFERS[self.provider_addrs.index(job.provider)]
            free = max(self.w.free_stake(job.provider) - self.w.books[job.provider].frozen, 0)
            bps = self.w.params[COLLATERAL]
            if free and bps:
                price = self.w.offers[offer_id].price
                max_gs = min(max(free * 10_000 // bps // price, 1), 2**32 - 1)
                shield = self.do_create(self.clients[s % 2], offer_id, max_gs, 7 * 24 * 3600)
        self.do_fraud(job_id, s >> 12)
        if shield is not None and s % 3:
            self.do_cancel(shield, 0)
            if s % 2:  # and the debt collected at once, as far as the freed stake goes
                self.do_collect_fraud_debt(self.acct(job.provider), s >> 20)

    def rule_collect_fraud_debt(self, s="st_seed"):
        """Anyone collects a provider's fraud debts (one with none, one time in four)."""
        owing = [p for p in self.provider_addrs if self.w.books[p].debts]
        provider = owing[s % len(owing)] if owing and s % 4 else self.pick(self.provider_addrs, s)
        owed = self.w.owed(provider)
        if owed and s % 3 == 0:  # the provider stakes more first (say, to be unjailed): the debt takes it
            self.do_stake(self.acct(provider), (s >> 8) % (2 * owed) + 1)
        self.do_collect_fraud_debt(self.acct(provider), s >> 12)

    def rule_release_collateral(self, picks="st_picks", wait="st_bool", s="st_seed"):
        job_ids = self.jobs_from(picks, (St.SETTLED,))
        if wait and job_ids and job_ids[0] in self.w.jobs:
            job = self.w.jobs[job_ids[0]]
            self.h.ts = max(self.h.ts, job.settled_at + job.window + (s >> 8) % 2)
        self.do_release_collateral(job_ids, s)

    def rule_claim_held_slash(self, s="st_seed"):
        self.do_claim_held(s)

    # ---------------------------------------------------------------- money out

    def rule_withdraw_earnings(self, s="st_seed"):
        who = self.providers[s % 2] if s % 5 else self.accts["rando"]
        self.do_withdraw_earnings(who)

    def rule_withdraw_fees(self, s="st_seed"):
        self.do_withdraw_fees(s)

    def rule_stray_tokens(self, sweep="st_bool", s="st_seed"):
        """Tokens sent to the escrow directly, or governance (or someone else) sweeping the excess: the sweep
        takes exactly what was sent, never a token the escrow owes."""
        if sweep:
            self.do_sweep(s)
        else:
            self.do_send_stray(s)

    def rule_unstake_or_withdraw(self, s="st_seed"):
        """Providers leave: locked collateral and open disputes must hold their stake back."""
        p = self.providers[s % 2]
        if s & 2:
            self.do_request_unstake(p, s >> 2)
        else:
            self.do_withdraw(p, bool(s & 4), s >> 3)

    def rule_set_worker(self, s="st_seed"):
        """Rotating the worker key voids receipts the old key signed."""
        self.do_set_worker(self.providers[s % 2], s >> 1)

    # ---------------------------------------------------------------- guardian and governance

    def rule_pause(self, s="st_seed"):
        self.do_pause(s)

    def rule_unpause(self, s="st_seed"):
        self.do_unpause(s)

    def rule_set_param(self, param="st_param", s="st_seed"):
        self.do_set_escrow_param(param, s)

    # ---------------------------------------------------------------- time

    def rule_sleep(self, seconds="st_sleep"):
        self.do_sleep(seconds)

    def rule_jump(self, s="st_seed"):
        self.do_jump(s)


SETTLED_OR_REFUNDABLE = (St.SETTLED, St.DISPUTED, St.UPHELD, St.REJECTED)


@pytest.mark.stateful
def test_escrow_machine(state_machine, token, staking, escrow, deployer, client, client2, provider, provider2,
                        rando, guardian, arbiter, treasury, funded, worker_accounts, worker_keys, oracle_keys):
    accts = {"deployer": deployer, "client": client, "client2": client2, "provider": provider, "provider2": provider2,
                 "rando": rando, "guardian": guardian, "arbiter": arbiter, "treasury": treasury}
    h = prepare(token, staking, escrow, accts, worker_accounts, worker_keys, oracle_keys[:1])
    w = h.world
    workers = {str(a): a for a in worker_accounts}
    wk = list(workers)
    providers = [provider, provider2]

    # The shortest unbonding the dispute window allows, so that withdrawals meet still-disputable settlements.
    unbonding = w.params[DISPUTE_WINDOW] + 600
    h.tx(staking.setParameter, 1, unbonding, sender=deployer,
         errors=w.set_staking_parameter(str(deployer), 1, unbonding))
    for p, worker in zip(providers, wk):
        h.tx(staking.stake, PROVIDER_STAKE, sender=p, errors=w.stake(str(p), PROVIDER_STAKE, h.ts))
        h.tx(staking.setWorker, worker, sender=p, errors=w.set_worker(str(p), worker))
    for owner, gpus, price in OFFERS:
        p = providers[owner]
        h.tx(staking.addOffer, "GPU", gpus, 80, price, "ipfs://offer", sender=p, errors=w.add_offer(str(p), gpus, price))
    h.tx(staking.withdrawOffer, 5, sender=provider2, errors=w.withdraw_offer(str(provider2), 5))
    # Capacity (issue 11): the initial settled job runs beside the open one on offer 1, so it gets offer 6, a copy.
    h.tx(staking.addOffer, "GPU", OFFERS[0][1], 80, OFFERS[0][2], "ipfs://offer", sender=provider,
         errors=w.add_offer(str(provider), OFFERS[0][1], OFFERS[0][2]))
    # Offers 7 and 8, one per provider, used only by rule_fraud_shielded: room for a shield job beside running work.
    for p in providers:
        h.tx(staking.addOffer, "GPU", 255, 80, SHIELD_PRICE, "ipfs://offer", sender=p,
             errors=w.add_offer(str(p), 255, SHIELD_PRICE))

    # Start every example with jobs in each live state: open, running (two), settled, disputed.
    ops = ProtocolOps()
    ops.w, ops.h, ops.escrow, ops.staking, ops.token = w, h, escrow, staking, token
    ops.accts, ops.workers, ops.by_address = accts, workers, {str(a): a for a in accts.values()}
    ops.provider_addrs = [str(p) for p in providers]
    day = 24 * 3600
    assert ops.do_create(client, 1, 3_600, 2 * day) == 1  # open
    assert ops.do_create(client2, 3, 7_200, 3 * day) == 2  # running
    assert ops.do_create(client, 2, 1, 900) == 3  # running: 1 GPU-second at 1 wei (min run time 600 s)
    assert ops.do_create(client2, 6, 10_000, 2 * day) == 4  # settled
    assert ops.do_create(client, 4, 50_000, 2 * day) == 5  # disputed
    for job_id in (2, 3, 4, 5):
        ops.do_accept(job_id, 0)
    # provider starts unbonding part of its free stake; job 4 settles after that, so its dispute window
    # outlasts the unbonding period and holds the withdrawal back.
    ops.do_request_unstake(provider, 6)
    h.sleep(900)
    ops.do_settle(4, 1 | 2 | (4 << 8), COMPLETED)  # a partial bill: random GPU-seconds up to the limit
    ops.do_settle(5, 1 | 2 | (2 << 8), COMPLETED)
    ops.do_dispute(5, 1)
    h.check_invariants()
    assert [w.jobs[j].status for j in range(1, 6)] == [St.OPEN, St.RUNNING, St.RUNNING, St.SETTLED, St.DISPUTED]
    assert w.disputable_until(str(provider)) > w.stakes[str(provider)].release_at

    state_machine(EscrowMachine, h, accts, workers, settings=machine_settings())
