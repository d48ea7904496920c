"""Everything the explorer and the CLI read from the index, as typed rows.

Amounts are decimal strings in the token's base units (they exceed 64 bits and JSON doubles); addresses
are EIP-55 checksummed on the way out.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from ..availability import CLASSES
from ..hashing import checksum_address
from .db import Database
from .rows import (
    DayPoint,
    FamilyPrice,
    JobDetail,
    JobRow,
    LeaseCheckpointRow,
    LeaseDetail,
    LeaseRow,
    OfferPage,
    OfferQuery,
    OfferRow,
    OracleView,
    ProviderDetail,
    ProviderRow,
    Stats,
    TimelineEntry,
)

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
    "Stats",
    "TimelineEntry",
    "job",
    "jobs",
    "lease",
    "lease_statuses",
    "leases",
    "offer",
    "oracle",
    "provider",
    "providers",
    "search_offers",
    "stats",
]


def _cs(address: str | None) -> str | None:
    return checksum_address(bytes.fromhex(address[2:])) if address else None


_OFFER_COLUMNS = (
    "o.offer_id, o.provider, o.gpu_model, o.gpu_family, o.gpu_count, o.vram_gb, o.price, o.price_per_gb, "
    "o.metadata_uri, o.active, o.gpu_class, o.verified, o.jobs_running, o.jobs_total, p.jobs_completed, "
    "p.jobs_failed, p.jobs_timed_out, p.disputes_lost, p.bonded, p.jailed, o.notice_seconds, o.uptime_bps, "
    "o.paused, o.gpus_free, o.leases_running, o.hw_checked_at, o.hw_gpu_count, o.hw_vram_gb"
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
        price_per_gb=str(int(r[6]) // max(1, int(r[5]))),
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
        notice_seconds=int(r[20] or 0),
        uptime_bps=int(r[21] or 0),
        paused=bool(r[22]),
        gpus_free=None if r[23] is None else int(r[23]),
        leases_running=int(r[24] or 0),
        verified_at=None if r[25] is None else int(r[25]),
        verified_terms_match=None if r[25] is None else int(r[26]) >= int(r[4]) and int(r[27]) >= int(r[5]),
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
        where.append("o.active = 1 AND p.jailed = 0 AND o.paused = 0")
    if q.gpu:
        where.append("(o.gpu_family = ? OR LOWER(o.gpu_model) LIKE ? ESCAPE '\\')")
        # The text is matched as written: % and _ in it are not wildcards.
        literal = q.gpu.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params += [q.gpu.upper(), f"%{literal}%"]
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
    if q.min_free is not None:
        where.append("COALESCE(o.gpus_free, o.gpu_count) >= ?")
        params.append(q.min_free)
    if q.max_class is not None:
        classes = CLASSES[: q.max_class + 1]
        where.append(f"COALESCE(o.gpu_class, 'dedicated') IN ({', '.join('?' for _ in classes)})")
        params += list(classes)
    if q.min_notice:
        # The escrow's rule: a reclaimable offer must give at least the notice; the others always fit.
        where.append("(COALESCE(o.gpu_class, 'dedicated') <> 'reclaimable' OR o.notice_seconds >= ?)")
        params.append(q.min_notice)
    if q.provider:
        where.append("o.provider = ?")
        params.append(q.provider.lower())
    if q.verified:
        where.append("o.verified = 1")
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
    "disputes_lost, gpu_seconds_served, earned, withdrawn, slashed, first_time, withheld"
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
        withheld=str(r[15]),
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
    "created_time, accepted_at, deadline, ended_time, gpu_seconds, payout, fee, outcome, refunded, spec_hash, created_tx, "
    "withheld"
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
        withheld=str(r[21]),
    )


def _newest_first(
    db: Database,
    table: str,
    columns: str,
    key: str,
    status: str | None,
    provider: str | None,
    client: str | None,
    limit: int,
    offset: int,
    offer: int | None = None,
) -> tuple[int, list[tuple[Any, ...]]]:
    """The count of a jobs- or leases-like table's rows matching the filters, and one page of them, newest first.
    Addresses are stored lower-case; a status is matched as given."""
    where: list[str] = []
    params: list[Any] = []
    for column, value in (("status", status), ("provider", provider), ("client", client)):
        if value:
            where.append(f"{column} = ?")
            params.append(value.lower() if column != "status" else value)
    if offer is not None:
        where.append("offer_id = ?")
        params.append(offer)
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    total = int(db.scalar(f"SELECT COUNT(*) FROM {table} {clause}", params) or 0)
    rows = db.query(
        f"SELECT {columns} FROM {table} {clause} ORDER BY {key} DESC LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    return total, rows


def jobs(
    db: Database,
    *,
    status: str | None = None,
    provider: str | None = None,
    client: str | None = None,
    limit: int = 50,
    offset: int = 0,
    offer: int | None = None,
) -> tuple[int, list[JobRow]]:
    """(matching count, newest jobs first)."""
    total, rows = _newest_first(
        db, "jobs", _JOB_COLUMNS, "job_id", status, provider, client, limit, offset, offer
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


def token_of(db: Database) -> tuple[int, str]:
    """The token's decimals and symbol, as the index recorded them (two key reads: what most pages need)."""
    symbol = str(db.scalar("SELECT value FROM meta WHERE key = 'token_symbol'") or "tokens")
    return _decimals(db), symbol


