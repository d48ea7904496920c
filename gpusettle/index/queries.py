"""Everything the explorer and the CLI read from the index, as typed rows.

Amounts are decimal strings in the token's base units (they exceed 64 bits and JSON doubles); addresses
are EIP-55 checksummed on the way out.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..hashing import checksum_address
from .db import Database

__all__ = [
    "DayPoint",
    "FamilyPrice",
    "JobDetail",
    "JobRow",
    "OfferPage",
    "OfferQuery",
    "OfferRow",
    "OracleView",
    "ProviderDetail",
    "ProviderRow",
    "Stats",
    "TimelineEntry",
    "job",
    "jobs",
    "oracle",
    "provider",
    "providers",
    "search_offers",
    "stats",
]

Sort = Literal["price", "price_per_gb", "record"]


def _cs(address: str | None) -> str | None:
    return checksum_address(bytes.fromhex(address[2:])) if address else None


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
    min_completed: int | None = Field(default=None, ge=0)
    """Least jobs the provider completed (its on-chain record)."""
    provider: str | None = Field(default=None, pattern=r"^0x[0-9a-fA-F]{40}$")
    """Only this provider's offers."""
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
    price_per_gb: float
    """Price per GPU-second per GB of VRAM (base units; for sorting)."""
    metadata_uri: str
    """Where the provider describes the machine."""
    active: bool
    """False once withdrawn."""
    gpu_class: str | None
    """The offer's class (None until the contracts have classes)."""
    verified: bool | None
    """Hardware verified by the oracles (None until the contracts record it)."""
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
    """Payouts credited, base units."""
    withdrawn: str
    """Earnings withdrawn, base units."""
    slashed: str
    """Stake slashed, base units."""
    offers: int
    """Active offers."""
    since: int
    """Unix time of its first event."""


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
    """Open, Running, Settled, Cancelled, TimedOut, Disputed, DisputeUpheld, DisputeRejected or Fraud."""
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
    min_price: float
    """Cheapest price per GPU-second, base units."""
    mean_price: float
    """Mean price per GPU-second, base units."""
    max_price: float
    """Highest price per GPU-second, base units."""


class Stats(_Row):
    """Network figures."""

    last_block: int
    """Newest block indexed."""
    offers_active: int
    """Active offers whose provider can take work (not jailed)."""
    gpus_offered: int
    """GPUs in those offers."""
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


_OFFER_COLUMNS = (
    "o.offer_id, o.provider, o.gpu_model, o.gpu_family, o.gpu_count, o.vram_gb, o.price, o.price_per_gb, "
    "o.metadata_uri, o.active, o.gpu_class, o.verified, o.jobs_running, o.jobs_total, p.jobs_completed, "
    "p.jobs_failed, p.jobs_timed_out, p.disputes_lost, p.bonded, p.jailed"
)


def _offer(r: tuple[Any, ...]) -> OfferRow:
    return OfferRow(
        offer_id=int(r[0]),
        provider=str(_cs(r[1])),
        gpu_model=r[2],
        gpu_family=r[3],
        gpu_count=int(r[4]),
        vram_gb=int(r[5]),
        price_per_gpu_second=str(r[6]),
        price_per_gb=float(r[7]),
        metadata_uri=r[8],
        active=bool(r[9]),
        gpu_class=r[10],
        verified=None if r[11] is None else bool(r[11]),
        jobs_running=int(r[12]),
        jobs_total=int(r[13]),
        jobs_completed=int(r[14]),
        jobs_failed=int(r[15]),
        jobs_timed_out=int(r[16]),
        disputes_lost=int(r[17]),
        bonded=str(r[18]),
        jailed=bool(r[19]),
    )


_ORDER: dict[str, str] = {
    "price": "o.price_num ASC, o.offer_id ASC",
    "price_per_gb": "o.price_per_gb ASC, o.offer_id ASC",
    "record": "p.jobs_completed DESC, o.price_num ASC, o.offer_id ASC",
}


