"""Stateful fuzzing of ProviderStaking: three providers stake, ask to unstake and withdraw while time passes;
the real escrow slashes them (fraud reports, upheld disputes, timeouts), governance jails, releases and moves
the parameters, providers rotate worker keys.

Invariants after every step (tests/stateful/harness.py): the staking contract's balance equals the bonded and
unbonding stake of all providers; every account's balance, stakeOf, workerOf and totalSlashedOf equal the
model; tokens are conserved; parameters stay inside their hard caps, with the unbonding period longer than the
dispute window.
"""

import pytest
from hypothesis import strategies as st

from tests.fixtures.contracts import E18, MIN_STAKE
from tests.stateful.conftest import machine_settings
from tests.stateful.machine import ProtocolOps, deadline_in, max_gpu_seconds, prepare, seed, sleep_for
from tests.stateful.model import (
    COLLATERAL,
    COMPLETED,
    DISPUTE_SLASH,
    DISPUTE_WINDOW,
    MIN_STAKE_PARAM,
    TIMEOUT_SLASH,
    UNBONDING_PARAM,
    St,
)

# offer per provider: (GPUs, price per GPU-second)
OFFERS = [(4, 10**15), (1, 1), (8, 10**17)]


class StakingMachine(ProtocolOps):
    st_p = st.integers(min_value=0, max_value=2)
    st_seed = seed
    st_amount = st.one_of(
        st.sampled_from([0, 1, MIN_STAKE - 1, MIN_STAKE, 300 * E18, 5_000 * E18, "balance+1"]),
        st.integers(min_value=1, max_value=5_000 * E18),
    )
    st_max_gs = max_gpu_seconds
    st_deadline = deadline_in
    st_sleep = sleep_for
    st_bool = st.booleans()

    def __init__(self, template, accts, workers):
        self.template = template
        self.accts = accts
        self.workers = workers
        self.by_address = {str(a): a for a in accts.values()}
        self.providers = [accts["provider"], accts["provider2"], accts["provider3"]]
        self.provider_addrs = [str(p) for p in self.providers]
        self.token, self.staking, self.escrow = template.token, template.staking, template.escrow

    # ---------------------------------------------------------------- staking

    def rule_stake(self, p="st_p", amount="st_amount"):
        self.do_stake(self.providers[p], amount)

    def rule_request_unstake(self, p="st_p", s="st_seed"):
        self.do_request_unstake(self.providers[p], s)

    def rule_withdraw(self, p="st_p", wait="st_bool", s="st_seed"):
        """Withdraw, sometimes after waiting for the release time or the end of the dispute window."""
        unbonding = [q for q in range(3) if self.w.stakes[self.provider_addrs[q]].unbonding]
        if unbonding and s % 4 != 3:
            p = unbonding[p % len(unbonding)]
        self.do_withdraw(self.providers[p], wait, s >> 2)

    def rule_set_worker(self, p="st_p", s="st_seed"):
        self.do_set_worker(self.providers[p], s)

    def rule_jail(self, p="st_p", s="st_seed"):
        self.do_jail(self.providers[p], s)

    def rule_unjail(self, p="st_p", s="st_seed"):
        jailed = [q for q in range(3) if self.w.stakes[self.provider_addrs[q]].jailed]
        if jailed and s % 4 != 3:
            p = jailed[p % len(jailed)]
        self.do_unjail(self.providers[p], s >> 2)

    def rule_set_param(self, s="st_seed"):
        """Staking parameters (and an unknown one), the escrow dispute window they are tied to, and the
        escrow fractions that size slashes."""
        which = s % 7
        if which < 3:
            self.do_set_staking_param([MIN_STAKE_PARAM, UNBONDING_PARAM, UNBONDING_PARAM][which], s >> 3)
        elif which == 3:
            self.do_set_staking_param(2, s >> 3)
        elif which == 4:
            self.do_set_escrow_param(DISPUTE_WINDOW, s >> 3)
        else:
            self.do_set_escrow_param([COLLATERAL, TIMEOUT_SLASH, DISPUTE_SLASH][(s >> 3) % 3], s >> 5)

    # ---------------------------------------------------------------- time

    def rule_sleep(self, seconds="st_sleep"):
        self.do_sleep(seconds)

    def rule_jump(self, s="st_seed"):
        self.do_jump(s)

    # ---------------------------------------------------------------- escrow-driven locks and slashes

    def rule_open_job(self, p="st_p", max_gs="st_max_gs", deadline="st_deadline", accept="st_bool",
                      s="st_seed"):
        client = self.accts["client"] if s & 1 else self.accts["client2"]
        w = self.w
        eligible = [q for q in range(3) if not w.stakes[self.provider_addrs[q]].jailed
                    and w.stakes[self.provider_addrs[q]].bonded >= w.min_stake]
        if eligible and s % 4 != 3:  # mostly a provider that can take work
            p = eligible[p % len(eligible)]
        offer_id = p + 1 if s % 16 != 15 else 99
        job_id = self.do_create(client, offer_id, max_gs, deadline)
        if job_id and accept:
            self.do_accept(job_id, s >> 4)

    def rule_accept(self, s="st_seed"):
        self.do_accept(self.pick_job(s, (St.OPEN,)), s >> 12)

    def rule_cancel(self, s="st_seed"):
        self.do_cancel(self.pick_job(s, (St.OPEN,)), s >> 12)

    def rule_timeout(self, wait="st_bool", s="st_seed"):
        self.do_timeout(self.pick_job(s, (St.RUNNING,)), s >> 12, wait)

    def rule_fraud(self, s="st_seed"):
        self.do_fraud(self.pick_job(s, (St.RUNNING,)), s >> 12)

    def rule_settle(self, s="st_seed"):
        self.do_settle(self.pick_job(s, (St.RUNNING,)), s >> 12, COMPLETED)

    def rule_dispute(self, s="st_seed"):
        self.do_dispute(self.pick_job(s, (St.SETTLED,)), s >> 12)

    def rule_resolve(self, upheld="st_bool", s="st_seed"):
        self.do_resolve(self.pick_job(s, (St.DISPUTED,)), upheld, s >> 12)