def stats(db: Database, *, by_day: bool = True) -> Stats:
    """Network-wide figures; without `by_day` the per-day series (a pass over every settlement) stay empty."""
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
        "SELECT o.gpu_family, COUNT(*), MIN(o.price_num), AVG(o.price_num), MAX(o.price_num), SUM(o.gpu_count), "
        "SUM(CASE WHEN o.paused = 1 THEN 0 ELSE COALESCE(o.gpus_free, o.gpu_count) END) "
        "FROM offers o JOIN providers p ON p.address = o.provider WHERE o.active = 1 AND p.jailed = 0 "
        "GROUP BY o.gpu_family"
    )
    families = sorted(
        (
            FamilyPrice(
                family=str(f),
                offers=int(n),
                min_price=str(round(float(lo))),
                mean_price=str(round(float(mean))),
                max_price=str(round(float(hi))),
            )
            for f, n, lo, mean, hi, _gpus, _free in groups
        ),
        key=lambda fp: int(fp.mean_price),
    )
    return Stats(
        last_block=int(db.scalar("SELECT value FROM meta WHERE key = 'last_block'") or 0),
        offers_active=sum(int(g[1]) for g in groups),
        gpus_offered=sum(int(g[5]) for g in groups),
        gpus_free=sum(int(g[6] or 0) for g in groups),
        leases_by_status={
            str(st): int(n) for st, n in db.query("SELECT status, COUNT(*) FROM leases GROUP BY status")
        },
        providers=int(db.scalar("SELECT COUNT(*) FROM providers") or 0),
        jobs=sum(by_status.values()),
        jobs_by_status=by_status,
        gpu_hours_settled=gpu_seconds / 3600,
        value_settled=str(value),
        fees=str(fees),
        gpu_hours_by_day=_days(db, "gpu_seconds", "", [], 3600.0) if by_day else [],
        value_by_day=_days(db, "payout_num", "", [], 10.0**decimals) if by_day else [],
        price_by_family=families,
        gas_per_settled_job=(gas / jobs_in) if jobs_in else None,
        settlement_txs=batches,
        token_decimals=decimals,
        token_symbol=token_of(db)[1],
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


_LEASE_COLUMNS = (
    "lease_id, client, provider, offer_id, gpu_count, rate, deposit, end_time, accept_by, gpu_class, "
    "notice_seconds, status, created_time, started_at, billing_end, paid_through, runway_end, up_seconds, "
    "down_seconds, checkpoints, paid, penalties, refundable, refunded, collateral, reclaimed, spec_hash, created_tx, "
    "withheld"
)


def _lease(r: tuple[Any, ...]) -> LeaseRow:
    return LeaseRow(
        lease_id=int(r[0]),
        client=str(_cs(r[1])),
        provider=str(_cs(r[2])),
        offer_id=int(r[3]),
        gpu_count=int(r[4]),
        rate_per_second=str(r[5]),
        deposit=str(r[6]),
        end_time=int(r[7]),
        accept_by=int(r[8]),
        gpu_class=str(r[9]),
        notice_seconds=int(r[10]),
        status=str(r[11]),
        created_time=int(r[12]),
        started_at=None if r[13] is None else int(r[13]),
        billing_end=None if r[14] is None else int(r[14]),
        paid_through=None if r[15] is None else int(r[15]),
        runway_end=None if r[16] is None else int(r[16]),
        up_seconds=int(r[17]),
        down_seconds=int(r[18]),
        checkpoints=int(r[19]),
        paid=str(r[20]),
        penalties=str(r[21]),
        refundable=str(r[22]),
        refunded=str(r[23]),
        collateral=str(r[24]),
        reclaimed=bool(r[25]),
        spec_hash=str(r[26]),
        created_tx=str(r[27]),
        withheld=str(r[28]),
    )


def leases(
    db: Database,
    *,
    status: str | None = None,
    provider: str | None = None,
    client: str | None = None,
    limit: int = 50,
    offset: int = 0,
    offer: int | None = None,
) -> tuple[int, list[LeaseRow]]:
    """(matching count, newest leases first)."""
    total, rows = _newest_first(
        db, "leases", _LEASE_COLUMNS, "lease_id", status, provider, client, limit, offset, offer
    )
    return total, [_lease(r) for r in rows]


def lease_statuses(db: Database) -> dict[str, int]:
    """How many leases the index holds in each status."""
    return {str(s): int(n) for s, n in db.query("SELECT status, COUNT(*) FROM leases GROUP BY status")}


def offer(db: Database, offer_id: int) -> OfferRow | None:
    """One offer with its provider's record (also a withdrawn or paused one), or None."""
    rows = db.query(
        f"SELECT {_OFFER_COLUMNS} FROM offers o JOIN providers p ON p.address = o.provider WHERE o.offer_id = ?",
        (offer_id,),
    )
    return _offer(rows[0]) if rows else None


def lease(db: Database, lease_id: int) -> LeaseDetail | None:
    """A lease, its checkpoints and its events, or None."""
    rows = db.query(f"SELECT {_LEASE_COLUMNS} FROM leases WHERE lease_id = ?", (lease_id,))
    if not rows:
        return None
    checkpoints = [
        LeaseCheckpointRow(
            from_time=int(f),
            to_time=int(to),
            up_seconds=int(up),
            down_seconds=int(down),
            payout=str(p),
            fee=str(fee),
            penalty=str(pen),
            time=int(tm),
            tx_hash=str(tx),
        )
        for f, to, up, down, p, fee, pen, tm, tx in db.query(
            "SELECT from_time, to_time, up_seconds, down_seconds, payout, fee, penalty, time, tx_hash "
            "FROM lease_checkpoints WHERE lease_id = ? ORDER BY from_time",
            (lease_id,),
        )
    ]
    events = db.query(
        "SELECT name, time, block_number, tx_hash, args FROM events WHERE lease_id = ? ORDER BY block_number, log_index",
        (lease_id,),
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
    return LeaseDetail(lease=_lease(rows[0]), checkpoints=checkpoints, timeline=timeline)
