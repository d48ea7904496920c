"""The explorer's HTML pages, rendered on the server from the same queries as the API (fast with no
JavaScript; forms are plain GET forms, so every view has a shareable URL)."""

from __future__ import annotations

import time
from html import escape
from typing import Any
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from ..errors import InvalidPriceError
from ..index import queries
from ..index.db import Database
from ..index.match import price_per_second
from ..index.rows import Sort
from ..text import strip_controls
from .api import BadQuery, JobsQuery, ProvidersQuery, _address, _job_id, parse
from .charts import bars, ranges

__all__ = ["page_routes"]


class MarketQuery(BaseModel):
    """The market page's filters (the form's fields)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)
    gpu: str | None = Field(default=None, max_length=64)
    """GPU family or part of the model name."""
    min_vram: int | None = Field(default=None, ge=0, le=2**32 - 1)
    """Least VRAM per GPU, GB."""
    min_gpus: int | None = Field(default=None, ge=1, le=255)
    """Least GPUs per job."""
    max_price: str | None = Field(default=None, max_length=32)
    """Highest price: tokens per GPU-hour (the field's label; 3.5 or 3.5/h) or per GPU-second (0.001/s)."""
    min_completed: int | None = Field(default=None, ge=0, le=2**32 - 1)
    """Least jobs the provider completed."""
    verified: bool = False
    """Only offers whose latest hardware check passed and still covers their terms."""
    sort: Sort = "price"
    """Order."""
    page: int = Field(default=1, ge=1, le=100_000)
    """Page number."""


def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def _tok(amount: str | int | None, decimals: int) -> str:
    if amount is None:
        return "–"
    value = int(amount) / 10**decimals
    return f"{value:,.4f}" if value < 1000 else f"{value:,.0f}"


def _hour(price: str, decimals: int) -> float:
    return float(int(price) * 3600 / 10**decimals)


def _when(ts: int | None, now: int | None = None) -> str:
    if not ts:
        return "–"
    try:
        return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))
    except (OverflowError, OSError, ValueError):
        # A uint64 time from an event (a lease's end time, a job's deadline) can lie past what the C
        # library's calendar holds: show the number rather than fail the page.
        return f"unix time {ts}"


def _short(address: str) -> str:
    return f"{address[:6]}…{address[-4:]}"


def _layout(title: str, body: str, active: str, status: int = 200) -> HTMLResponse:
    nav = "".join(
        f'<a href="{href}" class="{"on" if key == active else ""}">{label}</a>'
        for key, href, label in (
            ("market", "/", "Market"),
            ("jobs", "/jobs", "Jobs"),
            ("leases", "/leases", "Leases"),
            ("providers", "/providers", "Providers"),
            ("oracle", "/oracle", "Oracle"),
            ("network", "/network", "Network"),
        )
    )
    html = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} · gpusettle explorer</title>
