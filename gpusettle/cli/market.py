"""`gpusettle market`: search offers, rank providers and see network figures, from an index."""

from __future__ import annotations

from collections.abc import Callable

import click

from ..availability import CLASSES, class_value, parse_duration
from ..chain.client import Gpusettle, OfferInfo
from ..errors import ConfigError, ContractError, GpusettleError
from ..index.match import LOST_RACE_ERRORS, candidates, chain_mismatch, parse_match, price_per_second
from ..index.queries import OfferQuery, OfferRow
from ..index.source import MarketSource, open_source
from .context import get_ctx, shared_options, shown
from .leaseterms import fmt_span

__all__ = ["MATCH_TRIES", "create_matched", "market", "per_gpu_hour"]

_INDEX_HELP = (
    "Index to read: a database path, a postgresql:// URL, or an explorer's URL (default $GPUSETTLE_INDEX, "
    "else the local index of the network)."
)


@click.group()
def market() -> None:
    """Find GPUs: offers, providers and network figures from the chain index."""


def _source(index: str | None) -> MarketSource:
    c = get_ctx()
    return open_source(index, c.network.chain_id)


def per_gpu_hour(base_per_second: int | str, decimals: int) -> float:
    """Base units per GPU-second -> tokens per GPU-hour."""
    return float(int(base_per_second) * 3600 / 10**decimals)


def _short(address: str) -> str:
    return f"{address[:6]}…{address[-4:]}"


@market.command("offers")
@click.option("--gpu", help="GPU family or part of the model name (H100, a100-sxm4, 4090).")
@click.option("--min-vram", type=click.IntRange(0), help="Least memory per GPU, GB.")
@click.option("--gpus", "min_gpus", type=click.IntRange(1, 255), help="Least GPUs per job.")
@click.option(
    "--max-price",
    help="Highest price, with its unit: tokens per GPU-hour (3.5/h) or per GPU-second (0.001/s).",
)
@click.option("--min-completed", type=click.IntRange(0), help="Least jobs the provider completed.")
@click.option(
    "--free", "min_free", type=click.IntRange(1, 255), help="Least GPUs free now (for a lease or job)."
)
@click.option(
    "--class",
    "max_class",
    type=click.Choice(CLASSES),
    help="The worst availability class you accept: dedicated (only), reclaimable (or dedicated), interruptible (any).",
)
@click.option(
    "--min-notice",
    help="Least reclaim notice of reclaimable offers: 10m, 1h (dedicated ones always fit; drop interruptible "
    "ones, which give none, with --class reclaimable).",
)
@click.option("--provider", "provider_address", help="Only this provider's offers.")
@click.option(
    "--verified",
    is_flag=True,
    help="Only offers whose latest hardware check by the oracles passed and covers their GPUs and VRAM.",
)
@click.option(
    "--sort",
    type=click.Choice(["price", "price_per_gb", "record"]),
    default="price",
    show_default=True,
    help="Cheapest, cheapest per GB of VRAM, or best record first.",
)
@click.option("--limit", type=click.IntRange(1, 500), default=20, show_default=True)
@click.option(
    "--all", "include_inactive", is_flag=True, help="Include withdrawn offers and jailed providers."
)
@click.option("--index", help=_INDEX_HELP)
@shared_options
def market_offers(
    gpu: str | None,
    min_vram: int | None,
    min_gpus: int | None,
    max_price: str | None,
    min_completed: int | None,
    min_free: int | None,
    max_class: str | None,
    min_notice: str | None,
    provider_address: str | None,
    verified: bool,
    sort: str,
    limit: int,
    include_inactive: bool,
    index: str | None,
) -> None:
    """Offers that fit, cheapest first (or by price per GB, or by record)."""
    c = get_ctx()
    source = _source(index)
    decimals = source.stats().token_decimals
    q = OfferQuery(
        gpu=gpu,
        min_vram=min_vram,
        min_gpus=min_gpus,
        max_price=price_per_second(max_price, decimals) if max_price is not None else None,
        min_completed=min_completed,
        min_free=min_free,
        max_class=class_value(max_class) if max_class else None,
        min_notice=parse_duration(min_notice, "--min-notice") if min_notice else None,
        provider=c.resolve_address(provider_address) if provider_address else None,
        verified=verified,
        sort=sort,  # type: ignore[arg-type]
        limit=limit,
        include_inactive=include_inactive,
    )
    page = source.search_offers(q)

    def table() -> None:
        if not page.offers:
            click.echo("no offer fits; loosen the filters (see `gpusettle market offers --help`)")
            return
        click.echo(
            f"{'offer':>6}  {'GPU':<26} {'free':>7} {'VRAM':>6} {'per GPU-h':>10} {'per GB-h':>9}  "
            f"{'class':<18} {'provider':<12} {'done/fail/t-o':>13} {'busy':>4} {'hw':<8}"
        )
        for o in page.offers:
            click.echo(_offer_line(o, decimals))
        click.echo(f"{page.total} offers fit; showing {len(page.offers)}")

    c.emit(page.model_dump(mode="json"), table)


