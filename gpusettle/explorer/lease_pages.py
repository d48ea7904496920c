"""The explorer's lease pages (the list, one lease's life) and the offer page that links to them, rendered
on the server from the same queries as /api/leases."""

from __future__ import annotations

import time
from html import escape
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from ..index import queries
from ..index.db import Database
from ..text import strip_controls
from .api import BadQuery, LeasesQuery, parse
from .pages import _card, _db, _guard, _hour, _jobs_table, _layout, _short, _status, _tok, _when

__all__ = ["lease_page_routes", "leases_table"]


def _span(seconds: int) -> str:
    """A duration as a person reads it: 45 s, 12 min 05 s, 3 h 20 min, 2 d 4 h."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    return f"{seconds // 86400} d {seconds % 86400 // 3600} h"


def _uptime(up: int, down: int) -> str:
    """Up share as a small two-colour bar with its percentage (– before the first checkpoint)."""
    total = up + down
    if not total:
        return '<span class="meta">–</span>'
    share = up / total * 100
    return (
        f'<span class="upbar" title="{up:,} s up, {down:,} s down"><span style="width:{share:.1f}%"></span></span>'
        f'<span class="uppct">{share:.1f}%</span>'
    )


def _gpus(n: int) -> str:
    return f"{n} GPU" if n == 1 else f"{n} GPUs"


def _id_of(text: str, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise BadQuery(f"{what} id {text!r} is not a whole number", f"{what}_id") from None
    if not 1 <= value < 2**63:
        raise BadQuery(f"{what} id {value} is out of range (1 or more)", f"{what}_id")
    return value


def _now(db: Database) -> int:
    """The later of the wall clock and the newest indexed block's time (a local chain may run ahead)."""
    head = db.scalar("SELECT time FROM events ORDER BY block_number DESC, log_index DESC LIMIT 1")
    return max(int(time.time()), int(head or 0))


def leases_table(rows: list[queries.LeaseRow], decimals: int, symbol: str, table_id: str = "leases") -> str:
    """Leases, one row each, linking to the lease, its provider and its offer."""
    if not rows:
        return f'<p class="empty" id="{table_id}-empty">No leases here yet.</p>'
    body = "".join(
        f'<tr data-lease="{x.lease_id}"><td class="num"><a href="/leases/{x.lease_id}">#{x.lease_id}</a></td>'
        f"<td>{_status(x.status)}</td>"
        f'<td><a href="/providers/{x.provider}">{_short(x.provider)}</a></td><td>{_short(x.client)}</td>'
        f'<td class="num"><a href="/offers/{x.offer_id}">#{x.offer_id}</a></td><td class="num">{x.gpu_count}</td>'
        f'<td class="num">{_hour(x.rate_per_second, decimals):,.4f}</td>'
        f'<td class="num">{_tok(x.deposit, decimals)}</td><td class="num">{_tok(x.paid, decimals)}</td>'
        f"<td>{_uptime(x.up_seconds, x.down_seconds)}</td><td>{_when(x.created_time)}</td></tr>"
        for x in rows
    )
    return (
        f'<div class="scroll"><table id="{table_id}"><thead><tr><th>Lease</th><th>Status</th><th>Provider</th>'
        f"<th>Client</th><th>Offer</th><th>GPUs</th><th>{escape(symbol)} / h</th><th>Deposit</th><th>Paid</th>"
        f"<th>Uptime</th><th>Opened</th></tr></thead><tbody>{body}</tbody></table></div>"
    )