def search_offers(db: Database, q: OfferQuery) -> OfferPage:
    """Offers matching `q`, one page of them in `q.sort` order."""
    where: list[str] = []
    params: list[Any] = []
    if not q.include_inactive:
        where.append("o.active = 1 AND p.jailed = 0")
    if q.gpu:
        where.append("(o.gpu_family = ? OR LOWER(o.gpu_model) LIKE ?)")
        params += [q.gpu.upper(), f"%{q.gpu.lower()}%"]
    if q.min_vram is not None:
        where.append("o.vram_gb >= ?")
        params.append(q.min_vram)
    if q.min_gpus is not None:
        where.append("o.gpu_count >= ?")
        params.append(q.min_gpus)
    if q.max_price is not None:
        # The double pre-filters; the exact comparison on the decimal text follows below.
        where.append("o.price_num <= ?")
        params.append(float(q.max_price) * (1 + 1e-12))
    if q.min_completed is not None:
        where.append("p.jobs_completed >= ?")
        params.append(q.min_completed)
    if q.provider:
        where.append("o.provider = ?")
        params.append(q.provider.lower())
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    base = f"FROM offers o JOIN providers p ON p.address = o.provider {clause}"
    total = int(db.scalar(f"SELECT COUNT(*) {base}", params) or 0)
    rows = db.query(
        f"SELECT {_OFFER_COLUMNS} {base} ORDER BY {_ORDER[q.sort]} LIMIT ? OFFSET ?",
        [*params, q.limit, q.offset],
    )
    offers = [_offer(r) for r in rows]
    if q.max_price is not None:
        exact = [o for o in offers if int(o.price_per_gpu_second) <= q.max_price]
        total -= len(offers) - len(exact)
        offers = exact
    return OfferPage(total=total, offers=offers)


_PROVIDER_COLUMNS = (
    "address, worker, bonded, unbonding, locked, jailed, jobs_completed, jobs_failed, jobs_timed_out, "
    "disputes_lost, gpu_seconds_served, earned, withdrawn, slashed, first_time"
)


def _provider_row(db: Database, r: tuple[Any, ...]) -> ProviderRow:
    offers = int(db.scalar("SELECT COUNT(*) FROM offers WHERE provider = ? AND active = 1", (r[0],)) or 0)
    return ProviderRow(
        address=str(_cs(r[0])),
        worker=_cs(r[1]),
        bonded=str(r[2]),
        unbonding=str(r[3]),
        locked=str(r[4]),
        jailed=bool(r[5]),
        jobs_completed=int(r[6]),
        jobs_failed=int(r[7]),
        jobs_timed_out=int(r[8]),
        disputes_lost=int(r[9]),
        gpu_seconds_served=int(r[10]),
        earned=str(r[11]),
        withdrawn=str(r[12]),
        slashed=str(r[13]),
        offers=offers,
        since=int(r[14]),
    )


def providers(
    db: Database, *, sort: Literal["record", "stake", "earned"] = "record", limit: int = 100
) -> list[ProviderRow]:
    """Providers, best record (or largest stake, or most earned) first."""
    order = {
        "record": "jobs_completed DESC, address",
        "stake": "bonded_num DESC, address",
        "earned": "earned_num DESC, address",
    }[sort]
    rows = db.query(f"SELECT {_PROVIDER_COLUMNS} FROM providers ORDER BY {order} LIMIT ?", (limit,))
    return [_provider_row(db, r) for r in rows]


_JOB_COLUMNS = (
    "job_id, client, provider, offer_id, gpu_count, price, max_gpu_seconds, deposit, collateral, status, "
    "created_time, accepted_at, deadline, ended_time, gpu_seconds, payout, fee, outcome, refunded, spec_hash, created_tx"
)


def _job(r: tuple[Any, ...]) -> JobRow:
    return JobRow(
        job_id=int(r[0]),
        client=str(_cs(r[1])),
        provider=str(_cs(r[2])),
        offer_id=int(r[3]),
        gpu_count=int(r[4]),
        price_per_gpu_second=str(r[5]),
        max_gpu_seconds=int(r[6]),
        deposit=str(r[7]),
        collateral=str(r[8]),
        status=r[9],
        created_time=int(r[10]),
        accepted_at=r[11],
        deadline=int(r[12]),
        ended_time=r[13],
        gpu_seconds=r[14],
        payout=r[15],
        fee=r[16],
        outcome=r[17],
        refunded=str(r[18]),
        spec_hash=r[19],
        created_tx=r[20],
    )


