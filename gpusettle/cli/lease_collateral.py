"""`gpusettle provider lease release-collateral`: ended leases' collateral and ruling reserve back to free stake,
and their withheld pay to earnings (LeaseEscrow.releaseLeaseCollateral), once the last checkpoint's dispute window
closed. Anyone may call it; the provider is the one it pays."""

from __future__ import annotations

import click

from ..chain.leases import LeaseInfo
from ..errors import ConfigError
from .context import Ctx, fmt_time, get_ctx, shared_options

__all__ = ["provider_lease_release_collateral"]

MAX_LEASES_PER_TX = 50
"""Leases per releaseLeaseCollateral transaction (about 50,000 gas each)."""


def _state(c: Ctx, info: LeaseInfo, now: int) -> tuple[str, int]:
    """("ready" | "waiting" | "done" | "not ended", when its window closes)."""
    from .lease import leases_of

    if info.collateral_released:
        return "done", 0
    if info.status != "Ended":
        return "not ended", 0
    closes_at = leases_of(c).collateral_closes_at(info)
    # The escrow wants a block time after the window's end; the next block is at least one second later.
    return ("ready" if now >= closes_at else "waiting"), closes_at


def _check_named(c: Ctx, lease_ids: list[int], now: int) -> None:
    """Refuse, before anything is sent, a named lease whose collateral cannot be released now."""
    from .lease import leases_of

    leases = leases_of(c)
    for lease_id in lease_ids:
        info = leases.lease(lease_id)
        state, closes_at = _state(c, info, now)
        if state == "done":
            raise ConfigError(
                f"lease {lease_id}'s collateral was released already",
                "nothing of it is locked any more; leave it out",
            )
        if state == "not ended":
            raise ConfigError(
                f"lease {lease_id} is {info.status}: its collateral stays locked until it has ended",
                f"see `gpusettle lease status {lease_id}`",
            )
        if state == "waiting":
            raise ConfigError(
                f"lease {lease_id}'s last checkpoint can be disputed until {fmt_time(closes_at, now)}",
                "its collateral stays locked for a ruling until then; run this again after that time",
            )


@click.command("release-collateral")
@click.argument("lease_ids", nargs=-1, type=click.IntRange(min=1))
@click.option(
    "--provider", "who", help="Release for this provider's leases (address or alias) instead of yours."
)
@shared_options
def provider_lease_release_collateral(lease_ids: tuple[int, ...], who: str | None) -> None:
    """Give ended leases' collateral and ruling reserve back to free stake once their last checkpoint's
    dispute window closed, and their withheld pay to earnings (anyone may call it).

    With no LEASE_IDS: every ended lease of the provider whose window has closed."""
    from .lease import leases_of

    c = get_ctx()
    client = c.client()
    leases = leases_of(c)
    sender = c.address()
    now = client.chain.timestamp()
    waiting: list[dict[str, int]] = []
    provider = None
    if lease_ids:
        ready = sorted(set(lease_ids))
        _check_named(c, ready, now)
    else:
        provider = c.resolve_address(who) if who else sender
        ready = []
        for opened in leases.leases_opened(provider=provider):
            state, closes_at = _state(c, leases.lease(opened.lease_id), now)
            if state == "ready":
                ready.append(opened.lease_id)
            elif state == "waiting":
                waiting.append({"lease_id": opened.lease_id, "closes_at": closes_at})
        if not ready:
            later = (
                f"; {len(waiting)} lease(s) still in their dispute window, the first closes "
                f"{fmt_time(min(w['closes_at'] for w in waiting), now)}"
                if waiting
                else ""
            )
            c.emit(
                {
                    "released": [],
                    "amount": 0,
                    "withheld_pay": 0,
                    "provider": provider,
                    "txs": [],
                    "waiting": waiting,
                },
                f"nothing to release now: no ended lease of {provider} has collateral past its dispute window{later}",
            )
            return
    plans = [
        leases.plan_release_collateral(sender, ready[i : i + MAX_LEASES_PER_TX])
        for i in range(0, len(ready), MAX_LEASES_PER_TX)
    ]
    for plan in plans:
        c.info(plan.describe())
    if not c.confirm(f"Send {len(plans)} transaction(s)?"):
        raise click.Abort()
    released: list[int] = []
    amount = 0
    withheld = 0
    txs = []
    for plan in plans:
        out = c.send(plan, what="lease collateral released", asked=True)
        txs.append(out.summary())
        for e in out.events:
            if e.name == "LeaseCollateralReleased":
                released.append(int(e.args["leaseId"]))
                amount += int(e.args["amount"])
            elif e.name == "LeaseWithheldPayReleased":
                withheld += int(e.args["amount"])
    c.emit(
        {
            "released": sorted(released),
            "amount": amount,
            "withheld_pay": withheld,
            "txs": txs,
            "waiting": waiting,
            **({"provider": provider} if provider else {}),
        },
        f"released {client.fmt(amount)} of lease collateral and ruling reserves to free stake from "
        f"{len(released)} lease(s): {', '.join(map(str, sorted(released)))}"
        + (f"; {client.fmt(withheld)} of withheld pay to earnings" if withheld else "")
        + (f"; {len(waiting)} lease(s) still in their dispute window" if waiting else ""),
    )