<link rel="stylesheet" href="/static/app.css">
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
</head><body>
<header><a class="brand" href="/">gpusettle<span>explorer</span></a><nav>{nav}</nav></header>
<main>{body}</main>
<footer>Read-only view of the chain index · <a href="/api/openapi.json">JSON API</a></footer>
</body></html>"""
    return HTMLResponse(html, status_code=status)


def _error_page(status: int, reason: str) -> HTMLResponse:
    return _layout(
        "Error",
        f'<section class="card error"><h1>{status}</h1><p class="reason">{escape(reason)}</p>'
        '<p><a href="/">Back to the market</a></p></section>',
        "",
        status,
    )


def _guard(fn: Any) -> Any:
    def endpoint(request: Request) -> HTMLResponse:
        try:
            result: HTMLResponse = fn(request)
            return result
        except BadQuery as exc:
            return _error_page(400, exc.reason)
        except LookupError as exc:
            return _error_page(404, str(exc.args[0]))

    return endpoint


def _card(label: str, value: str, sub: str = "") -> str:
    return f'<div class="stat"><div class="label">{escape(label)}</div><div class="value">{value}</div><div class="sub">{sub}</div></div>'


def _status(s: str) -> str:
    return f'<span class="status s-{escape(s.lower())}">{escape(s)}</span>'


def _offers_table(offers: list[queries.OfferRow], decimals: int, symbol: str) -> str:
    if not offers:
        return '<p class="empty" id="no-offers">No offer fits these filters. Loosen them to see more.</p>'
    rows = []
    for o in offers:
        hour = _hour(o.price_per_gpu_second, decimals)
        rows.append(
            f'<tr data-offer="{o.offer_id}"><td class="num"><a href="/offers/{o.offer_id}">{o.offer_id}</a></td>'
            f'<td><span class="gpu">{escape(o.gpu_family)}</span> <span class="model">{escape(strip_controls(o.gpu_model))}</span></td>'
            f'<td class="num price">{hour:,.4f}</td>'
            f'<td class="num">{o.gpu_count}</td><td class="num">{o.vram_gb} GB</td>'
            f'<td class="num">{hour / max(1, o.vram_gb):,.5f}</td>'
            f'<td><a href="/providers/{o.provider}">{_short(o.provider)}</a></td>'
            f'<td class="num">{o.jobs_completed} / {o.jobs_failed} / {o.jobs_timed_out}</td>'
            f'<td class="num">{o.jobs_running}</td><td class="hw">{_hardware(o)}</td></tr>'
        )
    return (
        '<div class="scroll"><table id="offers"><thead><tr><th>Offer</th><th>GPU</th>'
        f"<th>{escape(symbol)} / GPU-h</th><th>GPUs</th><th>VRAM</th><th>per GB-h</th><th>Provider</th><th>Done / failed / timed out</th>"
        f"<th>Busy</th><th>Hardware</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _hardware(o: queries.OfferRow) -> str:
    """The latest hardware check, in a word: verified, failed, stale (the offer grew since) or a dash."""
    if o.verified is None:
        return '<span class="muted" title="never checked">–</span>'
    when = f"checked {_when(o.verified_at)}" if o.verified_at else ""
    if o.verified:
        return f'<span class="status s-verified" title="{escape(when)}">verified</span>'
    word = "stale" if o.verified_terms_match is False else "failed"
    return f'<span class="status s-{word}" title="{escape(when)}">{word}</span>'


def _jobs_table(rows: list[queries.JobRow], decimals: int, table_id: str = "jobs") -> str:
    if not rows:
        return '<p class="empty">No jobs yet.</p>'
    body = "".join(
        f'<tr><td class="num"><a href="/jobs/{j.job_id}">#{j.job_id}</a></td><td>{_status(j.status)}</td>'
        f'<td><a href="/providers/{j.provider}">{_short(j.provider)}</a></td><td>{_short(j.client)}</td>'
        f'<td class="num">{j.gpu_count}</td><td class="num">{_tok(j.deposit, decimals)}</td>'
        f'<td class="num">{_tok(j.payout, decimals)}</td><td>{_when(j.created_time)}</td></tr>'
        for j in rows
    )
    return (
        f'<div class="scroll"><table id="{table_id}"><thead><tr><th>Job</th><th>Status</th><th>Provider</th><th>Client</th>'
        "<th>GPUs</th><th>Deposit</th><th>Paid</th><th>Opened</th></tr></thead>"
        f"<tbody>{body}</tbody></table></div>"
    )


def _market(request: Request) -> HTMLResponse:
    db = _db(request)
    mq = parse(MarketQuery, request.query_params, drop_empty=True)
    stats = queries.stats(db, by_day=False)
    d, sym = stats.token_decimals, stats.token_symbol
    max_price = None
    if mq.max_price is not None:
        # The form's field is labelled per GPU-hour, so a bare number there is per GPU-hour; a unit
        # (/h, /s) reads as everywhere else (units.parse_price).
        text = mq.max_price if "/" in mq.max_price else f"{mq.max_price}/h"
        try:
            max_price = price_per_second(text, d)
        except InvalidPriceError as exc:
            raise BadQuery(f"max_price: {exc.message} (tokens per GPU-hour)", "max_price") from None
    per_page = 50
    q = queries.OfferQuery(
        gpu=mq.gpu,
        min_vram=mq.min_vram,
        min_gpus=mq.min_gpus,
        max_price=max_price,
        min_completed=mq.min_completed,
        verified=mq.verified,
        sort=mq.sort,
        limit=per_page,
        offset=(mq.page - 1) * per_page,
    )
    page = queries.search_offers(db, q)
    families = [f.family for f in stats.price_by_family]
    options = "".join(
        f'<option value="{escape(f)}"{" selected" if mq.gpu and mq.gpu.upper() == f.upper() else ""}>{escape(f)}</option>'
        for f in sorted(families)
    )

    def field(name: str, label: str, value: Any, kind: str = "number", extra: str = "") -> str:
        v = "" if value is None else escape(str(value))
        return f'<label>{label}<input type="{kind}" name="{name}" value="{v}" {extra}></label>'

    sorts = "".join(
        f'<option value="{k}"{" selected" if mq.sort == k else ""}>{label}</option>'
        for k, label in (
            ("price", "Price"),
            ("price_per_gb", "Price per GB VRAM"),
            ("record", "Provider record"),
        )
    )
    form = (
        '<form class="filters" method="get" action="/" id="filters">'
        f'<label>GPU<select name="gpu"><option value="">Any</option>{options}</select></label>'
        + field("min_vram", "Min VRAM (GB)", mq.min_vram, extra='min="0"')
        + field("min_gpus", "Min GPUs", mq.min_gpus, extra='min="1" max="255"')
        + field("max_price", f"Max {escape(sym)}/GPU-h", mq.max_price, "text", 'inputmode="decimal"')
        + field("min_completed", "Min jobs done", mq.min_completed, extra='min="0"')
        + '<label class="check"><input type="checkbox" name="verified" value="true"'
        + (" checked" if mq.verified else "")
        + "> Verified hardware</label>"
        + f'<label>Sort<select name="sort">{sorts}</select></label>'
        '<button type="submit">Search</button><a class="reset" href="/">Reset</a></form>'
    )
    chart = ranges(
        [
            (
                f.family,
                int(f.min_price) * 3600 / 10**d,
                int(f.mean_price) * 3600 / 10**d,
                int(f.max_price) * 3600 / 10**d,
                f.offers,
            )
            for f in stats.price_by_family
        ],
        unit=f"{sym}/GPU-h",
        title="Price per GPU-hour by GPU family",
    )
    _total, recent = queries.jobs(db, limit=10)
    pages = ""
    if page.total > per_page:
        last = (page.total + per_page - 1) // per_page
        kept = [(k, v) for k, v in request.query_params.items() if k != "page" and v]
        base = escape(urlencode(kept))
        prev_link = f'<a href="/?{base}&page={mq.page - 1}">← Previous</a>' if mq.page > 1 else ""
        next_link = f'<a href="/?{base}&page={mq.page + 1}">Next →</a>' if mq.page < last else ""
        pages = f'<nav class="pages">{prev_link}<span>page {mq.page} of {last}</span>{next_link}</nav>'
    body = f"""
