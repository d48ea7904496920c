"""The typed rows the index's queries return (and the explorer's API and the CLI exchange)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "DayPoint",
    "FamilyPrice",
    "JobDetail",
    "JobRow",
    "LeaseCheckpointRow",
    "LeaseDetail",
    "LeaseRow",
    "OfferPage",
    "OfferQuery",
    "OfferRow",
    "OracleView",
    "ProviderDetail",
    "ProviderRow",
    "Sort",
    "Stats",
    "TimelineEntry",
]

Sort = Literal["price", "price_per_gb", "record"]


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class OfferQuery(_Row):
    """Filters and order for an offer search (the CLI's options and the API's query parameters)."""

    gpu: str | None = Field(default=None, max_length=64)
    """GPU family ("H100") or part of the model name ("a100-sxm4"), case-insensitive."""
    min_vram: int | None = Field(default=None, ge=0, le=2**32 - 1)
    """Least memory per GPU, in GB."""
    min_gpus: int | None = Field(default=None, ge=1, le=255)
    """Least GPUs a job on the offer gets."""
    max_price: int | None = Field(default=None, ge=0, le=2**64 - 1)
    """Highest price per GPU-second, in base units."""
    min_completed: int | None = Field(default=None, ge=0, le=2**32 - 1)
    """Least jobs the provider completed (its on-chain record)."""
    min_free: int | None = Field(default=None, ge=1, le=255)
    """Least GPUs free now (not reserved by open or running jobs and leases)."""
    max_class: int | None = Field(default=None, ge=0, le=2)
    """The worst availability class accepted: 0 dedicated only, 1 up to reclaimable, 2 any."""
    min_notice: int | None = Field(default=None, ge=0, le=2**32 - 1)
    """Least reclaim notice in seconds a reclaimable offer must give, as the lease escrow checks it: dedicated
    offers always fit, and interruptible ones are kept or dropped by max_class (max_class=1 drops them)."""
    provider: str | None = Field(default=None, pattern=r"^0x[0-9a-fA-F]{40}$")
    """Only this provider's offers."""
    verified: bool = False
    """Only offers whose latest hardware check passed and still covers their GPU count and VRAM."""
    include_inactive: bool = False
    """Also withdrawn offers and offers of jailed providers."""
    sort: Sort = "price"
    """price (cheapest first), price_per_gb (cheapest per GB of VRAM first) or record (most completed first)."""
    limit: int = Field(default=50, ge=1, le=500)
    """Rows per page."""
    offset: int = Field(default=0, ge=0, le=10_000_000)
    """Rows to skip."""


class OfferRow(_Row):
    """One offer with its provider's record."""

    offer_id: int
    """The offer's id on-chain."""
    provider: str
    """The provider's staking address."""
    gpu_model: str
    """GPU model as the provider names it."""
    gpu_family: str
    """The family the index derived from the model name."""
    gpu_count: int
    """GPUs a job on this offer gets."""
    vram_gb: int
    """Memory per GPU in GB."""
    price_per_gpu_second: str
    """Price per GPU-second in base units."""
    price_per_gb: str
    """Price per GPU-second per GB of VRAM in base units (rounded down; a string, as every amount)."""
    metadata_uri: str
    """Where the provider describes the machine."""
    active: bool
    """False once withdrawn."""
    gpu_class: str | None
    """The offer's availability class: dedicated, reclaimable or interruptible."""
    verified: bool | None
    """The latest hardware check (HardwareRegistry) passed and covers the offer's current GPU count and VRAM;
    None: never checked."""
    verified_at: int | None = None
    """Unix time of the latest hardware check (passed or not); None: never checked."""
    verified_terms_match: bool | None = None
    """Whether the GPU count and VRAM the latest check proved still cover the offer's terms (False after the
    provider raised them); None: never checked."""
    notice_seconds: int = 0
    """Reclaim notice of a reclaimable offer, in seconds (0 for the other classes)."""
    uptime_bps: int = 0
    """Uptime the provider guarantees to leases, in basis points (0: none)."""
    paused: bool = False
    """Paused by its provider or worker: takes no new job or lease for now."""
    gpus_free: int | None = None
    """GPUs not reserved by open or running jobs and leases."""
    leases_running: int = 0
    """Leases open or running on the offer."""
    jobs_running: int
    """Jobs open or running on the offer."""
    jobs_total: int
    """Jobs ever opened on the offer."""
    jobs_completed: int
    """The provider's completed jobs."""
    jobs_failed: int
    """The provider's failed jobs."""
    jobs_timed_out: int
    """The provider's timed-out jobs."""
    disputes_lost: int
    """Disputes and fraud reports the provider lost."""
    bonded: str
    """The provider's bonded stake in base units."""
    jailed: bool
    """The provider is jailed (takes no new work)."""


