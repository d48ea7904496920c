"""`gpusettle offer`: the offers a client can open a job on (providers manage theirs under `provider offer`)."""

from __future__ import annotations

from dataclasses import asdict

import click

from ..units import format_price, parse_price
from .context import get_ctx, shared_options, shown

__all__ = ["offer"]


@click.group("offer")
def offer() -> None:
    """Find offers to open a job on (rent GPUs)."""


@offer.command("list")
@click.option("--provider", "who", help="Only this provider's offers (address or alias).")
@click.option("--gpu-model", help="Only offers whose model contains this text (any case).")
@click.option("--min-gpus", type=click.IntRange(1, 255), help="Only offers of at least this many GPUs.")
@click.option(
    "--max-price",
    help="Only offers at most this price, with its unit: tokens per GPU-second (0.001/s) or per GPU-hour (3.6/h).",
)
@click.option("--all", "all_", is_flag=True, help="Withdrawn offers too.")
@shared_options
def offer_list(
    who: str | None, gpu_model: str | None, min_gpus: int | None, max_price: str | None, all_: bool
) -> None:
    """List active offers, cheapest first: id, hardware, price, provider."""
    c = get_ctx()
    client = c.client()
    address = c.resolve_address(who) if who else None
    limit = parse_price(max_price, client.decimals) if max_price is not None else None
    offers = [
        o
        for o in client.offers(address, active_only=not all_)
        if (gpu_model is None or gpu_model.lower() in o.gpu_model.lower())
        and (min_gpus is None or o.gpu_count >= min_gpus)
        and (limit is None or o.price_per_gpu_second <= limit)
    ]
    offers.sort(key=lambda o: (o.price_per_gpu_second, o.offer_id))
    # A jailed provider's offers stay listed (governance may release it), marked: they take no new work.
    jailed = {p: client.is_jailed(p) for p in {o.provider for o in offers}}

    def human() -> None:
        if not offers:
            click.echo("no offers match")
        for o in offers:
            click.echo(
                f"#{o.offer_id:<4} {'' if o.active else '(withdrawn) '}"
                f"{'(paused: takes no new work) ' if o.paused and o.active else ''}"
                f"{'(provider jailed: takes no new work) ' if jailed[o.provider] and o.active else ''}"
                f"{o.gpu_count} x {shown(o.gpu_model)} "
                f"({o.vram_gb} GB) at {format_price(o.price_per_gpu_second, client.decimals, client.symbol)}  "
                f"provider {o.provider}"
            )

    c.emit({"offers": [{**asdict(o), "provider_jailed": jailed[o.provider]} for o in offers]}, human)