def _leases(request: Request) -> HTMLResponse:
    db = _db(request)
    q = parse(LeasesQuery, request.query_params)
    stats = queries.stats(db, by_day=False)
    total, rows = queries.leases(
        db,
        status=q.status,
        provider=q.provider,
        client=q.client,
        offer=q.offer,
        limit=q.limit,
        offset=q.offset,
    )
    # The chips and the pages keep the other filters; a chip narrows by status only.
    kept = {k: v for k, v in (("provider", q.provider), ("client", q.client), ("offer", q.offer)) if v}

    def link(**more: Any) -> str:
        return "/leases" + (f"?{escape(urlencode({**kept, **more}))}" if {**kept, **more} else "")

    counts = queries.lease_statuses(db)
    chips = (
        f'<a class="chip{"" if q.status else " on"}" href="{link()}">All · {sum(counts.values())}</a>'
        + "".join(
            f'<a class="chip{" on" if q.status == s else ""}" href="{link(status=s)}">{s} · {n}</a>'
            for s, n in sorted(counts.items())
        )
    )
    narrowed = "".join(
        f'<span class="chip">{label} {value} <a href="{escape("/leases?" + urlencode({k: v for k, v in kept.items() if k != key}))}" aria-label="drop this filter">×</a></span>'
        for key, label, value in (
            ("provider", "provider", _short(q.provider) if q.provider else ""),
            ("client", "client", _short(q.client) if q.client else ""),
            ("offer", "offer", f"#{q.offer}" if q.offer else ""),
        )
        if key in kept
    )
    pages = ""
    if total > q.limit:
        base = {**kept, **({"status": q.status} if q.status else {}), "limit": q.limit}
        prev_link = (
            f'<a href="/leases?{escape(urlencode({**base, "offset": max(0, q.offset - q.limit)}))}">← Newer</a>'
            if q.offset
            else ""
        )
        next_link = (
            f'<a href="/leases?{escape(urlencode({**base, "offset": q.offset + q.limit}))}">Older →</a>'
            if q.offset + q.limit < total
            else ""
        )
        shown = f"{q.offset + 1:,}-{min(total, q.offset + q.limit):,} of {total:,}"
        pages = f'<nav class="pages">{prev_link}<span>{shown}</span>{next_link}</nav>'
    body = (
        f'<section class="card"><h1>Leases</h1><div class="chips" id="lease-status">{chips}</div>'
        + (f'<div class="chips" id="lease-filters">{narrowed}</div>' if narrowed else "")
        + f'<p class="count" id="lease-count">{total:,} leases</p>'
        f"{leases_table(rows, stats.token_decimals, stats.token_symbol)}{pages}</section>"
    )
    return _layout("Leases", body, "leases")


_STEP_KIND = {
    "LeaseOpened": "start",
    "LeaseAccepted": "start",
    "CheckpointSettled": "pay",
    "LeaseToppedUp": "pay",
    "CheckpointDisputed": "bad",
    "CheckpointDisputeLapsed": "end",
    "LeaseExpired": "bad",
    "LeaseReclaimed": "end",
    "LeaseClosed": "end",
    "LeaseEnded": "end",
    "LeaseCancelled": "end",
    "LeasePayWithheld": "bad",
    "LeaseWithheldPayReleased": "pay",
}
"""The dot colour of a timeline step: the lease starting, money moving, trouble, billing ending."""


