"""A pure-Python model of leases (LeaseEscrow) and GPU capacity shared with jobs (ProviderStaking reserve/release,
JobEscrow createJob / settle / releaseJobGpus), written from docs/PROTOCOL.md, the lease page and
interfaces/ILeaseEscrow.sol's NatSpec.

As in tests/stateful/model.py, every call asks the model first: it either returns the custom error the call must
revert with (as a (signature, args) pair) or applies the call's effects, every token movement included.
Checkpoint disputes are modelled whole: rejected (the clock rule: after a rejected ruling the expiry's grace runs from
the ruling at the earliest), upheld (the lease ends at its last paid second, its collateral goes back to free stake,
the provider is slashed the dispute fraction of what the lease paid, never from other work's collateral, and jailed;
the client is compensated up to what it paid), or lapsed at the ruling deadline. Governance unjails. An open dispute
freezes what its ruling can slash beyond the lease's collateral (issue 11): requestUnstake counts it with the locked
collateral of both escrows (tests/security/test_lease_dispute_freeze.py). Everything else a lease can do is here.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from dataclasses import dataclass, field

from tests.stateful.model import E

BPS = 10_000
U96 = 2**96 - 1
U64 = 2**64 - 1  # the price limit the machine's clients send
OPEN, RUNNING, ENDED, CANCELLED, DISPUTED = 1, 2, 3, 4, 5
NOT_RUNNING, NOT_CONTIGUOUS, PAST_END = range(3)
DEDICATED, RECLAIMABLE, INTERRUPTIBLE = range(3)
# LeaseEscrow parameters of tests/fixtures/leases.py
L_FEE_BPS, L_COLLATERAL_SECONDS, L_EXPIRY_SLASH_BPS = 250, 3600, 5_000
L_DISPUTE_WINDOW, L_ACCEPT_WINDOW, L_GRACE = 24 * 3600, 3600, 600
L_DISPUTE_BOND = 10 * 10**18
L_DISPUTE_SLASH_BPS = 10_000  # tests/fixtures/leases.py: an upheld dispute slashes everything the lease paid
RULING_PERIOD = 14 * 24 * 3600  # the job escrow's default RulingPeriod, which checkpoint disputes use too
# JobEscrow parameters of tests/fixtures/contracts.py
J_FEE_BPS, J_COLLATERAL_BPS, J_GRACE, J_ACCEPT_WINDOW, J_MIN_RUN = 250, 2_000, 600, 3600, 600
METER_TOLERANCE = 5
JOB_SETTLED = 3


@dataclass
class Offer:
    provider: str
    gpus: int
    price: int
    cls: int = DEDICATED
    notice: int = 0
    guarantee: int = 0
    paused: bool = False
    reserved: int = 0


@dataclass
class Lease:
    id: int
    client: str
    provider: str
    offer: int
    gpus: int
    rate: int
    cls: int
    notice: int
    guarantee: int
    accept_by: int
    end_time: int
    remaining: int  # deposit no checkpoint covered; once Ended, what the client may claim
    deposit: int  # everything deposited
    status: int = OPEN
    fixed_end: int = 0
    started: int = 0
    paid_through: int = 0
    up: int = 0
    collateral: int = 0
    last_cp_at: int = 0
    released: bool = False
    client_back: int = 0  # everything the client got back for this lease: refunds, penalties, expiry slash
    bond: int = 0  # the dispute bond the escrow holds while Disputed
    ended_before: bool = False  # the disputed lease had Ended (a rejected ruling puts it back to Ended)
    resumed_at: int = 0  # when a rejected ruling or a lapse last put the lease back to Running
    ruling_deadline: int = 0  # while Disputed: the arbiter rules by then, after it the dispute may lapse
    disputed_through: int = 0  # paid_through when last disputed: a checkpointed state is disputed once
    frozen: int = 0  # while Disputed: what the ruling can slash beyond the collateral still locked
    withheld: int = 0  # pay held back for the ruling: free stake could not lock all of the reserve (at most the payout)
    unreserved: int = 0  # the part of the ruling reserve that free stake could not lock

    def billing_end(self) -> int:
        end = self.paid_through + self.remaining // self.rate
        return min(end, self.fixed_end) if self.fixed_end else end

    def expiry_at(self) -> int:
        """No checkpoint lands during a dispute: the grace runs from a rejected ruling at the earliest."""
        return max(self.billing_end(), self.resumed_at) + L_GRACE

    @property
    def billing(self) -> bool:
        """Running, or Disputed before its billing ended: the deposit is still partly uncovered."""
        return self.status == RUNNING or (self.status == DISPUTED and not self.ended_before)

    def end_refund(self) -> int:
        return self.remaining + (self.paid_through - self.started - self.up) * self.rate

    @property
    def paid(self) -> int:
        return self.up * self.rate

    def reserve_at(self, up: int) -> int:
        """The ruling reserve of a lease that paid `up` seconds: what an upheld dispute slashes, locked beside the
        collateral as checkpoints land (issue 8, third review, finding 2)."""
        return up * self.rate * L_DISPUTE_SLASH_BPS // BPS

    @property
    def reserve(self) -> int:
        return self.reserve_at(self.up)

    @property
    def locked(self) -> int:
        """What the lease holds locked of its provider's stake until released: collateral and the reserve locked."""
        return self.collateral + self.reserve - self.unreserved