class OfferPage(_Row):
    """A page of offer search results."""

    total: int
    """Offers matching the filters."""
    offers: list[OfferRow]
    """This page of them."""


class ProviderRow(_Row):
    """A provider's stake and record."""

    address: str
    """Staking address."""
    worker: str | None
    """Worker key that signs its receipts."""
    bonded: str
    """Bonded stake, base units."""
    unbonding: str
    """Stake on its way out, base units."""
    locked: str
    """Stake locked as collateral by open and running jobs, base units."""
    jailed: bool
    """Jailed providers take no new work."""
    jobs_completed: int
    """Jobs settled as completed."""
    jobs_failed: int
    """Jobs settled as failed."""
    jobs_timed_out: int
    """Jobs that timed out."""
    disputes_lost: int
    """Disputes and fraud reports lost."""
    gpu_seconds_served: int
    """GPU-seconds billed."""
    earned: str
    """Payouts credited, base units (withheld pay counts once released)."""
    withdrawn: str
    """Earnings withdrawn, base units."""
    slashed: str
    """Stake slashed, base units."""
    offers: int
    """Active offers."""
    since: int
    """Unix time of its first event."""
    withheld: str = "0"
    """Pay the escrows hold back for rulings (free stake could not back it), base units: released to its
    earnings when the dispute windows close, or taken by an upheld ruling."""


class DayPoint(_Row):
    """One day of a time series."""

    day: str
    """UTC date, YYYY-MM-DD."""
    value: float
    """The day's value."""


class JobRow(_Row):
    """A job as the index knows it."""

    job_id: int
    """Job id."""
    client: str
    """Who opened it."""
    provider: str
    """Whose offer it runs on."""
    offer_id: int
    """The offer."""
    gpu_count: int
    """GPUs reserved."""
    price_per_gpu_second: str
    """Price locked at creation, base units."""
    max_gpu_seconds: int
    """Most GPU-seconds paid for."""
    deposit: str
    """Deposit, base units."""
    collateral: str
    """Provider collateral locked, base units."""
    status: str
    """Open, Running, Settled, Cancelled, TimedOut, Disputed, DisputeUpheld, DisputeRejected, Fraud or
    DisputeLapsed."""
    created_time: int
    """Unix time it was opened."""
    accepted_at: int | None
    """Unix time the provider accepted."""
    deadline: int
    """Settle-by time."""
    ended_time: int | None
    """Unix time it settled, was cancelled or timed out."""
    gpu_seconds: int | None
    """GPU-seconds billed at settlement."""
    payout: str | None
    """Paid to the provider, base units."""
    fee: str | None
    """Protocol fee, base units."""
    outcome: int | None
    """0 completed, 1 failed (client), 2 failed (provider)."""
    refunded: str
    """Returned to the client so far, base units."""
    spec_hash: str
    """keccak256 of the job spec."""
    created_tx: str
    """The transaction that opened it."""
    withheld: str = "0"
    """Of its payout, what the escrow holds back until its dispute window closes, base units."""


class TimelineEntry(_Row):
    """One event in a job's life."""

    name: str
    """Event name."""
    time: int
    """Block time."""
    block_number: int
    """Block."""
    tx_hash: str
    """Transaction."""
    args: dict[str, Any]
    """The event's fields."""


class JobDetail(_Row):
    """A job and its timeline."""

    job: JobRow
    """The job."""
    timeline: list[TimelineEntry]
    """Its events, oldest first."""


class ProviderDetail(_Row):
    """A provider page's data."""

    provider: ProviderRow
    """Stake and record."""
    offers: list[OfferRow]
    """Its offers, active first."""
    recent_jobs: list[JobRow]
    """Its newest jobs."""
    earnings_by_day: list[DayPoint]
    """Payouts per UTC day, in tokens."""
    uptime: float | None
    """Share of its settled jobs that completed (None before the first settlement)."""


class FamilyPrice(_Row):
    """Prices of the active offers of one GPU family."""

    family: str
    """GPU family."""
    offers: int
    """Active offers."""
    min_price: str
    """Cheapest price per GPU-second, base units (a string, as every amount)."""
    mean_price: str
    """Mean price per GPU-second, base units (rounded)."""
    max_price: str
    """Highest price per GPU-second, base units."""