def _step(name: str, a: dict[str, Any], d: int, sym: str) -> tuple[str, str]:
    """A timeline step's heading and one line saying what it did, in tokens and durations."""
    t = f" {escape(sym)}"

    def tok(key: str) -> str:
        return _tok(a.get(key), d) + t

    if name == "LeaseOpened":
        end = f", ends by {_when(int(a['endTime']))}" if int(a.get("endTime") or 0) else ", open-ended"
        return "Opened", (
            f"{_gpus(int(a.get('gpuCount') or 0))} on offer #{a.get('offerId')}, {tok('deposit')} deposited{end}; "
            f"to be accepted by {_when(int(a.get('acceptBy') or 0))}"
        )
    if name == "LeaseAccepted":
        return "Accepted: billing starts", f"{tok('collateral')} of the provider's stake locked as collateral"
    if name == "CheckpointSettled":
        up, down = int(a.get("upSeconds") or 0), int(a.get("downSeconds") or 0)
        penalty = f", penalty {tok('penalty')}" if int(a.get("penalty") or 0) else ""
        return f"Checkpoint: {_span(up + down)} settled", (
            f"{_when(int(a['fromTime']))} to {_when(int(a['toTime']))}: {_span(up)} up, {_span(down)} down; "
            f"{tok('payout')} to the provider, fee {tok('fee')}{penalty}"
        )
    if name == "LeaseToppedUp":
        return "Topped up", f"{tok('amount')} added, {tok('deposit')} deposited in all"
    if name == "LeaseClosed":
        return "Closed by the client", f"billing ends {_when(int(a.get('billingEnd') or 0))}"
    if name == "LeaseReclaimed":
        return (
            "Reclaimed by the provider",
            f"billing ends after the notice, {_when(int(a.get('billingEnd') or 0))}",
        )
    if name == "LeaseEnded":
        return "Ended: final checkpoint", f"{tok('refundable')} left to refund to the client"
    if name == "LeaseExpired":
        return "Expired: no final checkpoint in grace", (
            f"{tok('refund')} back to the client, {tok('slashed')} of collateral slashed to it"
        )
    if name == "LeaseRefundClaimed":
        return "Refund sent", f"{tok('amount')} to the client"
    if name == "LeaseCancelled":
        return "Cancelled before acceptance", f"{tok('refund')} refunded"
    if name == "LeaseCollateralReleased":
        return "Collateral released", f"{tok('amount')} back to the provider's free stake"
    if name == "LeasePayWithheld":
        return "Pay withheld for a ruling", (
            f"{tok('amount')} of the provider's pay held back: its free stake could not lock {tok('unreserved')} "
            "of the ruling reserve"
        )
    if name == "LeaseWithheldPayReleased":
        return "Withheld pay released", f"{tok('amount')} to the provider's earnings"
    if name == "CheckpointDisputed":
        deadline = int(a.get("rulingDeadline") or 0)
        by = f"; the arbiter rules by {_when(deadline)}" if deadline else ""
        return "Last checkpoint disputed", f"the client posted a bond of {tok('bond')}{by}"
    if name == "CheckpointDisputeLapsed":
        return "Dispute lapsed: no ruling by the deadline", (
            f"bond {tok('bond')} back to the client, nothing slashed, {tok('frozen')} of stake released"
        )
    if name == "CheckpointDisputeResolved":
        verdict = "upheld" if a.get("upheld") else "rejected"
        return f"Dispute {verdict}", f"{tok('slashed')} slashed, {tok('compensation')} to the client"
    return name, ""


def _timeline(detail: queries.LeaseDetail, d: int, sym: str, now: int) -> str:
    steps = []
    for e in detail.timeline:
        title, line = _step(e.name, e.args, d, sym)
        steps.append(
            f'<li class="k-{_STEP_KIND.get(e.name, "other")}" data-event="{escape(e.name)}"><div class="dot"></div><div>'
            f'<strong>{escape(title)}</strong> <span class="when">{_when(e.time)}</span>'
            f'<div class="what">{line}</div>'
            f'<div class="meta">{escape(e.name)} · block {e.block_number} · tx <code>{escape(e.tx_hash[:18])}…</code></div></div></li>'
        )
    x = detail.lease
    if x.status == "Running" and x.billing_end is None and x.runway_end:
        # What happens next when nobody acts: a projected step, drawn hollow.
        steps.append(
            f'<li class="k-next" data-event="RunwayEnd"><div class="dot"></div><div><strong>Runway ends</strong> '
            f'<span class="when">{_when(x.runway_end)}</span><div class="what">in {_span(x.runway_end - now)} '
            "unless the client tops up; billing stops there and the final checkpoint pays up to it</div></div></li>"
        )
    elif x.billing_end is not None and x.status in ("Running", "Disputed"):
        steps.append(
            f'<li class="k-next" data-event="FinalCheckpoint"><div class="dot"></div><div><strong>Final checkpoint due'
            f'</strong> <span class="when">billing ended {_when(x.billing_end)}</span><div class="what">the oracles '
            "pay up to the billing end; without it the client can claim the expiry after the grace period</div></div></li>"
        )
    return f'<ol class="timeline" id="timeline">{"".join(steps)}</ol>'


