"""A pure-Python model of the gpusettle staking contract and job escrow, written from PROTOCOL.md and the
interfaces' NatSpec. The state machines run every call against it first: the model either names the custom
errors the call may revert with (more than one when several checks fail at once and the interface does not
fix their order) or applies the call's effects, including every token movement, so that the on-chain state
can be compared with it field by field after each step.

Errors are kept as (signature, args) pairs; the harness turns them into the exact revert strings brownie
reports.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from dataclasses import dataclass, field
from enum import IntEnum

BPS = 10_000
U32 = 2**32 - 1
U64 = 2**64 - 1
DAY = 24 * 3600
HOUR = 3600
MAX_JOB_DURATION = 365 * DAY
METER_TOLERANCE_SECONDS = 5
MIN_RUN_TIME = 600  # JobEscrow's default minimum run time (parameter 8)
MIN_RUN_PARAM, MIN_RUN_CAP = 8, (300, 24 * 3600)
# Issue 8, lower finding 1: the arbiter's ruling period (parameter 9, read with rulingPeriod()), fixed per dispute.
RULING_PARAM, RULING_CAP, RULING_PERIOD = 9, (DAY, 60 * DAY), 14 * DAY
WORKER_BUDGET_BPS = 2_500  # until a provider sets its own, its worker key may commit this share of bonded per day
E18 = 10**18

# Parameter order of IJobEscrow.setParameter / parameters().
FEE, COLLATERAL, TIMEOUT_SLASH, DISPUTE_SLASH, DISPUTE_WINDOW, ACCEPT_WINDOW, TIMEOUT_GRACE, DISPUTE_BOND = range(8)
# Hard caps (IJobEscrow.setParameter, JobEscrow._bounds): (min, max); the dispute window is further bounded
# below the staking unbonding period.
ESCROW_CAPS = {
    FEE: (0, 1_000),
    COLLATERAL: (0, BPS),
    TIMEOUT_SLASH: (0, BPS),
    DISPUTE_SLASH: (0, BPS),
    DISPUTE_WINDOW: (HOUR, 30 * DAY),
    ACCEPT_WINDOW: (60, 7 * DAY),
    TIMEOUT_GRACE: (300, 7 * DAY),
    DISPUTE_BOND: (0, 1_000_000 * E18),
}
MIN_STAKE_PARAM, UNBONDING_PARAM = 0, 1
MAX_MIN_STAKE = 10_000_000 * E18
MIN_UNBONDING_PERIOD = HOUR
MAX_UNBONDING_PERIOD = 90 * DAY

COMPLETED, FAILED_CLIENT, FAILED_PROVIDER = 0, 1, 2


class St(IntEnum):
    NONE = 0
    OPEN = 1
    RUNNING = 2
    SETTLED = 3
    CANCELLED = 4
    TIMED_OUT = 5
    DISPUTED = 6
    UPHELD = 7
    REJECTED = 8
    FRAUD = 9
    LAPSED = 10  # no ruling by the ruling deadline


SETTLED_LIKE = (St.SETTLED, St.DISPUTED, St.UPHELD, St.REJECTED, St.LAPSED)


def collateral_of(deposit: int, bps: int) -> int:
    """Collateral is the job value times the fraction, rounded up (the smallest job still locks something)."""
    return -(-deposit * bps // BPS)


# IJobEscrow.SkipReason: a batch receipt skipped as not running, or for the error a single settle reverts with.
SKIP_NOT_RUNNING = 0
SKIP_REASON_OF = {
    "JobEscrowSettlementTooLate": 1,
    "JobEscrowWrongProvider": 2,
    "JobEscrowInvalidWorkerSignature": 3,
    "JobEscrowImpossibleTimes": 4,
    "JobEscrowEndAfterDeadline": 5,
    "JobEscrowImpossibleGpuSeconds": 6,
    "JobEscrowInvalidOutcome": 7,
}


def E(signature: str, *args) -> tuple:
    """A custom error, e.g. E("JobEscrowUnknownJob(uint256)", 7)."""
    return (signature, tuple(args))


def unauthorized(caller: str, role: str) -> tuple:
    return E("Unauthorized(address,bytes32)", caller, role)


def wrong_status(job_id: int, status: int, expected: St) -> tuple:
    if status == St.NONE:
        return E("JobEscrowUnknownJob(uint256)", job_id)
    return E("JobEscrowWrongStatus(uint256,uint8,uint8)", job_id, int(status), int(expected))


@dataclass
class Stake:
    bonded: int = 0
    unbonding: int = 0
    release_at: int = 0
    jailed: bool = False
    worker: str | None = None
    slashed: int = 0


@dataclass
class Book:
    locked: int = 0
    earnings: int = 0
    served: int = 0
    completed: int = 0  # Completed receipts that billed something
    failed: int = 0  # FailedProvider receipts only
    value_paid: int = 0  # what clients paid, before the fee
    max_window: int = 0  # the longest dispute window of any job opened on the provider's offers
    timed_out: int = 0
    disputes_lost: int = 0
    open_disputes: int = 0  # disputes only (providerRecord); the escrow's own count adds 1 while fraud debts are owed
    frozen: int = 0  # what the open disputes' rulings can slash beyond their reserves, and the fraud debts
    debts: list = field(default_factory=list)  # job ids owed a fraud debt, oldest first
    last_settled_at: int = 0  # unbonded stake stays until this settlement's dispute window closes


@dataclass
class Offer:
    provider: str
    price: int
    gpus: int
    active: bool = True
    reserved: int = 0  # GPUs held by open or running jobs (issue 11: capacity is never sold twice)


@dataclass
class Job:
    id: int
    client: str
    provider: str
    offer: int
    price: int
    gpus: int
    orig_max: int
    cbps: int
    status: St
    accept_by: int
    deadline: int
    max_gs: int = 0  # drops to the billed seconds once the refund is claimed
    accepted_at: int = 0
    billed: int = 0
    settled_at: int = 0
    bond: int = 0
    released: bool = False  # the settled job's collateral (its dispute reserve) went back to free stake
    gpus_released: bool = False  # the job's GPUs went back to its offer (settlement leaves them reserved)
    raised: bool = False  # at settlement the reserve was raised from the collateral to what the job paid
    withheld: int = 0  # else, pay kept in the escrow until the window closes (at most the payout)
    raised_part: int = 0  # and what free stake did cover, added to the reserve beside the collateral
    # fixed at acceptance (issue 8, lower finding 4): the fee and grace in force when the provider accepted
    fee_bps: int = 0
    grace: int = 0
    # terms fixed at creation
    window: int = 0
    tslash: int = 0
    dslash: int = 0
    # fixed when disputed
    ruling_deadline: int = 0
    frozen: int = 0
    # a fraud report's slash the stake could not cover: owed to the client, frozen until collected
    debt: int = 0

    def __post_init__(self):
        self.max_gs = self.orig_max

    @property
    def deposit(self) -> int:
        return self.price * self.orig_max

    @property
    def collateral(self) -> int:
        return collateral_of(self.deposit, self.cbps)

    @property
    def refundable(self) -> int:
        return (self.max_gs - self.billed) * self.price if self.status in SETTLED_LIKE else 0

    @property
    def held(self) -> int:
        """What the escrow holds for this job: the open deposit, the unclaimed refund, a pending bond."""
        if self.status in (St.OPEN, St.RUNNING):
            return self.deposit
        held = self.refundable + self.withheld
        if self.status == St.DISPUTED:
            held += self.bond
        return held


@dataclass
class World:
    token: str
    staking: str
    escrow: str
    governance: str
    guardian: str
    arbiter: str
    treasury: str
    params: list[int]
    min_stake: int
    unbonding_period: int
    balances: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    stakes: dict[str, Stake] = field(default_factory=lambda: defaultdict(Stake))
    books: dict[str, Book] = field(default_factory=lambda: defaultdict(Book))
    offers: dict[int, Offer] = field(default_factory=dict)
    jobs: dict[int, Job] = field(default_factory=dict)
    fees: int = 0
    paused: bool = False
    total_supply: int = 0
    # how many times each job's money moved (settle, timeout, cancel, fraud) and its refund was claimed
    moves: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    refunds: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    min_run: int = MIN_RUN_TIME
    ruling_period: int = RULING_PERIOD
    # (since, fee bps, grace): each change of the fee or the grace applies to jobs accepted from the next second
    fee_terms: list = field(default_factory=list)
    initial_fee_terms: tuple = ()  # the deployment's (fee bps, grace), kept at the first change
    retired_workers: set = field(default_factory=set)  # (provider, replaced worker key): never named again by it
    # provider -> [day, collateral its worker key committed that day]
    budgets: dict[str, list] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    # provider -> [held, claims, epoch, until, deadline]: timeout slashes taken while a dispute was open or a settled
    # job was disputable; released once `until` (the windows' end) has passed and none is open, or `deadline` (the
    # rulings they were held for) has passed whatever is open
    holds: dict[str, list] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0, 0, 0]))
    # provider -> the latest ruling deadline of any dispute against it so far
    latest_ruling: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # (provider, epoch) -> [held at release, claims, still unpaid]
    released: dict[tuple, list] = field(default_factory=dict)
    # job -> (claim on its provider's hold, epoch)
    held_claims: dict[int, tuple] = field(default_factory=dict)
    # tokens sent to the escrow directly (a plain transfer): owed to nobody, until governance sweeps them
    stray: int = 0

    def clone(self) -> World:
        return copy.deepcopy(self)

    # ------------------------------------------------------------ helpers

    def move(self, src: str, dst: str, amount: int) -> None:
        assert self.balances[src] >= amount, "model: transfer beyond balance"
        self.balances[src] -= amount
        self.balances[dst] += amount

    def pull_errors(self, owner: str, amount: int) -> list[tuple]:
        """transferFrom with an unlimited allowance: only the balance can fail."""
        if self.balances[owner] < amount:
            return [E("ERC20InsufficientBalance(address,uint256,uint256)", owner, self.balances[owner], amount)]
        return []

    def is_worker_or_provider(self, caller: str, provider: str) -> bool:
        return caller == provider or caller == self.stakes[provider].worker

    def free_stake(self, provider: str) -> int:
        s = self.stakes[provider]
        return max(s.bonded - self.books[provider].locked, 0)

    def owed(self, provider: str) -> int:
        """What `provider` owes for fraud, in all."""
        return sum(self.jobs[j].debt for j in self.books[provider].debts)

    def slash(self, provider: str, amount: int, recipient: str, keep_debts: bool = True) -> int:
        """Take up to `amount`: free bonded stake first, then unbonding; never the collateral locked for the
        provider's other work, nor (but for the debts' own collection) what it owes for fraud; never more than
        exists."""
        s = self.stakes[provider]
        keep = self.books[provider].locked + (self.owed(provider) if keep_debts else 0)
        from_bonded = min(amount, max(s.bonded - keep, 0))
        from_unbonding = min(amount - from_bonded, s.unbonding)
        s.bonded -= from_bonded
        s.unbonding -= from_unbonding
        taken = from_bonded + from_unbonding
        s.slashed += taken
        self.move(self.staking, recipient, taken)
        return taken

    def penalize(self, provider: str, amount: int, cap: int, job: Job | None = None,
                 reserve: int = 0, from_hold: bool = True) -> tuple[int, int]:
        """Slash into the escrow, keep up to `cap` for the client, the rest to the treasury's fees; jail. With
        withheld pay or fraud debts owed: the job's own reserve (free stake now; a fraud report's: its collateral),
        then its withheld pay (what is left of it goes to the provider's earnings), then the provider's other free and
        unbonding stake beyond the fraud debts; without: free then unbonding stake. Only then, for a dispute's ruling
        (`from_hold`; not a fraud report), the hold of other clients' timeout slashes."""
        withheld = job.withheld if job is not None else 0
        if withheld or self.owed(provider):
            slashed = self.slash(provider, min(amount, reserve), self.escrow, keep_debts=False)
            take = min(amount - slashed, withheld)
            slashed += take
            if job is not None:
                job.withheld -= take
                self.release_withheld(job)
            if amount > slashed:
                slashed += self.slash(provider, amount - slashed, self.escrow)
        else:
            slashed = self.slash(provider, amount, self.escrow)
        if from_hold:
            hold = self.holds[provider]
            drawn = min(amount - slashed, hold[0])
            hold[0] -= drawn
            slashed += drawn
        compensation = min(slashed, cap)
        self.fees += slashed - compensation
        self.stakes[provider].jailed = True
        return slashed, compensation

    def disputable_until(self, provider: str) -> int:
        """Until when a settled job of `provider` can still be disputed (the longest window of its jobs applies)."""
        last = self.books[provider].last_settled_at
        return last + self.books[provider].max_window if last else 0

    def dispute_window_max(self) -> int:
        return min(ESCROW_CAPS[DISPUTE_WINDOW][1], self.unbonding_period - 1)

    def unbonding_min(self) -> int:
        return max(MIN_UNBONDING_PERIOD, self.params[DISPUTE_WINDOW] + 1)

    def escrow_liabilities(self) -> int:
        return (sum(j.held for j in self.jobs.values()) + sum(b.earnings for b in self.books.values())
                + self.fees + sum(h[0] for h in self.holds.values()) + sum(r[2] for r in self.released.values()))

    def send_stray(self, sender: str, amount: int) -> list[tuple]:
        """A plain token transfer to the escrow: no function of it runs, so nobody is owed the tokens."""
        if self.balances[sender] < amount:
            return [E("ERC20InsufficientBalance(address,uint256,uint256)", sender, self.balances[sender], amount)]
        self.move(sender, self.escrow, amount)
        self.stray += amount
        return []

    def sweep_excess(self, caller: str) -> tuple[list[tuple], int | None]:
        """Governance sends the balance beyond what the escrow owes to the treasury; never an owed token."""
        if caller != self.governance:
            return [unauthorized(caller, "governance")], None
        owed = self.escrow_liabilities()
        if self.stray == 0:
            return [E("JobEscrowNothingToSweep(uint256,uint256)", self.balances[self.escrow], owed)], None
        amount, self.stray = self.stray, 0
        self.move(self.escrow, self.treasury, amount)
        return [], amount

    def release_hold(self, provider: str, now: int) -> None:
        hold = self.holds[provider]
        if hold[1] and now > hold[3]:
            self.released[(provider, hold[2])] = [hold[0], hold[1], hold[0]]
            self.holds[provider] = [0, 0, hold[2] + 1, 0, 0]

    def limits(self, offer_id: int) -> tuple[int, int]:
        """The client's limits as a client reads them: all of the offer's GPUs at its price."""
        offer = self.offers.get(offer_id)
        return (offer.gpus, offer.price) if offer else (1, U64)

    def worker_budget(self, provider: str, now: int) -> tuple[int, int]:
        day, used = self.budgets[provider]
        return (used if day == now // DAY else 0), self.stakes[provider].bonded * WORKER_BUDGET_BPS // BPS

    # ------------------------------------------------------------ staking

    def stake(self, provider: str, amount: int, now: int) -> list[tuple]:
        if amount == 0:
            return [E("ProviderStakingZeroAmount()")]
        errs = self.pull_errors(provider, amount)
        if errs:
            return errs
        self.stakes[provider].bonded += amount
        self.move(provider, self.staking, amount)
        return []

    def request_unstake(self, provider: str, amount: int, now: int) -> list[tuple]:
        s, b = self.stakes[provider], self.books[provider]
        errs = []
        if amount == 0:
            errs.append(E("ProviderStakingZeroAmount()"))
        # An open dispute keeps only what its ruling can slash beyond its (locked) reserve.
        free = max(self.free_stake(provider) - b.frozen, 0)
        if amount > free:
            errs.append(E("ProviderStakingInsufficientFreeStake(address,uint256,uint256)", provider, free, amount))
        if errs:
            return errs
        s.bonded -= amount
        s.unbonding += amount
        s.release_at = now + self.unbonding_period
        return []

    def withdraw(self, provider: str, now: int) -> list[tuple]:
        s, b = self.stakes[provider], self.books[provider]
        if s.unbonding == 0:
            return [E("ProviderStakingNothingToWithdraw(address)", provider)]
        errs = []
        if now < s.release_at:
            errs.append(E("ProviderStakingStillUnbonding(address,uint256,uint256)", provider, s.release_at, now))
        if b.frozen and self.free_stake(provider) < b.frozen:
            errs.append(E("ProviderStakingDisputeFrozen(address,uint256,uint256)", provider, b.frozen,
                          self.free_stake(provider)))
        until = self.disputable_until(provider)
        if now <= until:
            errs.append(E("ProviderStakingDisputeWindowOpen(address,uint256,uint256)", provider, until, now))
        if errs:
            return errs
        self.move(self.staking, provider, s.unbonding)
        s.unbonding = 0
        s.release_at = 0
        return []

    def set_worker(self, provider: str, worker: str | None) -> list[tuple]:
        if worker is None:
            return [E("ZeroAddress()")]
        if (provider, worker) in self.retired_workers:
            return [E("ProviderStakingWorkerRetired(address)", worker)]
        previous = self.stakes[provider].worker
        if previous is not None and previous != worker:
            self.retired_workers.add((provider, previous))
        self.stakes[provider].worker = worker
        return []

    def add_offer(self, provider: str, gpus: int, price: int) -> list[tuple]:
        errs = []
        if gpus == 0:
            errs.append(E("ProviderStakingInvalidGpuCount(uint256)", gpus))
        if price == 0:
            errs.append(E("ProviderStakingInvalidPrice(uint256,uint256)", price, U64))
        bonded = self.stakes[provider].bonded
        if bonded < self.min_stake:
            errs.append(E("ProviderStakingBelowMinimum(address,uint256,uint256)", provider, bonded, self.min_stake))
        if errs:
            return errs
        self.offers[len(self.offers) + 1] = Offer(provider, price, gpus)
        return []

    def withdraw_offer(self, caller: str, offer_id: int) -> list[tuple]:
        offer = self.offers.get(offer_id)
        if offer is None:
            return [E("ProviderStakingUnknownOffer(uint256)", offer_id)]
        if offer.provider != caller:
            return [E("ProviderStakingNotOfferOwner(uint256,address,address)", offer_id, caller, offer.provider)]
        if not offer.active:
            return [E("ProviderStakingOfferInactive(uint256)", offer_id)]
        offer.active = False
        return []

    def jail(self, caller: str, provider: str) -> list[tuple]:
        if caller not in (self.governance, self.escrow):
            return [unauthorized(caller, "escrowOrGovernance")]
        self.stakes[provider].jailed = True
        return []

    def unjail(self, caller: str, provider: str) -> list[tuple]:
        errs = []
        if caller != self.governance:
            errs.append(unauthorized(caller, "governance"))
        if not self.stakes[provider].jailed:
            errs.append(E("ProviderStakingNotJailed(address)", provider))
        if errs:
            return errs
        self.stakes[provider].jailed = False
        return []

    def set_staking_parameter(self, caller: str, param: int, value: int) -> list[tuple]:
        errs = []
        if caller != self.governance:
            errs.append(unauthorized(caller, "governance"))
        sig = "ProviderStakingParameterOutOfRange(uint8,uint256,uint256,uint256)"
        if param == MIN_STAKE_PARAM:
            if value > MAX_MIN_STAKE:
                errs.append(E(sig, param, value, 0, MAX_MIN_STAKE))
        elif param == UNBONDING_PARAM:
            lowest = self.unbonding_min()
            if value < lowest or value > MAX_UNBONDING_PERIOD:
                errs.append(E(sig, param, value, lowest, MAX_UNBONDING_PERIOD))
        else:
            errs.append(E(sig, param, value, 0, 0))
        if errs:
            return errs
        if param == MIN_STAKE_PARAM:
            self.min_stake = value
        else:
            self.unbonding_period = value
        return []

    # ------------------------------------------------------------ escrow: opening and accepting

    def create_job(self, client: str, offer_id: int, max_gs: int, deadline: int, now: int) -> list[tuple]:
        errs = []
        if self.paused:
            errs.append(E("EnforcedPause()"))
        if max_gs == 0 or max_gs > U32:
            errs.append(E("JobEscrowInvalidMaxGpuSeconds(uint256)", max_gs))
        latest = now + MAX_JOB_DURATION
        if deadline <= now or deadline > latest:
            errs.append(E("JobEscrowInvalidDeadline(uint256,uint256,uint256)", deadline, now, latest))
        offer = self.offers.get(offer_id)
        if offer is None:
            errs.append(E("ProviderStakingUnknownOffer(uint256)", offer_id))
            return errs
        p = offer.provider
        s = self.stakes[p]
        if not offer.active:
            errs.append(E("ProviderStakingOfferInactive(uint256)", offer_id))
        if s.jailed:
            errs.append(E("ProviderStakingJailed(address)", p))
        if s.bonded < self.min_stake:
            errs.append(E("ProviderStakingBelowMinimum(address,uint256,uint256)", p, s.bonded, self.min_stake))
        if s.worker is None:
            errs.append(E("ProviderStakingNoWorker(address)", p))
        if errs or max_gs > U32:
            return errs
        if client in (p, s.worker):
            errs.append(E("JobEscrowSelfDealing(address,address,address)", client, p, s.worker))
        if deadline < now + self.min_run:
            errs.append(E("JobEscrowRunTimeTooShort(uint256,uint256)", deadline, now + self.min_run))
        if errs:
            return errs
        deposit = offer.price * max_gs
        collateral = collateral_of(deposit, self.params[COLLATERAL])
        # What open disputes froze for their rulings is not free for new collateral either.
        free = max(self.free_stake(p) - self.books[p].frozen, 0)
        if collateral > free:
            errs.append(E("JobEscrowInsufficientFreeStake(address,uint256,uint256)", p, free, collateral))
        gpus = offer.gpus  # the machine asks for all of the offer's GPUs (limits())
        if offer.reserved + gpus > offer.gpus:
            errs.append(E("ProviderStakingCapacityExceeded(uint256,uint256,uint256,uint256)", offer_id, gpus,
                          offer.reserved, offer.gpus))
        errs += self.pull_errors(client, deposit)
        if errs:
            return errs
        offer.reserved += gpus
        job_id = len(self.jobs) + 1
        self.jobs[job_id] = Job(
            id=job_id, client=client, provider=p, offer=offer_id, price=offer.price, gpus=offer.gpus,
            orig_max=max_gs, cbps=self.params[COLLATERAL], status=St.OPEN,
            accept_by=min(now + self.params[ACCEPT_WINDOW], deadline - self.min_run), deadline=deadline,
            window=self.params[DISPUTE_WINDOW], tslash=self.params[TIMEOUT_SLASH], dslash=self.params[DISPUTE_SLASH],
        )
        self.books[p].locked += collateral
        self.books[p].max_window = max(self.books[p].max_window, self.params[DISPUTE_WINDOW])
        self.move(client, self.escrow, deposit)
        return []

    def job_status(self, job_id: int) -> St:
        job = self.jobs.get(job_id)
        return job.status if job else St.NONE

    def accept_job(self, caller: str, job_id: int, now: int) -> list[tuple]:
        errs = []
        if self.paused:
            errs.append(E("EnforcedPause()"))
        status = self.job_status(job_id)
        if status != St.OPEN:
            return errs + [wrong_status(job_id, status, St.OPEN)]
        job = self.jobs[job_id]
        if not self.is_worker_or_provider(caller, job.provider):
            errs.append(E("JobEscrowNotProviderOrWorker(uint256,address)", job_id, caller))
        worker = self.stakes[job.provider].worker
        if job.client == worker:
            errs.append(E("JobEscrowSelfDealing(address,address,address)", job.client, job.provider, worker))
        if now > job.accept_by:
            errs.append(E("JobEscrowAcceptanceClosed(uint256,uint256,uint256)", job_id, job.accept_by, now))
        stake = self.stakes[job.provider]
        if stake.jailed:
            errs.append(E("JobEscrowProviderJailed(address)", job.provider))
        if stake.bonded < self.min_stake:  # fell below the minimum since the job opened
            errs.append(E("JobEscrowBelowMinimumStake(address,uint256,uint256)", job.provider, stake.bonded,
                          self.min_stake))
        by_worker = caller != job.provider
        if by_worker and not errs:
            used, budget = self.worker_budget(job.provider, now)
            if used + job.collateral > budget:
                errs.append(E("JobEscrowWorkerBudgetExceeded(address,uint256,uint256,uint256)", job.provider, used,
                              budget, job.collateral))
        if errs:
            return errs
        if by_worker:
            used, _ = self.worker_budget(job.provider, now)
            self.budgets[job.provider] = [now // DAY, used + job.collateral]
        job.status = St.RUNNING
        job.accepted_at = now
        job.fee_bps, job.grace = self.fee_terms_at(now)
        return []

    def fee_terms_at(self, t: int) -> tuple[int, int]:
        """The fee and grace a job accepted at `t` keeps: the last change in force at t, else the deployment's."""
        for since, fee, grace in reversed(self.fee_terms):
            if since <= t:
                return fee, grace
        return self.initial_fee_terms or (self.params[FEE], self.params[TIMEOUT_GRACE])

    def cancel_job(self, caller: str, job_id: int, now: int) -> list[tuple]:
        status = self.job_status(job_id)
        if status != St.OPEN:
            return [wrong_status(job_id, status, St.OPEN)]
        job = self.jobs[job_id]
        if now <= job.accept_by and caller != job.client and not self.is_worker_or_provider(caller, job.provider):
            return [E("JobEscrowCancelNotAllowed(uint256,address,uint256)", job_id, caller, job.accept_by)]
        job.status = St.CANCELLED
        self.release_gpus(job)
        self.books[job.provider].locked -= job.collateral
        self.move(self.escrow, job.client, job.deposit)
        self.moves[job_id] += 1
        return []

    # ------------------------------------------------------------ escrow: settlement

    def receipt_errors(self, r, sig_signer: str | None, now: int) -> list[tuple]:
        """What makes a receipt for a running job invalid (the job's status is checked by the caller)."""
        job = self.jobs[r.jobId]
        errs = []
        # From deadline + grace on the job belongs to the timeout path: receipts are refused.
        timeout_at = job.deadline + job.grace
        if now >= timeout_at:
            errs.append(E("JobEscrowSettlementTooLate(uint256,uint256,uint256)", r.jobId, timeout_at, now))
        if r.provider != job.provider:
            return errs + [E("JobEscrowWrongProvider(uint256,address,address)", r.jobId, job.provider, r.provider)]
        worker = self.stakes[job.provider].worker
        if sig_signer != worker or worker is None:
            errs.append(E("JobEscrowInvalidWorkerSignature(uint256,address,address)", r.jobId,
                          sig_signer or ZERO, worker or ZERO))
        if r.startTime < job.accepted_at or r.endTime < r.startTime or r.endTime > now:
            errs.append(E("JobEscrowImpossibleTimes(uint256,uint256,uint256,uint256,uint256)", r.jobId,
                          r.startTime, r.endTime, job.accepted_at, now))
        else:
            if r.endTime > job.deadline:  # work after the deadline was not paid for
                errs.append(E("JobEscrowEndAfterDeadline(uint256,uint256,uint256)", r.jobId, r.endTime, job.deadline))
            wall = r.endTime - r.startTime  # the tolerance covers skew of a run that took time, not no time at all
            limit = 0 if wall == 0 else (wall + METER_TOLERANCE_SECONDS) * job.gpus
            if r.gpuSeconds > limit:
                errs.append(E("JobEscrowImpossibleGpuSeconds(uint256,uint256,uint256)", r.jobId, r.gpuSeconds, limit))
        if r.outcome > FAILED_PROVIDER:
            errs.append(E("JobEscrowInvalidOutcome(uint256,uint8)", r.jobId, r.outcome))
        return errs

    def _settle_one(self, r, now: int) -> tuple[int, int, int]:
        job = self.jobs[r.jobId]
        book = self.books[job.provider]
        if r.outcome == FAILED_PROVIDER:
            # Issue 8, lower finding 7: the provider pays what its silence would have cost it. The collateral is
            # unlocked (no dispute reserve: nothing was paid) and the timeout slash taken as claim_timeout takes it,
            # judged before this settlement stamps the provider's last settlement.
            book.locked -= job.collateral
            job.released = True
            self.timeout_slash(job, now)
        billed = 0 if r.outcome == FAILED_PROVIDER else min(r.gpuSeconds, job.max_gs)
        paid = billed * job.price
        fee = paid * job.fee_bps // BPS
        book.earnings += paid - fee
        book.served += billed  # the collateral stays locked: the job's dispute reserve
        book.last_settled_at = now
        book.value_paid += paid
        if r.outcome == COMPLETED:
            book.completed += 1 if billed else 0
        elif r.outcome == FAILED_PROVIDER:
            book.failed += 1
        # the reserve is raised to what the job paid when free stake covers the difference; else the pay beyond the
        # collateral (at most the payout) is withheld until the window closes
        extra = paid - job.collateral
        free = max(self.free_stake(job.provider) - book.frozen, 0)  # an open dispute's freeze is not free
        if extra > 0 and extra <= free:
            book.locked += extra
            job.raised = True
        elif extra > 0:
            # what free stake covers is raised, the rest of the pay (at most the payout) withheld
            book.locked += free
            job.raised_part = free
            job.withheld = min(extra - free, paid - fee)
            book.earnings -= job.withheld
            book.value_paid -= job.withheld
        self.fees += fee
        job.status = St.SETTLED
        job.billed = billed
        job.settled_at = now
        self.moves[r.jobId] += 1
        return billed, paid - fee, fee

    def settle(self, r, sig_signer: str | None, now: int) -> tuple[list[tuple], tuple | None]:
        status = self.job_status(r.jobId)
        if status != St.RUNNING:
            return [wrong_status(r.jobId, status, St.RUNNING)], None
        errs = self.receipt_errors(r, sig_signer, now)
        if errs:
            return errs, None
        return [], self._settle_one(r, now)

    def settle_batch(self, receipts, signers, now: int) -> tuple[list[tuple], list | None]:
        """A receipt that cannot settle is skipped, with (status, reason), and changes nothing: its job is not running
        (now, after the batch's earlier receipts), or `settle` would refuse it (the reason names its first error, in
        the contract's order of checks). The rest settle (audit lower 2)."""
        if not receipts:
            return [E("JobEscrowEmptyBatch()")], None
        results = []
        for r, signer in zip(receipts, signers):
            if self.job_status(r.jobId) != St.RUNNING:
                results.append(("skipped", r.jobId, (int(self.job_status(r.jobId)), SKIP_NOT_RUNNING)))
                continue
            errs = self.receipt_errors(r, signer, now)
            if errs:
                results.append(("skipped", r.jobId, (int(St.RUNNING), SKIP_REASON_OF[errs[0][0].split("(")[0]])))
                continue
            results.append(("settled", r.jobId, self._settle_one(r, now)))
        return [], results

    # ------------------------------------------------------------ escrow: after the fact

    def claim_timeout(self, job_id: int, now: int) -> tuple[list[tuple], tuple | None]:
        status = self.job_status(job_id)
        if status != St.RUNNING:
            return [wrong_status(job_id, status, St.RUNNING)], None
        job = self.jobs[job_id]
        claimable_at = job.deadline + job.grace
        if now < claimable_at:
            return [E("JobEscrowTimeoutNotReached(uint256,uint256,uint256)", job_id, claimable_at, now)], None
        job.status = St.TIMED_OUT
        self.release_gpus(job)
        book = self.books[job.provider]
        book.locked -= job.collateral
        book.timed_out += 1
        slashed = self.timeout_slash(job, now)
        self.move(self.escrow, job.client, job.deposit)
        self.moves[job_id] += 1
        return [], (job.deposit, slashed)

    def timeout_slash(self, job: Job, now: int) -> int:
        """The job's timeout fraction of its collateral (already unlocked), from the provider to the client: a
        timeout's and a FailedProvider receipt's alike. Held in the escrow while a dispute is open or a settled job
        of the provider is disputable."""
        book = self.books[job.provider]
        amount = job.collateral * job.tslash // BPS
        until = self.disputable_until(job.provider)
        # its own collateral (just unlocked) backs it, before any fraud debt
        if book.open_disputes == 0 and now > until:
            return self.slash(job.provider, amount, job.client, keep_debts=False)
        # held for the pending rulings, or the rulings the provider's disputable settlements may bring
        slashed = self.slash(job.provider, amount, self.escrow, keep_debts=False)
        hold = self.holds[job.provider]
        hold[0] += slashed
        hold[1] += slashed
        hold[3] = max(hold[3], until)
        hold[4] = max(hold[4], until + self.ruling_period, self.latest_ruling[job.provider])
        self.held_claims[job.id] = (slashed, hold[2])
        return slashed

    def claim_refunds(self, caller: str, job_ids: list[int]) -> tuple[list[tuple], int | None]:
        trial = self.clone()
        total = 0
        for job_id in job_ids:
            status = trial.job_status(job_id)
            if status not in SETTLED_LIKE:
                return [wrong_status(job_id, status, St.SETTLED)], None
            job = trial.jobs[job_id]
            refund = job.refundable
            if refund == 0:
                continue
            job.max_gs = job.billed
            total += refund
            trial.move(trial.escrow, job.client, refund)
            trial.refunds[job_id] += 1
        if total == 0:
            return [E("JobEscrowNothingToClaim(address)", caller)], None
        self.__dict__.update(trial.__dict__)
        return [], total

    def dispute(self, caller: str, job_id: int, now: int) -> list[tuple]:
        status = self.job_status(job_id)
        if status != St.SETTLED:
            return [wrong_status(job_id, status, St.SETTLED)]
        job = self.jobs[job_id]
        errs = []
        if caller != job.client:
            errs.append(E("JobEscrowNotClient(uint256,address,address)", job_id, caller, job.client))
        closes_at = job.settled_at + job.window
        if now > closes_at:
            errs.append(E("JobEscrowDisputeWindowClosed(uint256,uint256,uint256)", job_id, closes_at, now))
        if errs:
            return errs
        bond = self.params[DISPUTE_BOND]
        errs = self.pull_errors(caller, bond)
        if errs:
            return errs
        job.status = St.DISPUTED
        job.bond = bond
        slash = job.deposit * job.dslash // BPS
        reserve = 0 if job.released else self.reserve_of(job)
        job.frozen = max(slash - reserve, 0)
        job.ruling_deadline = now + self.ruling_period
        self.latest_ruling[job.provider] = max(self.latest_ruling[job.provider], job.ruling_deadline)
        self.books[job.provider].open_disputes += 1
        self.books[job.provider].frozen += job.frozen
        self.move(caller, self.escrow, bond)
        return []

    def lapse_dispute(self, job_id: int, now: int) -> list[tuple]:
        """Anyone, after the ruling deadline: the bond back to the client, reserve and freeze released."""
        status = self.job_status(job_id)
        if status != St.DISPUTED:
            return [wrong_status(job_id, status, St.DISPUTED)]
        job = self.jobs[job_id]
        if now <= job.ruling_deadline:
            return [E("JobEscrowRulingDeadlineNotReached(uint256,uint256,uint256)", job_id, job.ruling_deadline, now)]
        book = self.books[job.provider]
        book.frozen -= job.frozen
        book.open_disputes -= 1
        job.status = St.LAPSED
        self.release_reserve(job)
        self.release_withheld(job)
        self.release_gpus(job)
        if book.open_disputes == 0 and not book.debts:  # the escrow counts owed fraud debts as one more dispute
            self.release_hold(job.provider, now)
        self.move(self.escrow, job.client, job.bond)
        return []

    def resolve_dispute(self, caller: str, job_id: int, upheld: bool, now: int) -> tuple[list[tuple], tuple | None]:
        if caller != self.arbiter:
            return [unauthorized(caller, "arbiter")], None
        status = self.job_status(job_id)
        if status != St.DISPUTED:
            return [wrong_status(job_id, status, St.DISPUTED)], None
        job = self.jobs[job_id]
        if now > job.ruling_deadline:
            return [E("JobEscrowRulingDeadlinePassed(uint256,uint256,uint256)", job_id, job.ruling_deadline, now)], None
        book = self.books[job.provider]
        book.frozen -= job.frozen
        book.open_disputes -= 1
        settled_failed = job.released  # a disputed job's reserve was released before its ruling only by FailedProvider
        reserve = self.release_reserve(job)
        self.release_gpus(job)
        if not upheld:
            job.status = St.REJECTED
            self.release_withheld(job)
            if book.open_disputes == 0 and not book.debts:
                self.release_hold(job.provider, now)
            self.move(self.escrow, job.provider, job.bond)
            return [], (0, 0)
        job.status = St.UPHELD
        book.disputes_lost += 1
        # the slash is the dispute fraction of the job's deposit; the client is compensated up to what it paid, and
        # at least up to what a timeout would have given it (the job's timeout slash)
        paid = job.billed * job.price
        floor = 0 if settled_failed else job.collateral * job.tslash // BPS  # FailedProvider paid it at settlement
        slashed, compensation = self.penalize(job.provider, job.deposit * job.dslash // BPS, max(paid, floor), job,
                                              reserve)
        if book.open_disputes == 0 and not book.debts:
            self.release_hold(job.provider, now)
        self.move(self.escrow, job.client, compensation + job.bond)
        return [], (slashed, compensation)

    def report_fraud(self, caller: str, job_id: int) -> tuple[list[tuple], tuple | None]:
        if caller != self.arbiter:
            return [unauthorized(caller, "arbiter")], None
        status = self.job_status(job_id)
        if status != St.RUNNING:
            return [wrong_status(job_id, status, St.RUNNING)], None
        job = self.jobs[job_id]
        job.status = St.FRAUD
        self.release_gpus(job)
        book = self.books[job.provider]
        book.locked -= job.collateral
        book.disputes_lost += 1
        amount = job.deposit * job.dslash // BPS
        slashed, compensation = self.penalize(job.provider, amount, job.deposit, reserve=job.collateral,
                                              from_hold=False)
        self.move(self.escrow, job.client, job.deposit + compensation)
        self.moves[job_id] += 1
        # what the slash could not take of the client's due is its fraud debt, frozen and queued
        job.debt = min(amount, job.deposit) - compensation
        if job.debt:
            book.frozen += job.debt
            book.debts.append(job_id)
        return [], (slashed, compensation)

    def collect_fraud_debt(self, provider: str, now: int) -> tuple[list[tuple], list[tuple] | None]:
        """Anyone: what `provider` owes for fraud, from free then unbonding stake (never locked stake), paid to the
        defrauded clients oldest first. Returns (job, paid, still owed) per payment."""
        owed = self.owed(provider) if provider in self.books else 0
        if owed == 0:
            return [E("JobEscrowNoFraudDebt(address)", provider)], None
        book = self.books[provider]
        taken = self.slash(provider, owed, self.escrow, keep_debts=False)
        if taken == 0:
            return [E("JobEscrowFraudDebtNotCollectable(address,uint256)", provider, owed)], None
        book.frozen -= taken
        paid = []
        while taken:
            job = self.jobs[book.debts[0]]
            pay = min(job.debt, taken)
            job.debt -= pay
            taken -= pay
            paid.append((job.id, pay, job.debt))
            self.move(self.escrow, job.client, pay)
            if job.debt == 0:
                book.debts.pop(0)
        if not book.debts and book.open_disputes == 0:
            self.release_hold(provider, now)
        return [], paid

    def release_gpus(self, job: Job) -> None:
        if not job.gpus_released:
            job.gpus_released = True
            self.offers[job.offer].reserved -= job.gpus

    def release_withheld(self, job: Job) -> None:
        """The job's withheld pay to its provider's earnings (and the value it was paid), once."""
        if job.withheld:
            self.books[job.provider].earnings += job.withheld
            self.books[job.provider].value_paid += job.withheld
            job.withheld = 0

    def release_reserve(self, job: Job) -> int:
        if job.released:
            return 0
        job.released = True
        amount = self.reserve_of(job)
        self.books[job.provider].locked -= amount
        return amount

    @staticmethod
    def reserve_of(job: Job) -> int:
        return job.billed * job.price if job.raised else job.collateral + job.raised_part

    def release_collateral(self, caller: str, job_ids: list[int], now: int) -> tuple[list[tuple], int | None]:
        trial = self.clone()
        total = withheld = 0
        for job_id in job_ids:
            status = trial.job_status(job_id)
            if status != St.SETTLED:
                return [wrong_status(job_id, status, St.SETTLED)], None
            job = trial.jobs[job_id]
            if job.released:
                continue
            closes_at = job.settled_at + job.window
            if now <= closes_at:
                return [E("JobEscrowReserveStillNeeded(uint256,uint256,uint256)", job_id, closes_at, now)], None
            total += trial.release_reserve(job)
            withheld += job.withheld
            trial.release_withheld(job)
            trial.release_gpus(job)
        if total == 0 and withheld == 0:
            return [E("JobEscrowNothingToClaim(address)", caller)], None
        self.__dict__.update(trial.__dict__)
        return [], total

    def claim_held_slash(self, job_id: int, now: int) -> tuple[list[tuple], int | None]:
        status = self.job_status(job_id)
        if status != St.TIMED_OUT and status not in SETTLED_LIKE:  # timed out, or settled by a FailedProvider receipt
            return [wrong_status(job_id, status, St.TIMED_OUT)], None
        job = self.jobs[job_id]
        claim = self.held_claims.get(job_id)
        if claim is None or claim[0] == 0:  # a held slash that rounded to 0 leaves nothing to claim
            return [E("JobEscrowNothingToClaim(address)", job.client)], None
        amount, epoch = claim
        hold = self.holds[job.provider]
        if epoch == hold[2]:
            if self.books[job.provider].open_disputes and now <= hold[4]:
                return [E("JobEscrowDisputesOpen(address,uint256)", job.provider,
                          self.books[job.provider].open_disputes)], None
            if now <= hold[3]:
                return [E("JobEscrowHoldNotReleased(uint256,uint256,uint256)", job_id, hold[3], now)], None
            self.release_hold(job.provider, now)
        rel = self.released[(job.provider, epoch)]
        pay = amount * rel[0] // rel[1]
        rel[2] -= pay
        del self.held_claims[job_id]
        self.move(self.escrow, job.client, pay)
        return [], pay

    def withdraw_earnings(self, provider: str) -> tuple[list[tuple], int | None]:
        amount = self.books[provider].earnings
        if amount == 0:
            return [E("JobEscrowNothingToClaim(address)", provider)], None
        self.books[provider].earnings = 0
        self.move(self.escrow, provider, amount)
        return [], amount

    def withdraw_fees(self) -> tuple[list[tuple], int | None]:
        amount = self.fees
        if amount == 0:
            return [E("JobEscrowNothingToClaim(address)", self.treasury)], None
        self.fees = 0
        self.move(self.escrow, self.treasury, amount)
        return [], amount

    # ------------------------------------------------------------ escrow: governance and guardian

    def set_escrow_parameter(self, caller: str, param: int, value: int, now: int) -> list[tuple]:
        errs = []
        if caller != self.governance:
            errs.append(unauthorized(caller, "governance"))
        sig = "JobEscrowParameterOutOfRange(uint8,uint256,uint256,uint256)"
        if param in (MIN_RUN_PARAM, RULING_PARAM):  # also kept as min_run / ruling_period, which the rules read
            lo, hi = MIN_RUN_CAP if param == MIN_RUN_PARAM else RULING_CAP
            if value < lo or value > hi:
                errs.append(E(sig, param, value, lo, hi))
            if errs:
                return errs
            if param == MIN_RUN_PARAM:
                self.min_run = value
            else:
                self.ruling_period = value
            self.params[param] = value  # parameters() returns all ten
            return []
        if param not in ESCROW_CAPS:
            errs.append(E(sig, param, value, 0, 0))
        else:
            lo, hi = ESCROW_CAPS[param]
            if param == DISPUTE_WINDOW:
                hi = self.dispute_window_max()
            if value < lo or value > hi:
                errs.append(E(sig, param, value, lo, hi))
        if errs:
            return errs
        if not self.fee_terms:
            self.initial_fee_terms = (self.params[FEE], self.params[TIMEOUT_GRACE])
        self.params[param] = value
        if param in (FEE, TIMEOUT_GRACE):
            self.fee_terms.append((now + 1, self.params[FEE], self.params[TIMEOUT_GRACE]))
        return []

    def pause(self, caller: str) -> list[tuple]:
        if caller != self.guardian:
            return [unauthorized(caller, "guardian")]
        if self.paused:
            return [E("EnforcedPause()")]
        self.paused = True
        return []

    def unpause(self, caller: str) -> list[tuple]:
        if caller not in (self.guardian, self.governance):
            return [unauthorized(caller, "guardian")]
        if not self.paused:
            return [E("ExpectedPause()")]
        self.paused = False
        return []


ZERO = "0x0000000000000000000000000000000000000000"