class Stats(_Row):
    """Network figures."""

    last_block: int
    """Newest block indexed."""
    offers_active: int
    """Active offers whose provider can take work (not jailed)."""
    gpus_offered: int
    """GPUs in those offers."""
    gpus_free: int = 0
    """GPUs of those offers not paused and not reserved by open or running jobs and leases."""
    leases_by_status: dict[str, int] = Field(default_factory=dict)
    """Leases per status."""
    providers: int
    """Providers seen."""
    jobs: int
    """Jobs ever opened."""
    jobs_by_status: dict[str, int]
    """Jobs per status."""
    gpu_hours_settled: float
    """GPU-hours billed by all settlements."""
    value_settled: str
    """Paid to providers, base units."""
    fees: str
    """Protocol fees, base units."""
    gpu_hours_by_day: list[DayPoint]
    """GPU-hours settled per UTC day."""
    value_by_day: list[DayPoint]
    """Paid to providers per UTC day, in tokens."""
    price_by_family: list[FamilyPrice]
    """Active offers' prices per GPU family."""
    gas_per_settled_job: float | None
    """Gas of the settlement transactions divided by the jobs they settled (None before the first)."""
    settlement_txs: int
    """Settlement transactions (batches)."""
    token_decimals: int
    """Decimals of the token amounts."""
    token_symbol: str
    """Token symbol."""


class OracleView(_Row):
    """The oracle set and what waits on it."""

    epoch: int | None
    """Current oracle-set epoch."""
    oracles: list[str]
    """Current oracle addresses."""
    threshold: int | None
    """Signatures a batch needs."""
    history: list[dict[str, Any]]
    """Earlier sets: epoch, oracles, threshold, time."""
    running: int
    """Jobs running (waiting for a receipt to settle)."""
    open: int
    """Jobs waiting for the provider to accept."""
    overdue: int
    """Running jobs past their deadline (a timeout may be claimed soon)."""
    oldest_running_since: int | None
    """Acceptance time of the longest-running job."""
    last_settlement: int | None
    """Block time of the newest settlement."""
    settlements_last_day: int
    """Settlements in the 24 hours before the newest indexed block."""
    now: int
    """Block time of the newest indexed event (the index's clock)."""


class LeaseRow(_Row):
    """A lease as the index knows it (amounts in base units)."""

    lease_id: int
    """Lease id."""
    client: str
    """Who opened it."""
    provider: str
    """Whose offer it runs on."""
    offer_id: int
    """The offer."""
    gpu_count: int
    """GPUs reserved."""
    rate_per_second: str
    """Price per second for all its GPUs."""
    deposit: str
    """Everything the client deposited (opening and top-ups), also after the end (for an Ended lease the
    escrow's getLease shows paid + refundable instead)."""
    end_time: int
    """End time set at opening (0: open-ended)."""
    accept_by: int
    """The provider must accept by then."""
    gpu_class: str
    """Availability class it opened with."""
    notice_seconds: int
    """Reclaim notice it locked at opening."""
    status: str
    """Open, Running, Ended, Cancelled or Disputed."""
    created_time: int
    """Unix time it was opened."""
    started_at: int | None
    """Billing start (acceptance)."""
    billing_end: int | None
    """When billing ended or will end (a close, reclaim or the final checkpoint), else None."""
    paid_through: int | None
    """End of the last settled checkpoint."""
    runway_end: int | None
    """When the deposit not yet covered by a checkpoint runs out (while it runs)."""
    up_seconds: int
    """Seconds settled as up."""
    down_seconds: int
    """Seconds settled as down (refunded to the client)."""
    checkpoints: int
    """Checkpoints settled."""
    paid: str
    """Paid for checkpoints (the provider's payout and the fee)."""
    penalties: str
    """Uptime penalties slashed to the client."""
    refundable: str
    """Unused deposit the client can claim."""
    refunded: str
    """Returned to the client so far."""
    collateral: str
    """Provider collateral still locked for it."""
    reclaimed: bool
    """The provider reclaimed it (billing ended after the notice)."""
    spec_hash: str
    """keccak256 of the workload spec."""
    created_tx: str
    """The transaction that opened it."""
    withheld: str = "0"
    """Of its checkpoints' pay, what the escrow holds back for a ruling (the provider's free stake could not
    lock the whole ruling reserve), base units."""


class LeaseCheckpointRow(_Row):
    """One settled checkpoint of a lease."""

    from_time: int
    """Start of the period."""
    to_time: int
    """End of the period (exclusive)."""
    up_seconds: int
    """Seconds up."""
    down_seconds: int
    """Seconds down."""
    payout: str
    """Paid to the provider."""
    fee: str
    """Protocol fee."""
    penalty: str
    """Uptime penalty slashed to the client."""
    time: int
    """Block time it settled."""
    tx_hash: str
    """The transaction."""


class LeaseDetail(_Row):
    """A lease, its checkpoints and its events."""

    lease: LeaseRow
    """The lease."""
    checkpoints: list[LeaseCheckpointRow]
    """Its settled checkpoints, oldest first."""
    timeline: list[TimelineEntry]
    """Its events, oldest first."""