def _checkpoints(detail: queries.LeaseDetail, d: int) -> str:
    if not detail.checkpoints:
        return '<p class="empty" id="no-checkpoints">No checkpoint settled yet.</p>'
    rows = "".join(
        f'<tr><td class="num">{i}</td><td>{_when(c.from_time)}</td><td class="num">{_span(c.to_time - c.from_time)}</td>'
        f'<td class="num">{_span(c.up_seconds)}</td><td class="num">{_span(c.down_seconds)}</td>'
        f"<td>{_uptime(c.up_seconds, c.down_seconds)}</td>"
        f'<td class="num">{_tok(c.payout, d)}</td><td class="num">{_tok(c.fee, d)}</td>'
        f'<td class="num">{_tok(c.penalty, d)}</td><td><code>{escape(c.tx_hash[:12])}…</code></td></tr>'
        for i, c in enumerate(detail.checkpoints, 1)
    )
    return (
        '<div class="scroll"><table id="checkpoints"><thead><tr><th>#</th><th>From</th><th>Period</th><th>Up</th>'
        "<th>Down</th><th>Uptime</th><th>Payout</th><th>Fee</th><th>Penalty</th><th>Tx</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></div>"
    )


def _runway(x: queries.LeaseRow, now: int) -> tuple[str, str]:
    """The runway card: time left while billing runs, else why there is none."""
    if x.status == "Open":
        return "not started", f"billing starts at acceptance (by {_when(x.accept_by)})"
    if x.billing_end is not None or x.status != "Running":
        ended = f"billing ended {_when(x.billing_end)}" if x.billing_end else escape(x.status.lower())
        return "–", ended
    if x.runway_end is None:
        return "–", ""
    return _span(x.runway_end - now), f"until {_when(x.runway_end)}"


def _lease(request: Request) -> HTMLResponse:
    db = _db(request)
    lease_id = _id_of(request.path_params["lease_id"], "lease")
    found = queries.lease(db, lease_id)
    if found is None:
        raise LookupError(f"no lease {lease_id} in the index (it may not exist yet, or the index is behind)")
    d, symbol = queries.token_of(db)
    sym = escape(symbol)
    x = found.lease
    now = _now(db)
    offer = queries.offer(db, x.offer_id)
    gpu = f" · {escape(strip_controls(offer.gpu_model))}" if offer else ""
    left, left_sub = _runway(x, now)
    if x.status in ("Open", "Running"):
        left_over = f"{_tok(int(x.deposit) - int(x.paid), d)} not yet paid out"
    else:
        left_over = f"{_tok(x.refunded, d)} refunded, {_tok(x.refundable, d)} to claim"
    cards = (
        _card("Deposit", _tok(x.deposit, d), f"{sym} · {left_over}")
        + _card("Paid", _tok(x.paid, d), f"{sym} for {_span(x.up_seconds)} up · {x.checkpoints} checkpoints")
        + _card("Runway left", left, left_sub)
        + _card(
            "Collateral", _tok(x.collateral, d), f"{sym} locked · {_tok(x.penalties, d)} paid as penalties"
        )
    )
    klass = escape(x.gpu_class) + (f", {_span(x.notice_seconds)} notice" if x.notice_seconds else "")
    facts = [
        ("Status", _status(x.status) + (' <span class="warn">reclaimed</span>' if x.reclaimed else "")),
        ("Provider", f'<a href="/providers/{x.provider}">{x.provider}</a>'),
        ("Client", f'<a href="/leases?client={x.client}">{x.client}</a>'),
        ("Offer", f'<a href="/offers/{x.offer_id}">#{x.offer_id}</a>{gpu} · {_gpus(x.gpu_count)}'),
        ("Rate", f"{_hour(x.rate_per_second, d):,.4f} {sym} / h for {_gpus(x.gpu_count)}"),
        ("Class", klass),
        (
            "Uptime",
            _uptime(x.up_seconds, x.down_seconds)
            + f" {_span(x.up_seconds)} up, {_span(x.down_seconds)} down",
        ),
        ("Refundable", f"{_tok(x.refundable, d)} {sym}"),
        ("Refunded", f"{_tok(x.refunded, d)} {sym}"),
    ]
    if int(x.withheld):
        facts.append(
            ("Withheld", f"{_tok(x.withheld, d)} {sym} of the pay, held for a ruling (short of free stake)")
        )
    facts += [
        ("Opened", _when(x.created_time)),
        ("Billing start", _when(x.started_at)),
        ("Paid through", _when(x.paid_through)),
        ("Billing end", _when(x.billing_end)),
        ("End time", _when(x.end_time) if x.end_time else "open-ended"),
        ("Spec hash", f"<code>{escape(x.spec_hash)}</code>"),
        ("Opened in", f"<code>{escape(x.created_tx)}</code>"),
    ]
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    body = (
        f'<section class="card"><h1 id="lease-title">Lease #{x.lease_id}</h1>'
        f'<p class="meta">{_status(x.status)} · {_gpus(x.gpu_count)} on <a href="/offers/{x.offer_id}">offer #{x.offer_id}</a>{gpu}</p></section>'
        f'<section class="cards" id="lease-amounts">{cards}</section>'
        f'<section class="card"><h2>Timeline</h2>{_timeline(found, d, symbol, now)}</section>'
        f'<section class="card"><h2>Checkpoints</h2>{_checkpoints(found, d)}</section>'
        f'<section class="card"><h2>Terms and amounts</h2><dl class="facts" id="lease-facts">{dl}</dl></section>'
    )
    return _layout(f"Lease {x.lease_id}", body, "leases")