<section class="cards">
{_card("Active offers", f"{stats.offers_active:,}", f"{stats.gpus_offered:,} GPUs")}
{_card("Providers", f"{stats.providers:,}")}
{_card("Jobs", f"{stats.jobs:,}", f"{stats.jobs_by_status.get('Running', 0):,} running")}
{_card("Settled", f"{stats.gpu_hours_settled:,.1f} GPU-h", f"{_tok(stats.value_settled, d)} {escape(sym)} paid")}
</section>
<section class="card"><h2>Find GPUs</h2>{form}
<p class="count" id="offer-count">{page.total:,} offers fit</p>
{_offers_table(page.offers, d, sym)}{pages}</section>
<section class="grid2">
<div class="card"><h2>Price by GPU family</h2><p class="hint">Cheapest to dearest active offer; the dot is the mean.</p>{chart}</div>
<div class="card"><h2>Recent jobs</h2>{_jobs_table(recent, d, "recent-jobs")}</div>
</section>"""
    return _layout("Market", body, "market")


def _jobs(request: Request) -> HTMLResponse:
    db = _db(request)
    q = parse(JobsQuery, request.query_params)
    stats = queries.stats(db, by_day=False)
    total, rows = queries.jobs(
        db, status=q.status, provider=q.provider, client=q.client, limit=q.limit, offset=q.offset
    )
    statuses = "".join(
        f'<a class="chip{" on" if q.status == s else ""}" href="/jobs?status={s}">{s} · {n}</a>'
        for s, n in sorted(stats.jobs_by_status.items())
    )
    body = (
        f'<section class="card"><h1>Jobs</h1><div class="chips"><a class="chip{"" if q.status else " on"}" href="/jobs">All · {stats.jobs}</a>{statuses}</div>'
        f'<p class="count">{total:,} jobs</p>{_jobs_table(rows, stats.token_decimals)}</section>'
    )
    return _layout("Jobs", body, "jobs")


def _job(request: Request) -> HTMLResponse:
    db = _db(request)
    job_id = _job_id(request.path_params["job_id"])
    found = queries.job(db, job_id)
    if found is None:
        raise LookupError(f"no job {job_id} in the index (it may not exist yet, or the index is behind)")
    d, sym = queries.token_of(db)
    j = found.job
    steps = "".join(
        f'<li><div class="dot"></div><div><strong>{escape(e.name)}</strong> <span class="when">{_when(e.time)}</span>'
        f'<div class="meta">block {e.block_number} · tx <code>{escape(e.tx_hash[:18])}…</code></div>'
        f'<div class="args">{_args(e.args, d)}</div></div></li>'
        for e in found.timeline
    )
    outcome = (
        {0: "completed", 1: "failed (client)", 2: "failed (provider)"}.get(j.outcome or 0, "")
        if j.outcome is not None
        else "–"
    )
    facts = [
        ("Status", _status(j.status)),
        ("Provider", f'<a href="/providers/{j.provider}">{j.provider}</a>'),
        ("Client", escape(j.client)),
        ("Offer", f"#{j.offer_id} · {j.gpu_count} GPUs"),
        ("Price", f"{_hour(j.price_per_gpu_second, d):,.4f} {escape(sym)} / GPU-h"),
        ("Max GPU-seconds", f"{j.max_gpu_seconds:,}"),
        ("Deposit", f"{_tok(j.deposit, d)} {escape(sym)}"),
        ("Collateral", f"{_tok(j.collateral, d)} {escape(sym)}"),
        ("Billed", f"{j.gpu_seconds:,} GPU-s" if j.gpu_seconds is not None else "–"),
        ("Paid to provider", f"{_tok(j.payout, d)} {escape(sym)}"),
        ("Outcome", outcome),
        ("Refunded", f"{_tok(j.refunded, d)} {escape(sym)}"),
    ]
    if int(j.withheld):
        facts.append(
            (
                "Withheld",
                f"{_tok(j.withheld, d)} {escape(sym)} of the pay, held for a ruling until the dispute window closes",
            )
        )
    facts += [
        ("Opened", _when(j.created_time)),
        ("Deadline", _when(j.deadline)),
        ("Spec hash", f"<code>{escape(j.spec_hash)}</code>"),
    ]
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    body = (
        f'<section class="card"><h1 id="job-title">Job #{j.job_id}</h1><dl class="facts">{dl}</dl></section>'
        f'<section class="card"><h2>Timeline</h2><ol class="timeline" id="timeline">{steps}</ol></section>'
    )
    return _layout(f"Job {j.job_id}", body, "jobs")


def _args(args: dict[str, Any], decimals: int) -> str:
    parts = []
    for k, v in args.items():
        if k in ("jobId",):
            continue
        text = str(v)
        if isinstance(v, str) and v.startswith("0x") and len(v) > 20:
            text = _short(v)
        parts.append(f"<span>{escape(k)}: {escape(text)}</span>")
    return " ".join(parts)


JAILED_TAG = ' <span class="warn">jailed</span>'
"""Marks a jailed provider in the providers list."""


def _providers(request: Request) -> HTMLResponse:
    """The providers list: the same query as `gpusettle market providers` and /api/providers."""
    db = _db(request)
    q = parse(ProvidersQuery, request.query_params)
    rows = queries.providers(db, sort=q.sort, limit=q.limit)  # type: ignore[arg-type]
    d, sym = queries.token_of(db)
    sorts = "".join(
        f'<a class="chip{" on" if q.sort == key else ""}" href="/providers?sort={key}">{label}</a>'
        for key, label in (("record", "Best record"), ("stake", "Largest stake"), ("earned", "Most earned"))
    )
    lines = "".join(
        f'<tr><td><a href="/providers/{p.address}">{_short(p.address)}</a>'
        f"{JAILED_TAG if p.jailed else ''}</td>"
        f'<td class="num">{_tok(p.bonded, d)}</td>'
        f'<td class="num">{p.jobs_completed} / {p.jobs_failed} / {p.jobs_timed_out}</td>'
        f'<td class="num">{p.disputes_lost}</td><td class="num">{p.gpu_seconds_served / 3600:,.2f}</td>'
        f'<td class="num">{_tok(p.earned, d)}</td></tr>'
        for p in rows
    )
    table = (
        '<div class="scroll"><table id="providers"><thead><tr><th>Provider</th>'
        f"<th>Bonded ({escape(sym)})</th><th>Done / failed / timed out</th><th>Disputes lost</th>"
        f"<th>GPU-h served</th><th>Earned ({escape(sym)})</th></tr></thead><tbody>{lines}</tbody></table></div>"
        if rows
        else '<p class="empty">No provider in the index yet.</p>'
    )
    body = (
        f'<section class="card"><h1>Providers</h1><div class="chips">{sorts}</div>'
        f'<p class="count">{len(rows):,} providers</p>{table}</section>'
    )
    return _layout("Providers", body, "providers")


def _provider(request: Request) -> HTMLResponse:
    db = _db(request)
    address = _address(request.path_params["address"])
    found = queries.provider(db, address)
    if found is None:
        raise LookupError(f"no provider {address} in the index")
    d, sym = queries.token_of(db)
    p = found.provider
    uptime = f"{found.uptime * 100:.1f}%" if found.uptime is not None else "–"
    cards = (
        _card("Bonded stake", f"{_tok(p.bonded, d)}", f"{escape(sym)} · {_tok(p.locked, d)} locked")
        + _card(
            "Record",
            f"{p.jobs_completed} done",
            f"{p.jobs_failed} failed · {p.jobs_timed_out} timed out · {p.disputes_lost} lost",
        )
        + _card("Completed share", uptime, f"{p.gpu_seconds_served / 3600:,.2f} GPU-h served")
        + _card(
            "Earned",
            f"{_tok(p.earned, d)}",
            f"{escape(sym)} · {_tok(p.slashed, d)} slashed"
            + (f" · {_tok(p.withheld, d)} withheld for rulings" if int(p.withheld) else ""),
        )
    )
    chart = bars([(x.day, x.value) for x in found.earnings_by_day], unit=sym, title="Earnings per day")
    jailed = '<p class="warn">Jailed: takes no new work until governance releases it.</p>' if p.jailed else ""
    from .lease_pages import leases_table  # here: lease_pages builds on this module's helpers

    n_leases, leases = queries.leases(db, provider=p.address, limit=10)
    all_leases = (
        f' <a class="all" href="/leases?provider={p.address}">all {n_leases:,} →</a>'
        if n_leases > len(leases)
        else ""
    )
    body = (
        f'<section class="card"><h1 id="provider-title">Provider <code>{escape(p.address)}</code></h1>{jailed}'
        f'<p class="meta">worker key <code>{escape(p.worker or "none")}</code> · first seen {_when(p.since)}</p></section>'
        f'<section class="cards">{cards}</section>'
        f'<section class="card"><h2>Offers</h2>{_offers_table(found.offers, d, sym)}</section>'
        f'<section class="grid2"><div class="card"><h2>Earnings per day</h2>{chart}</div>'
        f'<div class="card"><h2>Recent jobs</h2>{_jobs_table(found.recent_jobs, d)}</div></section>'
        f'<section class="card"><h2>Leases{all_leases}</h2>{leases_table(leases, d, sym, "provider-leases")}</section>'
    )
    return _layout("Provider", body, "providers")


def _oracle(request: Request) -> HTMLResponse:
    db = _db(request)
    o = queries.oracle(db)
    healthy = o.overdue == 0
    since = f"{(o.now - o.oldest_running_since) / 60:,.0f} min" if o.oldest_running_since else "–"
    cards = (
        _card(
            "Epoch",
            str(o.epoch if o.epoch is not None else "–"),
            f"threshold {o.threshold or '–'} of {len(o.oracles)}",
        )
        + _card("Queue", f"{o.running}", f"running · {o.open} waiting to be accepted")
        + _card("Overdue", f"{o.overdue}", "running past their deadline")
        + _card("Settled, 24 h", f"{o.settlements_last_day}", f"last {_when(o.last_settlement)}")
    )
    members = "".join(f"<li><code>{escape(a)}</code></li>" for a in o.oracles)
    history = "".join(
        f"<tr><td>{h['epoch']}</td><td>{h['threshold']} of {len(h['oracles'])}</td><td>{_when(h['time'])}</td></tr>"
        for h in o.history
    )
    badge = (
        '<span class="status s-settled">healthy</span>'
        if healthy
        else '<span class="status s-timedout">jobs overdue</span>'
    )
    body = (
        f'<section class="card"><h1>Oracle {badge}</h1><p class="meta">The oldest running job has waited {since}.</p></section>'
        f'<section class="cards">{cards}</section>'
        f'<section class="grid2"><div class="card"><h2>Current set</h2><ul class="plain" id="oracles">{members}</ul></div>'
        f'<div class="card"><h2>Earlier sets</h2><table><thead><tr><th>Epoch</th><th>Threshold</th><th>From</th></tr></thead>'
        f"<tbody>{history}</tbody></table></div></section>"
    )
    return _layout("Oracle", body, "oracle")


def _network(request: Request) -> HTMLResponse:
    db = _db(request)
    s = queries.stats(db)
    d, sym = s.token_decimals, s.token_symbol
    settled = (
        s.jobs_by_status.get("Settled", 0)
        + s.jobs_by_status.get("DisputeRejected", 0)
        + s.jobs_by_status.get("DisputeUpheld", 0)
        + s.jobs_by_status.get("DisputeLapsed", 0)
    )
    cards = (
        _card("GPU-hours settled", f"{s.gpu_hours_settled:,.2f}")
        + _card("Paid to providers", _tok(s.value_settled, d), escape(sym))
        + _card("Protocol fees", _tok(s.fees, d), escape(sym))
        + _card("Jobs settled", f"{settled:,}", f"of {s.jobs:,}")
        + _card(
            "Gas per settled job",
            f"{s.gas_per_settled_job:,.0f}" if s.gas_per_settled_job is not None else "–",
            f"{s.settlement_txs:,} settlement transactions",
        )
    )
    statuses = bars(
        sorted(((k, float(v)) for k, v in s.jobs_by_status.items()), key=lambda kv: -kv[1]),
        unit="jobs",
        title="Jobs by status",
        width=900,
    )
    body = (
        f'<section class="card"><h1>Network</h1><p class="meta">indexed to block {s.last_block:,}</p></section>'
        f'<section class="cards">{cards}</section>'
        f'<section class="grid2"><div class="card"><h2>GPU-hours settled per day</h2>'
        f"{bars([(x.day, x.value) for x in s.gpu_hours_by_day], unit='GPU-h', title='GPU-hours settled per day')}</div>"
        f'<div class="card"><h2>Value settled per day</h2>'
        f"{bars([(x.day, x.value) for x in s.value_by_day], unit=sym, title='Value settled per day')}</div></section>"
        f'<section class="card"><h2>Jobs by status</h2>{statuses}</section>'
    )
    return _layout("Network", body, "network")


def page_routes() -> list[Route]:
    """The HTML pages."""
    return [
        Route("/", _guard(_market)),
        Route("/offers", _guard(_market)),  # the market is the offer list; /offers/{id} is one offer
        Route("/jobs", _guard(_jobs)),
        Route("/jobs/{job_id}", _guard(_job)),
        Route("/providers", _guard(_providers)),
        Route("/providers/{address}", _guard(_provider)),
        Route("/oracle", _guard(_oracle)),
        Route("/network", _guard(_network)),
    ]