@dataclass
class Job:
    id: int
    client: str
    provider: str
    offer: int
    gpus: int
    price: int
    max_gs: int
    deadline: int
    accept_by: int
    status: int = 1
    accepted_at: int = 0
    billed: int = 0
    gpus_released: bool = False
    withheld: int = 0  # pay the job escrow keeps until the dispute window closes (free stake could not back it)

    @property
    def deposit(self) -> int:
        return self.price * self.max_gs

    @property
    def collateral(self) -> int:
        return -(-self.deposit * J_COLLATERAL_BPS // BPS)


@dataclass
class LeaseWorld:
    token: str
    staking: str
    escrow: str
    lease_escrow: str
    workers: dict[str, str]  # provider -> worker key
    min_stake: int
    balances: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    bonded: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    lease_locked: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    lease_frozen: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # open disputes' freezes
    unbonding: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    lease_earnings: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    credited: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # lease earnings + fees, ever
    job_locked: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    job_earnings: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    offers: dict[int, Offer] = field(default_factory=dict)
    leases: dict[int, Lease] = field(default_factory=dict)
    jobs: dict[int, Job] = field(default_factory=dict)
    lease_fees: int = 0
    job_fees: int = 0
    lease_stray: int = 0  # tokens sent to the lease escrow directly: owed to nobody, locked there (no sweep)
    jailed: set[str] = field(default_factory=set)
    withheld_released: list[int] = field(default_factory=list)  # LeaseWithheldPayReleased amounts, by the last call

    def clone(self) -> LeaseWorld:
        return copy.deepcopy(self)

    # ------------------------------------------------------------ helpers

    def move(self, src: str, dst: str, amount: int) -> None:
        assert self.balances[src] >= amount, "model: transfer beyond balance"
        self.balances[src] -= amount
        self.balances[dst] += amount

    def is_provider_or_worker(self, caller: str, provider: str) -> bool:
        return caller in (provider, self.workers.get(provider))

    def free_stake(self, provider: str) -> int:
        return max(self.bonded[provider] - self.lease_locked[provider] - self.job_locked[provider], 0)

    def slash_for_lease(self, lease: Lease, amount: int) -> int:
        """ProviderStaking.slash called by the lease escrow for `lease`: the provider's other collateral (its other
        leases' and its jobs') stays; the lease's own collateral shrinks by what was taken. Free bonded stake first,
        then unbonding stake (rule_request_unstake)."""
        p = lease.provider
        keep = self.lease_locked[p] - lease.collateral + self.job_locked[p]
        from_bonded = min(amount, max(self.bonded[p] - keep, 0))
        from_unbonding = min(amount - from_bonded, self.unbonding[p])
        taken = from_bonded + from_unbonding
        self.bonded[p] -= from_bonded
        self.unbonding[p] -= from_unbonding
        drawn = min(taken, lease.collateral)
        lease.collateral -= drawn
        self.lease_locked[p] -= drawn
        self.move(self.staking, lease.client, taken)
        lease.client_back += taken
        return taken

    def offer_errors(self, offer_id: int, job: bool) -> list[tuple]:
        """ProviderStaking's checks of an offer for new work: leaseTerms checks the offer only (a jailed or
        under-staked provider is refused at acceptance); jobTerms also the provider's jail and minimum stake."""
        o = self.offers.get(offer_id)
        if o is None:
            return [E("ProviderStakingUnknownOffer(uint256)", offer_id)]
        if o.paused:
            return [E("ProviderStakingOfferPaused(uint256)", offer_id)]
        if not job:
            return []
        if o.provider in self.jailed:
            return [E("ProviderStakingJailed(address)", o.provider)]
        if self.bonded[o.provider] < self.min_stake:
            return [
                E(
                    "ProviderStakingBelowMinimum(address,uint256,uint256)",
                    o.provider,
                    self.bonded[o.provider],
                    self.min_stake,
                )
            ]
        return []

    def capacity_errors(self, offer_id: int, gpus: int) -> list[tuple]:
        o = self.offers[offer_id]
        if o.reserved + gpus > o.gpus:
            return [
                E(
                    "ProviderStakingCapacityExceeded(uint256,uint256,uint256,uint256)",
                    offer_id,
                    gpus,
                    o.reserved,
                    o.gpus,
                )
            ]
        return []

    def release(self, offer_id: int, gpus: int) -> None:
        o = self.offers[offer_id]
        assert o.reserved >= gpus, "model: release beyond reserved"
        o.reserved -= gpus

    def lease_status(self, lease_id: int) -> int:
        lease = self.leases.get(lease_id)
        return lease.status if lease else 0

    def status_error(self, lease_id: int, expected: int) -> list[tuple]:
        status = self.lease_status(lease_id)
        if status == expected:
            return []
        if status == 0:
            return [E("LeaseEscrowUnknownLease(uint256)", lease_id)]
        return [E("LeaseEscrowWrongStatus(uint256,uint8,uint8)", lease_id, status, expected)]

    def lease_owed(self) -> int:
        owed = self.lease_fees + sum(self.lease_earnings.values())
        for lease in self.leases.values():
            if lease.status in (OPEN, RUNNING, ENDED, DISPUTED):
                owed += (
                    lease.remaining + (lease.paid_through - lease.started - lease.up) * lease.rate
                    if lease.billing
                    else lease.remaining
                ) + lease.bond + lease.withheld
        return owed

    def send_stray(self, sender: str, amount: int) -> list[tuple]:
        """A plain token transfer to the lease escrow: no function of it runs, so nobody is owed the tokens."""
        if self.balances[sender] < amount:
            return [E("ERC20InsufficientBalance(address,uint256,uint256)", sender, self.balances[sender], amount)]
        self.move(sender, self.lease_escrow, amount)
        self.lease_stray += amount
        return []

    def job_owed(self) -> int:
        owed = self.job_fees + sum(self.job_earnings.values())
        for job in self.jobs.values():
            if job.status in (1, 2):
                owed += job.deposit
            elif job.status == JOB_SETTLED:
                owed += job.deposit - job.billed * job.price + job.withheld
        return owed

    # ------------------------------------------------------------ leases: opening

    def open_lease(
        self,
        client: str,
        offer_id: int,
        gpus: int,
        max_price: int,
        max_class: int,
        min_notice: int,
        deposit: int,
        end_time: int,
        now: int,
    ) -> list[tuple]:
        if max_class > INTERRUPTIBLE:
            return [E("LeaseEscrowInvalidMaxClass(uint8)", max_class)]
        latest = now + 3 * 365 * 24 * 3600
        if end_time and (end_time <= now or end_time > latest):
            return [E("LeaseEscrowInvalidEndTime(uint256,uint256,uint256)", end_time, now, latest)]
        errs = self.offer_errors(offer_id, job=False)
        if errs:
            return errs
        o = self.offers[offer_id]
        if gpus == 0 or gpus > o.gpus or o.price > max_price:
            return [
                E(
                    "LeaseEscrowOfferNoLongerFits(uint256,uint256,uint256,uint256,uint256)",
                    offer_id,
                    gpus,
                    o.gpus,
                    max_price,
                    o.price,
                )
            ]
        if o.cls > max_class or (o.cls == RECLAIMABLE and o.notice < min_notice):
            return [
                E(
                    "LeaseEscrowClassNotAccepted(uint256,uint8,uint32,uint8,uint32)",
                    offer_id,
                    o.cls,
                    o.notice,
                    max_class,
                    min_notice,
                )
            ]
        rate = o.price * gpus
        if deposit < rate or deposit > U96:
            return [E("LeaseEscrowInvalidDeposit(uint256,uint256)", deposit, rate)]
        errs = self.capacity_errors(offer_id, gpus)
        if errs:
            return errs
        o.reserved += gpus
        accept_by = now + L_ACCEPT_WINDOW
        if end_time and accept_by >= end_time:
            accept_by = end_time - 1
        lease_id = len(self.leases) + 1
        self.leases[lease_id] = Lease(
            id=lease_id,
            client=client,
            provider=o.provider,
            offer=offer_id,
            gpus=gpus,
            rate=rate,
            cls=o.cls,
            notice=o.notice,
            guarantee=o.guarantee,
            accept_by=accept_by,
            end_time=end_time,
            remaining=deposit,
            deposit=deposit,
            fixed_end=end_time,
        )
        self.move(client, self.lease_escrow, deposit)
        return []

    def accept_lease(self, caller: str, lease_id: int, now: int) -> list[tuple]:
        errs = self.status_error(lease_id, OPEN)
        if errs:
            return errs
        lease = self.leases[lease_id]
        p = lease.provider
        if not self.is_provider_or_worker(caller, p):
            return [E("LeaseEscrowNotProviderOrWorker(uint256,address)", lease_id, caller)]
        if now > lease.accept_by:
            return [E("LeaseEscrowAcceptanceClosed(uint256,uint256,uint256)", lease_id, lease.accept_by, now)]
        if p in self.jailed:
            return [E("LeaseEscrowProviderJailed(address)", p)]
        if self.bonded[p] < self.min_stake:
            return [
                E("LeaseEscrowBelowMinimumStake(address,uint256,uint256)", p, self.bonded[p], self.min_stake)
            ]
        collateral = lease.rate * L_COLLATERAL_SECONDS
        free = max(self.free_stake(p) - self.lease_frozen[p], 0)  # frozen for rulings: not for new collateral
        if collateral > free:
            return [E("LeaseEscrowInsufficientFreeStake(address,uint256,uint256)", p, free, collateral)]
        self.lease_locked[p] += collateral
        lease.collateral = collateral
        lease.status = RUNNING
        lease.started = lease.paid_through = now
        return []

    def _cancel(self, lease: Lease) -> None:
        lease.status = CANCELLED
        self.release(lease.offer, lease.gpus)
        self.move(self.lease_escrow, lease.client, lease.remaining)
        lease.client_back += lease.remaining

    def decline_lease(self, caller: str, lease_id: int) -> list[tuple]:
        errs = self.status_error(lease_id, OPEN)
        if errs:
            return errs
        lease = self.leases[lease_id]
        if not self.is_provider_or_worker(caller, lease.provider):
            return [E("LeaseEscrowNotProviderOrWorker(uint256,address)", lease_id, caller)]
        self._cancel(lease)
        return []

    def cancel_lease(self, caller: str, lease_id: int, now: int) -> list[tuple]:
        errs = self.status_error(lease_id, OPEN)
        if errs:
            return errs
        lease = self.leases[lease_id]
        if now <= lease.accept_by and caller != lease.client:
            return [
                E("LeaseEscrowCancelNotAllowed(uint256,address,uint256)", lease_id, caller, lease.accept_by)
            ]
        self._cancel(lease)
        return []

    # ------------------------------------------------------------ leases: running

    def top_up(self, caller: str, lease_id: int, amount: int, now: int) -> list[tuple]:
        if amount == 0:
            return [E("LeaseEscrowZeroAmount()")]
        status = self.lease_status(lease_id)
        if status == RUNNING:
            end = self.leases[lease_id].billing_end()
            if end <= now:
                return [E("LeaseEscrowBillingEnded(uint256,uint256,uint256)", lease_id, end, now)]
        elif status != OPEN:
            return self.status_error(lease_id, RUNNING)
        lease = self.leases[lease_id]
        lease.remaining += amount
        lease.deposit += amount
        self.move(caller, self.lease_escrow, amount)
        return []

    def _end_if_paid_through(self, lease: Lease) -> None:
        if lease.status == RUNNING and lease.billing_end() <= lease.paid_through:
            self._end(lease, lease.paid_through)

    def _end(self, lease: Lease, at: int) -> None:
        lease.remaining = lease.end_refund()
        lease.status = ENDED
        lease.fixed_end = at
        self.release(lease.offer, lease.gpus)

    def live_error(self, lease_id: int) -> list[tuple]:
        """Close and reclaim take a Running or a Disputed lease (a dispute does not stop billing)."""
        return [] if self.lease_status(lease_id) == DISPUTED else self.status_error(lease_id, RUNNING)

    def close_lease(self, caller: str, lease_id: int, now: int) -> list[tuple]:
        errs = self.live_error(lease_id)
        if errs:
            return errs
        lease = self.leases[lease_id]
        if caller != lease.client:
            return [E("LeaseEscrowNotClient(uint256,address,address)", lease_id, caller, lease.client)]
        if not lease.fixed_end or now < lease.fixed_end:
            lease.fixed_end = now
        self._end_if_paid_through(lease)
        return []

    def reclaim_lease(self, caller: str, lease_id: int, now: int) -> list[tuple]:
        errs = self.live_error(lease_id)
        if errs:
            return errs
        lease = self.leases[lease_id]
        if not self.is_provider_or_worker(caller, lease.provider):
            return [E("LeaseEscrowNotProviderOrWorker(uint256,address)", lease_id, caller)]
        if lease.cls == DEDICATED:
            return [E("LeaseEscrowNotReclaimable(uint256,uint8)", lease_id, lease.cls)]
        end = lease.billing_end()
        if end <= now:
            return [E("LeaseEscrowBillingEnded(uint256,uint256,uint256)", lease_id, end, now)]
        at = now + lease.notice
        if not lease.fixed_end or at < lease.fixed_end:
            lease.fixed_end = at
        self._end_if_paid_through(lease)
        return []

    def submit_checkpoints(self, cps, now: int) -> tuple[list[tuple], list | None]:
        """Returns (errors, outcomes): per checkpoint ("settled", (payout, fee, penalty)) or ("skipped", reason)."""
        trial = self.clone()
        out = []
        for c in cps:
            lease_id, frm, to, up, down = c.leaseId, c.fromTime, c.toTime, c.upSeconds, c.downSeconds
            if to <= frm or to > now or up + down != to - frm:
                return [
                    E(
                        "LeaseEscrowImpossibleCheckpoint(uint256,uint256,uint256,uint256,uint256,uint256)",
                        lease_id,
                        frm,
                        to,
                        up,
                        down,
                        now,
                    )
                ], None
            if trial.lease_status(lease_id) != RUNNING:
                out.append(("skipped", NOT_RUNNING))
                continue
            lease = trial.leases[lease_id]
            if frm != lease.paid_through:
                out.append(("skipped", NOT_CONTIGUOUS))
                continue
            end = lease.billing_end()
            if to > end:
                out.append(("skipped", PAST_END))
                continue
            added = lease.reserve_at(lease.up + up) - lease.reserve
            free = max(trial.free_stake(lease.provider) - trial.lease_frozen[lease.provider], 0)
            # Free stake locks what it can of the reserve the period adds; the rest is held back from the pay.
            unreserved = max(added - free, 0)
            trial.lease_locked[lease.provider] += added - unreserved
            lease.remaining -= (to - frm) * lease.rate
            paid = up * lease.rate
            fee = paid * L_FEE_BPS // BPS
            held = min(unreserved, paid - fee)
            lease.withheld += held
            lease.unreserved += unreserved
            trial.lease_earnings[lease.provider] += paid - fee - held
            if not unreserved and lease.unreserved:
                # a lease short of reserve catches up from the free stake left, and the pay withheld beyond what
                # stays unlocked is released
                free_left = max(trial.free_stake(lease.provider) - trial.lease_frozen[lease.provider], 0)
                lock_now = min(free_left, lease.unreserved)
                trial.lease_locked[lease.provider] += lock_now
                lease.unreserved -= lock_now
                freed = lease.withheld - min(lease.withheld, lease.unreserved)
                lease.withheld -= freed
                trial.lease_earnings[lease.provider] += freed
                if freed:
                    trial.withheld_released.append(freed)
            trial.credited[lease.provider] += paid
            trial.lease_fees += fee
            lease.up += up
            lease.paid_through = to
            lease.last_cp_at = now
            penalty = 0
            if up * BPS < lease.guarantee * (to - frm):
                owed = (-(-lease.guarantee * (to - frm) // BPS) - up) * lease.rate
                amount = min(owed, lease.collateral)
                if amount:
                    penalty = trial.slash_for_lease(lease, amount)
            if to == end:
                trial._end(lease, to)
            out.append(("settled", (paid - fee, fee, penalty, held, unreserved)))
        self.__dict__.update(trial.__dict__)
        return [], out

    # ------------------------------------------------------------ leases: after the end

    def claim_refund(self, lease_id: int) -> tuple[list[tuple], int | None]:
        errs = self.status_error(lease_id, ENDED)
        if errs:
            return errs, None
        lease = self.leases[lease_id]
        amount = lease.remaining
        if amount == 0:
            return [E("LeaseEscrowNothingToClaim(address)", lease.client)], None
        lease.remaining = 0
        self.move(self.lease_escrow, lease.client, amount)
        lease.client_back += amount
        return [], amount

    def claim_expiry(self, lease_id: int, now: int) -> tuple[list[tuple], tuple | None]:
        errs = self.status_error(lease_id, RUNNING)
        if errs:
            return errs, None
        lease = self.leases[lease_id]
        end = lease.billing_end()
        if now < lease.expiry_at():
            return [
                E("LeaseEscrowExpiryNotReached(uint256,uint256,uint256)", lease_id, lease.expiry_at(), now)
            ], None
        refund = lease.end_refund()
        covered = end <= lease.paid_through
        lease.status, lease.fixed_end, lease.remaining = ENDED, end, 0
        self.release(lease.offer, lease.gpus)
        slashed = 0
        amount = 0 if covered else lease.collateral * L_EXPIRY_SLASH_BPS // BPS
        if amount:
            slashed = self.slash_for_lease(lease, amount)
        self.move(self.lease_escrow, lease.client, refund)
        lease.client_back += refund
        return [], (refund, slashed)

    def release_collateral(
        self, caller: str, lease_ids: list[int], now: int
    ) -> tuple[list[tuple], int | None]:
        trial = self.clone()
        total, released = 0, 0
        for lease_id in lease_ids:
            errs = trial.status_error(lease_id, ENDED)
            if errs:
                return errs, None
            lease = trial.leases[lease_id]
            if lease.released:
                continue
            closes = lease.last_cp_at + L_DISPUTE_WINDOW if lease.last_cp_at else 0
            if now <= closes:
                return [
                    E("LeaseEscrowCollateralStillNeeded(uint256,uint256,uint256)", lease_id, closes, now)
                ], None
            total += lease.locked
            trial.lease_locked[lease.provider] -= lease.locked
            trial.release_withheld(lease, lease.withheld)
            lease.released = True
            released += 1
        if released == 0:
            return [E("LeaseEscrowNothingToClaim(address)", caller)], None
        self.__dict__.update(trial.__dict__)
        return [], total

    # ------------------------------------------------------------ leases: disputes (rejected rulings)

    def dispute_checkpoint(self, caller: str, lease_id: int, now: int) -> list[tuple]:
        status = self.lease_status(lease_id)
        if status not in (RUNNING, ENDED):
            return self.status_error(lease_id, RUNNING)
        lease = self.leases[lease_id]
        if caller != lease.client:
            return [E("LeaseEscrowNotClient(uint256,address,address)", lease_id, caller, lease.client)]
        if not lease.last_cp_at:
            return [E("LeaseEscrowNoCheckpoint(uint256)", lease_id)]
        closes = lease.last_cp_at + L_DISPUTE_WINDOW
        if now > closes:
            return [E("LeaseEscrowDisputeWindowClosed(uint256,uint256,uint256)", lease_id, closes, now)]
        if lease.disputed_through == lease.paid_through:
            return [E("LeaseEscrowAlreadyDisputed(uint256,uint256)", lease_id, lease.paid_through)]
        lease.disputed_through = lease.paid_through
        lease.ended_before = status == ENDED
        lease.status = DISPUTED
        lease.ruling_deadline = now + RULING_PERIOD
        # The ruling unlocks the lease's collateral before it slashes: only the rest of the slash stays frozen.
        slash = lease.paid * L_DISPUTE_SLASH_BPS // BPS
        lease.frozen = max(slash - (0 if lease.released else lease.locked + lease.withheld), 0)
        self.lease_frozen[lease.provider] += lease.frozen
        lease.bond = L_DISPUTE_BOND
        self.move(caller, self.lease_escrow, L_DISPUTE_BOND)
        return []

    def reject_dispute(self, lease_id: int, now: int) -> list[tuple]:
        """The arbiter rejects: the bond goes to the provider. Only until the ruling deadline."""
        return self._end_dispute(lease_id, now, lapsing=False)

    def lapse_dispute(self, lease_id: int, now: int) -> list[tuple]:
        """Nobody ruled by the deadline: as a rejection, but the bond goes back to the client."""
        return self._end_dispute(lease_id, now, lapsing=True)

    def _ruling_errors(self, lease_id: int, now: int, lapsing: bool) -> list[tuple]:
        errs = self.status_error(lease_id, DISPUTED)
        if errs:
            return errs
        deadline = self.leases[lease_id].ruling_deadline
        if lapsing and now <= deadline:
            return [E("LeaseEscrowRulingDeadlineNotReached(uint256,uint256,uint256)", lease_id, deadline, now)]
        if not lapsing and now > deadline:
            return [E("LeaseEscrowRulingDeadlinePassed(uint256,uint256,uint256)", lease_id, deadline, now)]
        return []

    def uphold_dispute(self, lease_id: int, now: int) -> tuple[list[tuple], tuple | None]:
        """The arbiter upholds: (errors, (slashed, compensation))."""
        errs = self._ruling_errors(lease_id, now, lapsing=False)
        if errs:
            return errs, None
        lease = self.leases[lease_id]
        p = lease.provider
        lease.ruling_deadline = 0
        if not lease.ended_before:
            # billing ends at the last paid second; everything after it goes back to the client
            lease.remaining = lease.end_refund()
            lease.fixed_end = lease.paid_through
            self.release(lease.offer, lease.gpus)
        lease.status = ENDED
        unlocked = 0
        if not lease.released:  # collateral and reserve go back to free stake first, where the slash reaches them
            unlocked = lease.locked
            self.lease_locked[p] -= unlocked
            lease.released = True
        self.lease_frozen[p] -= lease.frozen
        lease.frozen = 0
        amount = lease.paid * L_DISPUTE_SLASH_BPS // BPS
        if lease.withheld:
            # the lease's own collateral and reserve, then its withheld pay, then the provider's other stake
            slashed = self.slash_stake(p, min(amount, unlocked))
            from_withheld = min(amount - slashed, lease.withheld)
            slashed += from_withheld + self.slash_stake(p, amount - slashed - from_withheld)
            self.release_withheld(lease, lease.withheld - from_withheld)
        else:
            slashed = self.slash_stake(p, amount)
        compensation = min(slashed, lease.paid)
        self.lease_fees += slashed - compensation
        self.jailed.add(p)
        self.move(self.lease_escrow, lease.client, compensation + lease.bond)
        lease.client_back += compensation
        lease.bond = 0
        return [], (slashed, compensation)

    def slash_stake(self, p: str, amount: int) -> int:
        """ProviderStaking.slash into the lease escrow: free bonded stake, then unbonding stake, never the
        collateral of the provider's other work."""
        from_bonded = min(amount, max(self.bonded[p] - self.lease_locked[p] - self.job_locked[p], 0))
        from_unbonding = min(amount - from_bonded, self.unbonding[p])
        self.bonded[p] -= from_bonded
        self.unbonding[p] -= from_unbonding
        self.move(self.staking, self.lease_escrow, from_bonded + from_unbonding)
        return from_bonded + from_unbonding

    def release_withheld(self, lease: Lease, amount: int) -> None:
        """The lease's withheld pay is settled: `amount` to its provider's earnings (the rest a ruling took)."""
        self.lease_earnings[lease.provider] += amount
        lease.withheld = lease.unreserved = 0
        if amount:
            self.withheld_released.append(amount)

    def unjail(self, provider: str) -> list[tuple]:
        if provider not in self.jailed:
            return [E("ProviderStakingNotJailed(address)", provider)]
        self.jailed.discard(provider)
        return []

    def _end_dispute(self, lease_id: int, now: int, lapsing: bool) -> list[tuple]:
        errs = self._ruling_errors(lease_id, now, lapsing)
        if errs:
            return errs
        lease = self.leases[lease_id]
        lease.status = ENDED if lease.ended_before else RUNNING
        lease.ruling_deadline = 0
        self.lease_frozen[lease.provider] -= lease.frozen
        lease.frozen = 0
        if not lease.ended_before:
            lease.resumed_at = now  # checkpoints resume: the expiry's grace runs from here at the earliest
        self.move(self.lease_escrow, lease.client if lapsing else lease.provider, lease.bond)
        lease.bond = 0
        return []

    def open_disputes(self, provider: str) -> int:
        return sum(1 for lease in self.leases.values() if lease.provider == provider and lease.status == DISPUTED)

    def request_unstake(self, provider: str, amount: int) -> list[tuple]:
        """ProviderStaking.requestUnstake: free stake is bonded less both escrows' locked collateral less what open
        disputes froze (no job is disputed here, so only the lease escrow's freeze)."""
        if amount == 0:
            return [E("ProviderStakingZeroAmount()")]
        free = max(self.free_stake(provider) - self.lease_frozen[provider], 0)
        if amount > free:
            return [E("ProviderStakingInsufficientFreeStake(address,uint256,uint256)", provider, free, amount)]
        self.bonded[provider] -= amount
        self.unbonding[provider] += amount
        return []

    def withdraw_lease_earnings(self, caller: str) -> tuple[list[tuple], int | None]:
        amount = self.lease_earnings[caller]
        if amount == 0:
            return [E("LeaseEscrowNothingToClaim(address)", caller)], None
        self.lease_earnings[caller] = 0
        self.move(self.lease_escrow, caller, amount)
        return [], amount

    # ------------------------------------------------------------ offers

    def pause_offer(self, caller: str, offer_id: int) -> list[tuple]:
        o = self.offers[offer_id]
        if not self.is_provider_or_worker(caller, o.provider):
            return [
                E(
                    "ProviderStakingNotOfferOwnerOrWorker(uint256,address,address)",
                    offer_id,
                    caller,
                    o.provider,
                )
            ]
        if o.paused:
            return [E("ProviderStakingOfferPaused(uint256)", offer_id)]
        o.paused = True
        return []

    def resume_offer(self, caller: str, offer_id: int) -> list[tuple]:
        o = self.offers[offer_id]
        if not self.is_provider_or_worker(caller, o.provider):
            return [
                E(
                    "ProviderStakingNotOfferOwnerOrWorker(uint256,address,address)",
                    offer_id,
                    caller,
                    o.provider,
                )
            ]
        if not o.paused:
            return [E("ProviderStakingOfferNotPaused(uint256)", offer_id)]
        o.paused = False
        return []

    def set_availability(
        self, caller: str, offer_id: int, cls: int, notice: int, guarantee: int
    ) -> list[tuple]:
        o = self.offers[offer_id]
        if caller != o.provider:
            return [E("ProviderStakingNotOfferOwner(uint256,address,address)", offer_id, caller, o.provider)]
        if cls == DEDICATED:
            notice = 0
        bad = (
            cls > INTERRUPTIBLE
            or guarantee > BPS
            or (cls == RECLAIMABLE and (notice == 0 or notice > 30 * 86400))
            or (cls == INTERRUPTIBLE and (notice != 0 or guarantee != 0))
        )
        if bad:
            return [E("ProviderStakingInvalidAvailability(uint8,uint256,uint256)", cls, notice, guarantee)]
        o.cls, o.notice, o.guarantee = cls, notice, guarantee
        return []

    # ------------------------------------------------------------ jobs (capacity and stake shared with leases)

    def create_job(
        self, client: str, offer_id: int, gpus: int, max_gs: int, deadline: int, now: int
    ) -> list[tuple]:
        errs = self.offer_errors(offer_id, job=True)
        if errs:
            return errs
        o = self.offers[offer_id]
        if gpus == 0 or gpus > o.gpus:
            return [
                E(
                    "JobEscrowOfferNoLongerFits(uint256,uint256,uint256,uint256,uint256)",
                    offer_id,
                    gpus,
                    o.gpus,
                    U64,
                    o.price,
                )
            ]
        job = Job(
            id=len(self.jobs) + 1,
            client=client,
            provider=o.provider,
            offer=offer_id,
            gpus=gpus,
            price=o.price,
            max_gs=max_gs,
            deadline=deadline,
            accept_by=min(now + J_ACCEPT_WINDOW, deadline - J_MIN_RUN),
        )
        free = max(self.free_stake(o.provider) - self.lease_frozen[o.provider], 0)
        if job.collateral > free:
            return [
                E("JobEscrowInsufficientFreeStake(address,uint256,uint256)", o.provider, free, job.collateral)
            ]
        errs = self.capacity_errors(offer_id, gpus)
        if errs:
            return errs
        o.reserved += gpus
        self.job_locked[o.provider] += job.collateral
        self.jobs[job.id] = job
        self.move(client, self.escrow, job.deposit)
        return []

    def accept_job(self, job_id: int, now: int) -> list[tuple]:
        job = self.jobs[job_id]
        assert job.status == 1 and now <= job.accept_by
        if job.provider in self.jailed:
            return [E("JobEscrowProviderJailed(address)", job.provider)]
        if self.bonded[job.provider] < self.min_stake:
            return [
                E(
                    "JobEscrowBelowMinimumStake(address,uint256,uint256)",
                    job.provider,
                    self.bonded[job.provider],
                    self.min_stake,
                )
            ]
        job.status, job.accepted_at = 2, now
        return []

    def cancel_job(self, job_id: int) -> None:
        job = self.jobs[job_id]
        assert job.status == 1
        job.status = 4
        self.job_locked[job.provider] -= job.collateral
        self.release(job.offer, job.gpus)
        job.gpus_released = True
        self.move(self.escrow, job.client, job.deposit)

    def settle_job(self, job_id: int, gpu_seconds: int, start: int, end: int, now: int) -> list[tuple]:
        job = self.jobs[job_id]
        assert job.status == 2
        timeout_at = job.deadline + J_GRACE
        if now >= timeout_at:
            return [E("JobEscrowSettlementTooLate(uint256,uint256,uint256)", job_id, timeout_at, now)]
        wall = end - start
        limit = 0 if wall == 0 else (wall + METER_TOLERANCE) * job.gpus
        assert start >= job.accepted_at and end <= min(now, job.deadline) and gpu_seconds <= limit
        job.billed = min(gpu_seconds, job.max_gs)
        paid = job.billed * job.price
        fee = paid * J_FEE_BPS // BPS
        # Issue 8: the dispute reserve is raised at settlement from the collateral to what the job paid, when the
        # provider's free stake covers the difference. Free stake is bonded less the collateral BOTH escrows lock
        # (the staking contract's settlementContext subtracts the lease escrow's), so a raise never promises a
        # lease's collateral and bonded >= job locked + lease locked holds after it (checked as an invariant). It
        # subtracts what open checkpoint disputes froze as well (the flag is set while anything is locked or frozen).
        free = max(self.free_stake(job.provider) - self.lease_frozen[job.provider], 0)
        if paid > job.collateral and paid - job.collateral <= free:
            self.job_locked[job.provider] += paid - job.collateral
        elif paid > job.collateral:
            # Issue 8, third review: else free stake raises what it covers and the rest of the pay beyond the
            # collateral (at most the payout) is withheld.
            self.job_locked[job.provider] += free
            job.withheld = min(paid - job.collateral - free, paid - fee)
        self.job_earnings[job.provider] += paid - fee - job.withheld
        self.job_fees += fee
        job.status = JOB_SETTLED
        return []

    def release_job_gpus(self, caller: str, job_ids: list[int]) -> tuple[list[tuple], int | None]:
        trial = self.clone()
        released = 0
        for job_id in job_ids:
            job = trial.jobs.get(job_id)
            if job is None or job.status != JOB_SETTLED or job.gpus_released:
                continue
            job.gpus_released = True
            trial.release(job.offer, job.gpus)
            released += 1
        if released == 0:
            return [E("JobEscrowNothingToClaim(address)", caller)], None
        self.__dict__.update(trial.__dict__)
        return [], released