def _offer(request: Request) -> HTMLResponse:
    db = _db(request)
    offer_id = _id_of(request.path_params["offer_id"], "offer")
    o = queries.offer(db, offer_id)
    if o is None:
        raise LookupError(f"no offer {offer_id} in the index")
    d, sym = queries.token_of(db)
    free = o.gpus_free if o.gpus_free is not None else o.gpu_count
    state = (
        "withdrawn" if not o.active else "paused" if o.paused else "jailed provider" if o.jailed else "open"
    )
    klass = escape(o.gpu_class or "dedicated") + (
        f", {_span(o.notice_seconds)} notice" if o.notice_seconds else ""
    )
    cards = (
        _card("Price", f"{_hour(o.price_per_gpu_second, d):,.4f}", f"{escape(sym)} per GPU-hour")
        + _card("Free GPUs", f"{free} of {o.gpu_count}", f"{o.vram_gb} GB each")
        + _card("Leases", f"{o.leases_running}", "open or running")
        + _card("Jobs", f"{o.jobs_running}", f"open or running · {o.jobs_total} ever")
    )
    facts = [
        ("State", escape(state)),
        ("GPU", f'<span class="gpu">{escape(o.gpu_family)}</span> {escape(strip_controls(o.gpu_model))}'),
        ("Provider", f'<a href="/providers/{o.provider}">{o.provider}</a>'),
        ("Class", klass),
        ("Uptime guarantee", f"{o.uptime_bps / 100:.2f}%" if o.uptime_bps else "none"),
        ("Machine", escape(strip_controls(o.metadata_uri)) or "–"),
    ]
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    _n, leases = queries.leases(db, offer=offer_id, limit=20)
    _m, jobs = queries.jobs(db, offer=offer_id, limit=20)
    more = f' <a class="all" href="/leases?offer={offer_id}">all {_n:,} →</a>' if _n > len(leases) else ""
    body = (
        f'<section class="card"><h1 id="offer-title">Offer #{o.offer_id}</h1><dl class="facts">{dl}</dl></section>'
        f'<section class="cards">{cards}</section>'
        f'<section class="card"><h2>Leases{more}</h2>{leases_table(leases, d, sym, "offer-leases")}</section>'
        f'<section class="card"><h2>Jobs</h2>{_jobs_table(jobs, d, "offer-jobs")}</section>'
    )
    return _layout(f"Offer {o.offer_id}", body, "market")


def lease_page_routes() -> list[Route]:
    """The lease list, a lease's page and an offer's page."""
    return [
        Route("/leases", _guard(_leases)),
        Route("/leases/{lease_id}", _guard(_lease)),
        Route("/offers/{offer_id}", _guard(_offer)),
    ]