@pytest.mark.stateful
def test_staking_machine(state_machine, token, staking, escrow, deployer, client, client2, provider, provider2,
                         provider3, rando, guardian, arbiter, treasury, funded, worker_accounts, worker_keys,
                         oracle_keys):
    accts = {"deployer": deployer, "client": client, "client2": client2, "provider": provider, "provider2": provider2,
                 "provider3": provider3, "rando": rando, "guardian": guardian, "arbiter": arbiter, "treasury": treasury}
    h = prepare(token, staking, escrow, accts, worker_accounts, worker_keys, oracle_keys[:1])
    w = h.world
    workers = {str(a): a for a in worker_accounts}
    wk = list(workers)
    providers = [provider, provider2, provider3]

    # Two days of unbonding against the one-day dispute window: settlements made while stake unbonds can still
    # hold the withdrawal back (ProviderStakingDisputeWindowOpen).
    h.tx(staking.setParameter, 1, 2 * 24 * 3600, sender=deployer,
         errors=w.set_staking_parameter(str(deployer), 1, 2 * 24 * 3600))
    # Offers need the minimum stake; publish them with the minimum at zero, then restore it.
    h.tx(staking.setParameter, 0, 0, sender=deployer, errors=w.set_staking_parameter(str(deployer), 0, 0))
    for p, (gpus, price) in zip(providers, OFFERS):
        h.tx(staking.addOffer, "GPU", gpus, 80, price, "ipfs://offer", sender=p,
             errors=w.add_offer(str(p), gpus, price))
    # Capacity (issue 11): the initial jobs that run beside the first ones on a provider get offers of their own
    # (4 for provider, 5 for provider3): a job holds all of its offer's GPUs.
    for p, (gpus, price) in ((providers[0], OFFERS[0]), (providers[2], OFFERS[2])):
        h.tx(staking.addOffer, "GPU", gpus, 80, price, "ipfs://offer", sender=p,
             errors=w.add_offer(str(p), gpus, price))
    h.tx(staking.setParameter, 0, MIN_STAKE, sender=deployer,
         errors=w.set_staking_parameter(str(deployer), 0, MIN_STAKE))
    # provider: staked, part of it unbonding, with a worker, a running and a settled job; provider2: a worker, no
    # stake; provider3: staked, part of it unbonding, with an open job and a disputed one.
    for p, amount, worker in ((provider, 1_000 * E18, wk[0]), (provider2, 0, wk[1]), (provider3, 300 * E18, wk[2])):
        if amount:
            h.tx(staking.stake, amount, sender=p, errors=w.stake(str(p), amount, h.ts))
        h.tx(staking.setWorker, worker, sender=p, errors=w.set_worker(str(p), worker))
    ops = ProtocolOps()
    ops.w, ops.h, ops.escrow, ops.staking, ops.token = w, h, escrow, staking, token
    ops.accts, ops.workers, ops.by_address = accts, workers, {str(a): a for a in accts.values()}
    ops.provider_addrs = [str(p) for p in providers]
    day = 24 * 3600
    assert ops.do_create(client, 1, 100_000, 7 * day) == 1  # running (provider)
    assert ops.do_create(client2, 3, 1_000, 3 * day) == 2  # open (provider3)
    assert ops.do_create(client2, 4, 3_600, 2 * day) == 3  # settled (provider)
    assert ops.do_create(client, 5, 100, 2 * day) == 4  # disputed (provider3)
    for job_id in (1, 3, 4):
        ops.do_accept(job_id, 0)
    h.sleep(600)
    ops.do_settle(3, 1 | 2 | (2 << 8), COMPLETED)
    ops.do_settle(4, 1 | 2 | (2 << 8), COMPLETED)
    ops.do_request_unstake(provider, 5)  # half of its free stake starts unbonding
    ops.do_request_unstake(provider3, 6)  # a third of its free stake starts unbonding
    ops.do_dispute(4, 1)
    h.check_invariants()
    assert [w.jobs[j].status for j in range(1, 5)] == [St.RUNNING, St.OPEN, St.SETTLED, St.DISPUTED]
    assert w.stakes[str(provider)].unbonding > 0 and w.stakes[str(provider3)].unbonding > 0
    assert w.books[str(provider3)].open_disputes == 1

    state_machine(StakingMachine, h, accts, workers, settings=machine_settings())