def jobs(
    db: Database,
    *,
    status: str | None = None,
    provider: str | None = None,
    client: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, list[JobRow]]:
    """(matching count, newest jobs first)."""
    where, params = [], []
    for column, value in (("status", status), ("provider", provider), ("client", client)):
        if value:
            where.append(f"{column} = ?")
            params.append(value.lower() if column != "status" else value)
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    total = int(db.scalar(f"SELECT COUNT(*) FROM jobs {clause}", params) or 0)
    rows = db.query(
        f"SELECT {_JOB_COLUMNS} FROM jobs {clause} ORDER BY job_id DESC LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    return total, [_job(r) for r in rows]


def job(db: Database, job_id: int) -> JobDetail | None:
    """A job and its events, or None."""
    rows = db.query(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE job_id = ?", (job_id,))
    if not rows:
        return None
    events = db.query(
        "SELECT name, time, block_number, tx_hash, args FROM events WHERE job_id = ? ORDER BY block_number, log_index",
        (job_id,),
    )
    timeline = [
        TimelineEntry(
            name=n,
            time=int(t),
            block_number=int(b),
            tx_hash=tx,
            args={k: _exact(v) for k, v in json.loads(a).items()},
        )
        for n, t, b, tx, a in events
    ]
    return JobDetail(job=_job(rows[0]), timeline=timeline)


def _exact(value: Any) -> Any:
    """Integers beyond 2^53 as decimal strings, so JavaScript readers of the API keep every digit."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 1 << 53:
        return str(value)
    if isinstance(value, list):
        return [_exact(v) for v in value]
    return value


def _decimals(db: Database) -> int:
    got = db.scalar("SELECT value FROM meta WHERE key = 'token_decimals'")
    return int(got) if got is not None else 18


def _days(db: Database, value: str, where: str, params: list[Any], scale: float) -> list[DayPoint]:
    """A per-UTC-day series of SUM(`value`) over settlements (grouped in SQL: one row per day)."""
    import datetime as dt

    rows = db.query(
        f"SELECT time / 86400 AS day, SUM({value}) FROM settlements {where} GROUP BY time / 86400 ORDER BY day",
        params,
    )
    return [
        DayPoint(
            day=dt.datetime.fromtimestamp(int(day) * 86400, dt.UTC).strftime("%Y-%m-%d"),
            value=float(total or 0) / scale,
        )
        for day, total in rows
    ]


def provider(db: Database, address: str) -> ProviderDetail | None:
    """A provider's page, or None when the index has never seen it."""
    key = address.lower()
    rows = db.query(f"SELECT {_PROVIDER_COLUMNS} FROM providers WHERE address = ?", (key,))
    if not rows:
        return None
    row = _provider_row(db, rows[0])
    offer_rows = db.query(
        f"SELECT {_OFFER_COLUMNS} FROM offers o JOIN providers p ON p.address = o.provider "
        "WHERE o.provider = ? ORDER BY o.active DESC, o.offer_id",
        (key,),
    )
    _total, recent = jobs(db, provider=key, limit=20)
    earnings = _days(db, "payout_num", "WHERE provider = ?", [key], 10.0 ** _decimals(db))
    settled = row.jobs_completed + row.jobs_failed + row.jobs_timed_out
    uptime = row.jobs_completed / settled if settled else None
    return ProviderDetail(
        provider=row,
        offers=[_offer(r) for r in offer_rows],
        recent_jobs=recent,
        earnings_by_day=earnings,
        uptime=uptime,
    )


def stats(db: Database) -> Stats:
    """Network-wide figures."""
    decimals = _decimals(db)
    by_status = {str(s): int(n) for s, n in db.query("SELECT status, COUNT(*) FROM jobs GROUP BY status")}
    totals = {str(n): int(v) for n, v in db.query("SELECT name, value FROM totals")}
    value, fees, gpu_seconds = (totals.get(k, 0) for k in ("value_settled", "fees", "gpu_seconds"))
    batches, jobs_in, gas = db.query(
        "SELECT COUNT(*), COALESCE(SUM(jobs), 0), COALESCE(SUM(gas_used), 0) FROM settlement_txs WHERE gas_used IS NOT NULL"
    )[0]
    batches, jobs_in, gas = int(batches), int(jobs_in), int(gas)
    # One grouped pass over the offers that can take work (active, provider not jailed).
    groups = db.query(
        "SELECT o.gpu_family, COUNT(*), MIN(o.price_num), AVG(o.price_num), MAX(o.price_num), SUM(o.gpu_count) "
        "FROM offers o JOIN providers p ON p.address = o.provider WHERE o.active = 1 AND p.jailed = 0 "
        "GROUP BY o.gpu_family"
    )
    families = sorted(
        (
            FamilyPrice(
                family=str(f), offers=int(n), min_price=float(lo), mean_price=float(mean), max_price=float(hi)
            )
            for f, n, lo, mean, hi, _gpus in groups
        ),
        key=lambda fp: fp.mean_price,
    )
    return Stats(
        last_block=int(db.scalar("SELECT value FROM meta WHERE key = 'last_block'") or 0),
        offers_active=sum(int(g[1]) for g in groups),
        gpus_offered=sum(int(g[5]) for g in groups),
        providers=int(db.scalar("SELECT COUNT(*) FROM providers") or 0),
        jobs=sum(by_status.values()),
        jobs_by_status=by_status,
        gpu_hours_settled=gpu_seconds / 3600,
        value_settled=str(value),
        fees=str(fees),
        gpu_hours_by_day=_days(db, "gpu_seconds", "", [], 3600.0),
        value_by_day=_days(db, "payout_num", "", [], 10.0**decimals),
        price_by_family=families,
        gas_per_settled_job=(gas / jobs_in) if jobs_in else None,
        settlement_txs=batches,
        token_decimals=decimals,
        token_symbol=str(db.scalar("SELECT value FROM meta WHERE key = 'token_symbol'") or "tokens"),
    )


def oracle(db: Database) -> OracleView:
    """The oracle set and its queue, as the chain shows them."""
    sets = db.query("SELECT epoch, oracles, threshold, time FROM oracle_sets ORDER BY epoch DESC")
    # The newest event's time through the primary key (MAX(time) would scan every event).
    now = int(db.scalar("SELECT time FROM events ORDER BY block_number DESC, log_index DESC LIMIT 1") or 0)
    last_settlement = db.scalar("SELECT MAX(time) FROM settlements")
    current = sets[0] if sets else None
    return OracleView(
        epoch=int(current[0]) if current else None,
        oracles=[str(_cs(a)) for a in json.loads(current[1])] if current else [],
        threshold=int(current[2]) if current else None,
        history=[
            {
                "epoch": int(e),
                "oracles": [_cs(a) for a in json.loads(o)],
                "threshold": int(t),
                "time": int(tm),
            }
            for e, o, t, tm in sets[1:]
        ],
        running=int(db.scalar("SELECT COUNT(*) FROM jobs WHERE status = 'Running'") or 0),
        open=int(db.scalar("SELECT COUNT(*) FROM jobs WHERE status = 'Open'") or 0),
        overdue=int(
            db.scalar("SELECT COUNT(*) FROM jobs WHERE status = 'Running' AND deadline < ?", (now,)) or 0
        ),
        oldest_running_since=db.scalar("SELECT MIN(accepted_at) FROM jobs WHERE status = 'Running'"),
        last_settlement=int(last_settlement) if last_settlement is not None else None,
        settlements_last_day=int(
            db.scalar("SELECT COUNT(*) FROM settlements WHERE time > ?", (now - 86400,)) or 0
        ),
        now=now,
    )