def _offer_line(o: OfferRow, decimals: int) -> str:
    hour = per_gpu_hour(o.price_per_gpu_second, decimals)
    per_gb = hour / max(1, o.vram_gb)
    record = f"{o.jobs_completed}/{o.jobs_failed}/{o.jobs_timed_out}"
    free = f"{o.gpus_free if o.gpus_free is not None else o.gpu_count}/{o.gpu_count}"
    klass = o.gpu_class or "dedicated"
    if klass == "reclaimable":
        klass += f" {fmt_span(o.notice_seconds)}"
    if not o.active:
        klass = "WITHDRAWN"
    elif o.paused:
        klass = "PAUSED " + klass
    return (
        f"{o.offer_id:>6}  {shown(o.gpu_model)[:26]:<26} {free:>7} {o.vram_gb:>4}GB {hour:>10.4f} {per_gb:>9.5f}  "
        f"{klass[:18]:<18} {_short(o.provider):<12} {record:>13} {o.jobs_running + o.leases_running:>4} "
        f"{_hardware(o):<8}"
    )


def _hardware(o: OfferRow) -> str:
    """The hardware check column: verified, failed, stale (the offer grew since its check) or -."""
    if o.verified is None:
        return "-"
    if o.verified:
        return "verified"
    return "stale" if o.verified_terms_match is False else "failed"


@market.command("providers")
@click.option("--sort", type=click.Choice(["record", "stake", "earned"]), default="record", show_default=True)
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--index", help=_INDEX_HELP)
@shared_options
def market_providers(sort: str, limit: int, index: str | None) -> None:
    """Providers by record, stake or earnings."""
    c = get_ctx()
    source = _source(index)
    decimals = source.stats().token_decimals
    rows = source.providers(sort, limit)

    def table() -> None:
        click.echo(
            f"{'provider':<42} {'bonded':>12} {'done':>5} {'fail':>5} {'t-o':>4} {'lost':>4} {'GPU-h':>9} {'offers':>6}"
        )
        for p in rows:
            click.echo(
                f"{p.address:<42} {int(p.bonded) / 10**decimals:>12,.0f} {p.jobs_completed:>5} {p.jobs_failed:>5} "
                f"{p.jobs_timed_out:>4} {p.disputes_lost:>4} {p.gpu_seconds_served / 3600:>9.2f} {p.offers:>6}"
                + ("  JAILED" if p.jailed else "")
            )

    c.emit({"providers": [p.model_dump(mode="json") for p in rows]}, table)


@market.command("stats")
@click.option("--index", help=_INDEX_HELP)
@shared_options
def market_stats(index: str | None) -> None:
    """Network figures: offers, GPUs, jobs, GPU-hours and value settled, prices by GPU family."""
    c = get_ctx()
    s = _source(index).stats()

    def human() -> None:
        d = s.token_decimals
        click.echo(f"indexed to block {s.last_block}")
        click.echo(
            f"offers      {s.offers_active} active, {s.gpus_offered} GPUs ({s.gpus_free} free), {s.providers} providers"
        )
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(s.jobs_by_status.items()))
        click.echo(f"jobs        {s.jobs} ({statuses})")
        if s.leases_by_status:
            leases = ", ".join(f"{k} {v}" for k, v in sorted(s.leases_by_status.items()))
            click.echo(f"leases      {sum(s.leases_by_status.values())} ({leases})")
        click.echo(
            f"settled     {s.gpu_hours_settled:,.2f} GPU-hours, {int(s.value_settled) / 10**d:,.4f} {s.token_symbol}"
        )
        for f in s.price_by_family:
            click.echo(
                f"  {f.family:<12} {f.offers:>4} offers, {int(f.min_price) * 3600 / 10**d:.4f}"
                f"-{int(f.max_price) * 3600 / 10**d:.4f} {s.token_symbol}/GPU-h"
            )

    c.emit(s.model_dump(mode="json"), human)


MATCH_TRIES = 3
"""Matching offers `job create --match` tries before it gives up."""


def unfit_on_chain(client: Gpusettle, need: OfferQuery, offer_id: int) -> tuple[str | None, OfferInfo]:
    """Why offer `offer_id`, as the chain has it now, cannot take the work `need` describes (None: it can),
    and the offer as read. The index that found it may be remote and may lie or lag: the chain decides the
    hardware, the price and whether the provider can accept at all."""
    now = client.offer(offer_id)
    if not now.active or now.paused:
        return ("it was withdrawn" if not now.active else "it is paused"), now
    why = chain_mismatch(need, now.gpu_model, now.vram_gb, now.gpu_count, now.price_per_gpu_second)
    if why is None and client.stake_info(now.provider).worker is None:
        why = "its provider has named no worker key, so nothing would accept"
    return why, now


def create_matched(
    match: str, index: str | None, create: Callable[[int, int | None], None], *, gpus: int | None = None
) -> None:
    """Open the job on the cheapest offer that fits `match` (with at least `gpus` free when given); when
    another client took it first (or its terms changed since the index saw it), say so and try the next
    one, at most MATCH_TRIES offers."""
    from .job import OfferCapacityError

    c = get_ctx()
    client = c.client()
    need = parse_match(match, client.decimals)
    if gpus is not None:
        need = need.model_copy(update={"min_free": max(gpus, need.min_free or 0)})
    found = candidates(open_source(index, client.chain.chain_id), need, MATCH_TRIES)
    if not found:
        free = f" with {gpus} free GPU(s)" if gpus is not None else ""
        raise ConfigError(
            f"no active offer{free} fits --match {match!r}",
            "loosen the filters; `gpusettle market offers --free N` shows what is free",
        )
    for n, offer in enumerate(found, 1):
        why, now = unfit_on_chain(client, need, offer.offer_id)
        if why is None and now.price_per_gpu_second > int(offer.price_per_gpu_second):
            why = "its price was raised since the index saw it"
        if why is None and need.verified and client.is_verified(offer.offer_id) is not True:
            why = "the chain does not confirm it is hardware-verified"
        if why is not None:
            c.info(f"offer {offer.offer_id} does not fit on-chain: {why}; trying the next match")
            continue
        hour = per_gpu_hour(now.price_per_gpu_second, client.decimals)
        taking = f"{gpus} of {now.gpu_count}" if gpus is not None else f"{now.gpu_count}"
        c.info(
            f"match {n} of {len(found)}: offer {offer.offer_id}, {taking} x {shown(now.gpu_model)} "
            f"({now.vram_gb} GB), {hour:.4f} {client.symbol} per GPU-hour, provider {now.provider} "
            f"({offer.jobs_completed} jobs completed)"
        )
        try:
            # The match's max-price goes on as the job's price limit: an offer raised after this read is refused.
            create(offer.offer_id, need.max_price)
            return
        except OfferCapacityError as exc:
            # Checked on-chain before sending: another job or lease took the GPUs since the index saw them.
            c.info(f"lost the race for offer {offer.offer_id} ({exc.message}); trying the next match")
        except ContractError as exc:
            if exc.name not in LOST_RACE_ERRORS:
                raise
            c.info(f"lost the race for offer {offer.offer_id} ({exc.name}); trying the next match")
    raise GpusettleError(
        f"none of the {len(found)} matching offers could take the job",
        "run the command again (the index may have caught up), or loosen --match",
    )
