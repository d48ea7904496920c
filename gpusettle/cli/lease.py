"""`gpusettle lease`: rent GPUs by the second: open a lease, top it up, close it, watch its runway."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

import click

from ..availability import CLASSES, class_name, class_value
from ..chain.leases import LeaseInfo, Leases
from ..errors import ConfigError, ContractError, GpusettleError, InsufficientAllowanceError
from ..hashing import keccak256
from ..index.match import LOST_RACE_ERRORS, price_per_second
from ..units import format_units
from .context import Ctx, fmt_time, get_ctx, parse_duration_or_time, require_tokens, shared_options, shown
from .leaseterms import LeasePlan, deposit_for, fmt_span, parse_duration, per_hour

__all__ = ["MATCH_TRIES", "OfferUnfitError", "lease"]

MATCH_TRIES = 3
"""Matching offers `lease open --match` tries before it gives up."""


class OfferUnfitError(GpusettleError):
    """The offer cannot take this lease now (paused, withdrawn, too few free GPUs, class or price)."""


@click.group()
def lease() -> None:
    """Rent GPUs by the second: open a lease on an offer, top it up, close it, watch its runway.

    A job pays once for a bounded amount of work; a lease runs a service until you close it, its
    end time, the provider's reclaim (reclaimable and interruptible offers only), or its deposit runs
    out. Checkpoints pay the provider for up time only; down time goes back to you."""


_LEASES: dict[int, Leases] = {}


def leases_of(c: Ctx) -> Leases:
    """The lease escrow of the command's deployment (one per client)."""
    client = c.client()
    found = _LEASES.get(id(client))
    if found is None:
        found = _LEASES[id(client)] = Leases(client)
    return found


def _price_limit(text: str, decimals: int) -> int:
    """--max-price: tokens per GPU-hour (3.5/h) or per GPU-second (0.001/s); the unit is required."""
    return price_per_second(text, decimals)


def _deposit(c: Ctx, rate: int, amount: str | None, duration: str | None, what: str) -> int:
    if amount and duration:
        raise click.UsageError(f"give the {what} as --deposit AMOUNT or --for DURATION, not both")
    if amount:
        return c.amount(amount)
    if duration:
        return deposit_for(rate, parse_duration(duration, "--for"))
    raise click.UsageError(
        "say how much to pay in: --deposit AMOUNT (tokens) or --for DURATION (e.g. --for 2h)"
    )


def _check_offer(
    c: Ctx, offer_id: int, gpus: int, max_price: int | None, max_class: int | None, min_notice: int
) -> tuple[int, int, int]:
    """(price per GPU-second, the class limit to send, the offer's class) after checking the offer can
    take this lease now; OfferUnfitError saying why not."""
    client = c.client()
    offer = client.offer(offer_id)
    avail = leases_of(c).offer_availability(offer_id)
    hint = "pick another offer: `gpusettle market offers --free N`, or `lease open --match`"
    if not offer.active:
        raise OfferUnfitError(f"offer {offer_id} was withdrawn by its provider", hint)
    if avail.paused:
        raise OfferUnfitError(f"offer {offer_id} is paused by its provider (no new leases for now)", hint)
    if gpus > avail.free_gpus:
        raise OfferUnfitError(
            f"offer {offer_id} has {avail.free_gpus} of {offer.gpu_count} GPUs free; the lease asks for {gpus}",
            hint,
        )
    if max_price is not None and offer.price_per_gpu_second > max_price:
        raise OfferUnfitError(
            f"offer {offer_id} costs {client.fmt(offer.price_per_gpu_second)} per GPU-second, "
            f"above --max-price ({client.fmt(max_price)})",
            "raise --max-price or pick a cheaper offer",
        )
    limit = avail.availability_class if max_class is None else max_class
    if avail.availability_class > limit:
        raise OfferUnfitError(
            f"offer {offer_id} is {avail.class_name}; the lease accepts {' or '.join(CLASSES[: limit + 1])}",
            f"pass --class {avail.class_name} to accept it, or pick another offer",
        )
    if avail.availability_class == 1 and avail.notice_seconds < min_notice:
        raise OfferUnfitError(
            f"offer {offer_id} gives {fmt_span(avail.notice_seconds)} notice before a reclaim; "
            f"the lease asks for at least {fmt_span(min_notice)}",
            "lower --min-notice or pick another offer",
        )
    return offer.price_per_gpu_second, limit, avail.availability_class


@lease.command("open")
@click.option("--offer", "offer_id", type=click.IntRange(1), help="Offer id (or --match).")
@click.option(
    "--match",
    metavar="FILTERS",
    help="Open on the cheapest offer that fits, e.g. 'gpu=H100,min-vram=80,max-price=3.5/h,class=reclaimable,"
    "min-notice=10m' (the filters of `market offers`); tries the next match if another client takes it first.",
)
@click.option("--index", help="Index for --match: database path, postgresql:// URL or explorer URL.")
@click.option("--gpus", type=click.IntRange(1, 255), default=1, show_default=True, help="GPUs to lease.")
@click.option(
    "--max-price",
    help="Most per GPU: tokens per GPU-hour (3.5/h) or per GPU-second (0.001/s), the unit required; default the "
    "offer's price.",
)
@click.option(
    "--class",
    "accept_class",
    type=click.Choice(CLASSES),
    help="The worst availability class you accept (default: the offer's own).",
)
@click.option(
    "--min-notice",
    default="0",
    show_default=True,
    help="Least reclaim notice of a reclaimable offer (10m, 1h); an interruptible one gives none: refuse it with "
    "--class reclaimable.",
)
@click.option("--deposit", "deposit_amount", help="Prepaid deposit in tokens (or --for).")
@click.option("--for", "duration", help="Prepay this long at the lease's rate: 30m, 2h, 1d.")
@click.option("--end", help="End billing at this time: a duration from now (8h), unix seconds or ISO time.")
@click.option(
    "--spec",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Workload spec file (- reads standard input); its hash goes on-chain.",
)
@click.option("--spec-hash", help="The spec's keccak256, if you hashed it yourself (publish it yourself).")
@click.option("--publish", metavar="URL_OR_DIR", help="Where to publish the --spec (default: the oracle).")
@click.option("--no-publish", is_flag=True, help="Do not publish the --spec now.")
@click.option(
    "--permit", is_flag=True, help="Approve the deposit with an EIP-2612 permit in the same transaction."
)
@click.option("--no-approve", is_flag=True, help="Never send an approve: fail if the allowance is short.")
@shared_options
def lease_open(
    offer_id: int | None,
    match: str | None,
    index: str | None,
    gpus: int,
    max_price: str | None,
    accept_class: str | None,
    min_notice: str,
    deposit_amount: str | None,
    duration: str | None,
    end: str | None,
    spec: str | None,
    spec_hash: str | None,
    publish: str | None,
    no_publish: bool,
    permit: bool,
    no_approve: bool,
) -> None:
    """Open a lease on an offer: the deposit goes into escrow, billing starts when the provider accepts.

    Billing runs per second at GPUs x price until you close it, --end, a reclaim by the provider
    (with the offer's notice), or the deposit runs out; top it up to keep it going."""
    if match is not None:
        if offer_id is not None:
            raise click.UsageError("give --offer or --match, not both")
        ctx = click.get_current_context()
        params = {**ctx.params, "match": None, "index": None}
        _open_matched(
            match,
            index,
            gpus,
            lambda oid, limits: ctx.invoke(lease_open, **{**params, **limits, "offer_id": oid}),
        )
        return
    if offer_id is None:
        raise click.UsageError("say which offer: --offer ID, or --match FILTERS for the cheapest that fits")
    if publish and not spec:
        raise click.UsageError("--publish needs --spec: the spec file to publish")
    if publish and no_publish:
        raise click.UsageError("give --publish or --no-publish, not both")
    from .job import _load_spec, _publish, _spec_hash

    c = get_ctx()
    client = c.client()
    leases = leases_of(c)
    limit = _price_limit(max_price, client.decimals) if max_price is not None else None
    notice = parse_duration(min_notice, "--min-notice")
    price, max_class, offer_class = _check_offer(
        c, offer_id, gpus, limit, class_value(accept_class) if accept_class else None, notice
    )
    h = _spec_hash(spec, spec_hash)
    now = client.chain.timestamp()
    end_time = parse_duration_or_time(end, now) if end else 0
    if end and end_time <= now:
        raise ConfigError(f"--end {end!r} is in the past", "give a later time, or a duration such as 8h")
    plan_terms = LeasePlan(
        offer_id=offer_id,
        gpu_count=gpus,
        price_per_gpu_second=price,
        max_price=limit if limit is not None else price,
        max_class=max_class,
        min_notice=notice,
        deposit=_deposit(c, gpus * price, deposit_amount, duration, "deposit"),
        end_time=end_time,
    )
    plan_terms.check()
    sender = c.address()
    require_tokens(client, sender, plan_terms.deposit)
    offer = client.offer(offer_id)
    avail = leases.offer_availability(offer_id)
    runway = plan_terms.runway_seconds
    stops = now + runway if not end_time else min(now + runway, end_time)
    c.info(
        f"lease on offer {offer_id}: {gpus} of {offer.gpu_count} x {shown(offer.gpu_model)} from {offer.provider}\n"
        f"  class       {class_name(offer_class)}"
        + (f", {fmt_span(avail.notice_seconds)} notice before a reclaim" if offer_class == 1 else "")
        + (", may be reclaimed at once" if offer_class == 2 else "")
        + (f", uptime guarantee {avail.uptime_guarantee_bps / 100:g}%" if avail.uptime_guarantee_bps else "")
        + f"\n  rate        {per_hour(plan_terms.rate, client.decimals)} {client.symbol} per hour "
        f"({gpus} GPU(s) x {client.fmt(price)} per GPU-second)\n"
        f"  deposit     {client.fmt(plan_terms.deposit)}: runway {fmt_span(runway)} from acceptance\n"
        f"  billing     until you close it"
        + (f", {fmt_time(end_time, now)}" if end_time else "")
        + f" or the deposit runs out (about {fmt_time(stops, now)} if accepted now)\n"
        f"  limits      at most {client.fmt(plan_terms.max_price)} per GPU-second, class up to "
        f"{class_name(max_class)}" + (f", notice at least {fmt_span(notice)}" if notice else "")
    )
    where = "spec hash only: publish the spec yourself where the provider's worker fetches specs"
    if spec and not no_publish:
        where = _publish(c, _load_spec(spec), publish or c.oracle())
    elif spec:
        where = "spec NOT published (--no-publish): the worker waits for it"
    description = (
        f"open a lease on offer {offer_id} ({gpus} GPU(s)) at {per_hour(plan_terms.rate, client.decimals)} "
        f"{client.symbol}/h: deposit {client.fmt(plan_terms.deposit)} into LeaseEscrow {leases.escrow.address}"
    )
    args = (
        offer_id,
        gpus,
        plan_terms.max_price,
        max_class,
        notice,
        h,
        plan_terms.deposit,
        end_time,
        description,
    )
    if permit:
        plan = leases.plan_open_lease_with_permit(c.local_signer("a permit"), *args)
    else:
        _approve(c, leases, plan_terms.deposit, no_approve)
        plan = leases.plan_open_lease(sender, *args)
    out = c.send(plan, what="lease opened")
    ev = out.event("LeaseOpened").args
    lease_id = int(ev["leaseId"])
    c.emit(
        {
            "tx": out.summary(),
            "lease_id": lease_id,
            "offer_id": offer_id,
            "gpu_count": gpus,
            "rate_per_second": int(ev["ratePerSecond"]),
            "deposit": plan_terms.deposit,
            "end_time": end_time,
            "accept_by": int(ev["acceptBy"]),
            "class": class_name(int(ev["availabilityClass"])),
            "spec": where,
        },
        f"lease {lease_id} opened: deposit {client.fmt(plan_terms.deposit)}, provider must accept by "
        f"{fmt_time(int(ev['acceptBy']), now)}\n{where}\n"
        f"watch it: gpusettle lease status {lease_id}",
    )


def _approve(c: Ctx, leases: Leases, amount: int, no_approve: bool) -> None:
    client = c.client()
    sender = c.address()
    spender = leases.escrow.address
    allowance = client.allowance(sender, spender)
    if allowance >= amount:
        return
    if no_approve:
        raise InsufficientAllowanceError(
            sender,
            f"the lease escrow {spender}",
            format_units(amount, client.decimals),
            format_units(allowance, client.decimals),
            client.symbol,
        )
    c.info(
        f"the lease escrow may take {client.fmt(allowance)} of your tokens; approving {client.fmt(amount)} first"
    )
    c.send(
        client.plan_approve(
            sender, spender, amount, f"approve the lease escrow to take {client.fmt(amount)}"
        ),
        what="approved",
    )


def _open_matched(
    match: str, index: str | None, gpus: int, open_on: Callable[[int, dict[str, str]], None]
) -> None:
    """Open on the cheapest offer that fits `match` with `gpus` free; when another client took the GPUs
    first (or the offer changed since the index saw it), say so and try the next, at most MATCH_TRIES.

    The match's class, notice and price become the lease's on-chain limits (unless --class,
    --min-notice or --max-price say otherwise), so an offer that changed after indexing is refused."""
    from ..index.match import candidates, parse_match
    from ..index.source import open_source

    c = get_ctx()
    client = c.client()
    need = parse_match(match, client.decimals)
    need = need.model_copy(update={"min_free": max(gpus, need.min_free or 0)})
    params = click.get_current_context().params
    limits: dict[str, str] = {}
    if need.max_class is not None and not params.get("accept_class"):
        limits["accept_class"] = CLASSES[need.max_class]
    if need.min_notice and params.get("min_notice") in (None, "0"):
        limits["min_notice"] = str(need.min_notice)
    if need.max_price is not None and not params.get("max_price"):
        limits["max_price"] = f"{format_units(need.max_price, client.decimals)}/s"
    found = candidates(open_source(index, client.chain.chain_id), need, MATCH_TRIES)
    if not found:
        raise ConfigError(
            f"no active offer with {gpus} free GPU(s) fits --match {match!r}",
            "loosen the filters; `gpusettle market offers --free N` shows what is free",
        )
    from .market import unfit_on_chain

    for n, offer in enumerate(found, 1):
        why, now = unfit_on_chain(client, need, offer.offer_id)
        if why is None and need.verified and client.is_verified(offer.offer_id) is not True:
            why = "the chain does not confirm it is hardware-verified"
        if why is not None:
            c.info(f"offer {offer.offer_id} does not fit on-chain: {why}; trying the next match")
            continue
        # What the chain says, not what the index claimed.
        c.info(
            f"match {n} of {len(found)}: offer {offer.offer_id}, {shown(now.gpu_model)} ({now.vram_gb} GB), "
            f"{shown(offer.gpu_class or 'dedicated')}, {per_hour(now.price_per_gpu_second, client.decimals)} "
            f"{client.symbol} per GPU-hour, provider {now.provider}"
        )
        try:
            open_on(offer.offer_id, limits)
            return
        except OfferUnfitError as exc:
            c.info(
                f"offer {offer.offer_id} changed on-chain since the index saw it ({exc.message}); trying the next match"
            )
        except ContractError as exc:
            if exc.name not in LOST_RACE_ERRORS:
                raise
            c.info(f"lost the race for offer {offer.offer_id} ({exc.name}); trying the next match")
    raise GpusettleError(
        f"none of the {len(found)} matching offers could take the lease",
        "run the command again (the index may have caught up), or loosen --match",
    )


def _latest_lease(c: Ctx) -> int:
    events = leases_of(c).leases_opened(client=c.address())
    if not events:
        raise ConfigError(
            f"{c.address()} has opened no lease", "give a LEASE_ID, or open one with `gpusettle lease open`"
        )
    return max(e.lease_id for e in events)


def _lease_dict(info: LeaseInfo) -> dict[str, object]:
    return {**asdict(info), "class": info.class_name}


@lease.command("top-up")
@click.argument("lease_id", type=click.IntRange(1))
@click.option("--amount", help="Tokens to add to the deposit (or --for).")
@click.option("--for", "duration", help="Add this much runway at the lease's rate: 30m, 2h, 1d.")
@click.option("--permit", is_flag=True, hidden=True, help="Not available: top-ups use an approve.")
@click.option("--no-approve", is_flag=True, help="Never send an approve: fail if the allowance is short.")
@shared_options
def lease_top_up(
    lease_id: int, amount: str | None, duration: str | None, permit: bool, no_approve: bool
) -> None:
    """Add to LEASE_ID's deposit so it runs longer (anyone may top up a lease)."""
    if permit:
        raise click.UsageError("top-up has no permit form: approve the amount (the default)")
    c = get_ctx()
    client = c.client()
    leases = leases_of(c)
    info = leases.lease(lease_id)
    if info.status not in ("Open", "Running"):
        raise ConfigError(
            f"lease {lease_id} is {info.status}: only an open or running lease takes a top-up",
            "open a new lease: `gpusettle lease open`",
        )
    if info.billing_end and info.billing_end <= client.chain.timestamp():
        raise ConfigError(
            f"lease {lease_id} stopped billing at {fmt_time(info.billing_end)}", "open a new lease"
        )
    value = _deposit(c, info.rate_per_second, amount, duration, "top-up")
    if value <= 0:
        raise ConfigError("the top-up is zero", "give --amount AMOUNT or --for DURATION")
    sender = c.address()
    require_tokens(client, sender, value)
    c.info(
        f"top up lease {lease_id}: +{client.fmt(value)} = {fmt_span(value // max(1, info.rate_per_second))} more runway "
        f"at {per_hour(info.rate_per_second, client.decimals)} {client.symbol}/h"
    )
    _approve(c, leases, value, no_approve)
    out = c.send(leases.plan_top_up(sender, lease_id, value), what="topped up")
    ev = out.event("LeaseToppedUp").args
    after = leases.lease(lease_id)
    now = client.chain.timestamp()
    c.emit(
        {
            "tx": out.summary(),
            "lease_id": lease_id,
            "amount": value,
            "deposit": int(ev["deposit"]),
            "runway_end": after.runway_end,
        },
        f"lease {lease_id} topped up by {client.fmt(value)}: deposit {client.fmt(int(ev['deposit']))}"
        + (f", runway until {fmt_time(after.runway_end, now)}" if after.runway_end else ""),
    )


@lease.command("close")
@click.argument("lease_id", type=click.IntRange(1))
@shared_options
def lease_close(lease_id: int) -> None:
    """Stop LEASE_ID now: billing ends at once (a lease not yet accepted is cancelled for a full refund).

    The last checkpoint then settles the final period; claim the unused deposit after it with
    `gpusettle lease claim-refund`."""
    c = get_ctx()
    client = c.client()
    leases = leases_of(c)
    info = leases.lease(lease_id)
    sender = c.address()
    if info.status == "Open":
        c.info(f"lease {lease_id} is not accepted yet: cancelling it for a full refund")
        out = c.send(leases.plan_cancel(sender, lease_id), what="cancelled")
        refund = int(out.event("LeaseCancelled").args["refund"])
        c.emit(
            {"tx": out.summary(), "lease_id": lease_id, "refund": refund, "status": "Cancelled"},
            f"lease {lease_id} cancelled, {client.fmt(refund)} refunded",
        )
        return
    if info.status != "Running":
        raise ConfigError(
            f"lease {lease_id} is {info.status}: there is nothing to close",
            f"see `gpusettle lease status {lease_id}`; an Ended lease's unused deposit comes back with "
            f"`gpusettle lease claim-refund {lease_id}`",
        )
    if info.client.lower() != sender.lower():
        raise ConfigError(
            f"lease {lease_id} belongs to {info.client}, not {sender}",
            "close it from the account that opened it",
        )
    out = c.send(leases.plan_close(sender, lease_id), what="closed")
    billing_end = int(out.event("LeaseClosed").args["billingEnd"])
    now = client.chain.timestamp()
    c.emit(
        {"tx": out.summary(), "lease_id": lease_id, "billing_end": billing_end},
        f"lease {lease_id} closed: billing ended {fmt_time(billing_end, now)}; the final checkpoint settles "
        f"the last period, then `gpusettle lease claim-refund {lease_id}` returns the unused deposit",
    )


@lease.command("claim-refund")
@click.argument("lease_id", type=click.IntRange(1))
@shared_options
def lease_claim_refund(lease_id: int) -> None:
    """Send the unused deposit of an Ended LEASE_ID back to its client."""
    c = get_ctx()
    client = c.client()
    leases = leases_of(c)
    info = leases.lease(lease_id)
    if info.status != "Ended" or not info.refundable:
        raise ConfigError(
            f"lease {lease_id} is {info.status} with {client.fmt(info.refundable)} refundable",
            "a refund exists once the final checkpoint landed (or the expiry was claimed); "
            f"see `gpusettle lease status {lease_id}`",
        )
    out = c.send(leases.plan_claim_refund(c.address(), lease_id, info.refundable), what="refund claimed")
    amount = int(out.event("LeaseRefundClaimed").args["amount"])
    c.emit({"tx": out.summary(), "lease_id": lease_id, "refunded": amount}, f"refunded {client.fmt(amount)}")


@lease.command("dispute")
@click.argument("lease_id", type=click.IntRange(1))
@click.option("--reason", required=True, help="Why; its keccak256 goes on-chain (keep the text as evidence).")
@click.option("--no-approve", is_flag=True, help="Never send an approve: fail if the allowance is short.")
@shared_options
def lease_dispute(lease_id: int, reason: str, no_approve: bool) -> None:
    """Dispute LEASE_ID's last checkpoint within its dispute window, posting the lease's dispute bond.

    No checkpoint lands until the arbiter rules. Upheld: the lease ends at the last paid time, the provider is
    slashed and you are compensated and get the bond back. Rejected: the bond goes to the provider. Not ruled by
    the ruling deadline: `gpusettle lease lapse-dispute` returns the bond."""
    c = get_ctx()
    client = c.client()
    leases = leases_of(c)
    info = leases.lease(lease_id)
    sender = c.address()
    if info.status not in ("Running", "Ended"):
        raise ConfigError(
            f"lease {lease_id} is {info.status}: only a running or ended lease's checkpoint can be disputed",
            f"see `gpusettle lease status {lease_id}`",
        )
    if info.client.lower() != sender.lower():
        raise ConfigError(
            f"lease {lease_id} belongs to {info.client}, not {sender}",
            "only the client that opened a lease may dispute its checkpoints",
        )
    if not info.last_checkpoint_at:
        raise ConfigError(f"lease {lease_id} has no checkpoint yet", "there is nothing to dispute")
    params = leases.lease_parameters(lease_id)
    now = client.chain.timestamp()
    closes = info.last_checkpoint_at + params["lease_dispute_window"]
    if now > closes:
        raise ConfigError(
            f"the dispute window of lease {lease_id}'s last checkpoint closed {fmt_time(closes, now)}",
            "a checkpoint can be disputed only within the dispute window after it landed",
        )
    bond = params["lease_dispute_bond"]
    if bond:
        require_tokens(client, sender, bond)
        _approve(c, leases, bond, no_approve)
    reason_hash = keccak256(reason.encode("utf-8"))
    out = c.send(leases.plan_dispute(sender, lease_id, reason_hash, bond), what="disputed")
    deadline = int(out.event("CheckpointDisputed").args["rulingDeadline"])
    c.emit(
        {
            "tx": out.summary(),
            "lease_id": lease_id,
            "bond": bond,
            "reason_hash": "0x" + reason_hash.hex(),
            "ruling_deadline": deadline,
        },
        f"lease {lease_id}'s last checkpoint disputed (bond {client.fmt(bond)}); the arbiter rules by "
        f"{fmt_time(deadline, now)}, after that `gpusettle lease lapse-dispute {lease_id}` returns the bond",
    )


@lease.command("lapse-dispute")
@click.argument("lease_id", type=click.IntRange(1))
@shared_options
def lease_lapse_dispute(lease_id: int) -> None:
    """Close a checkpoint dispute the arbiter did not rule on by its ruling deadline: the client's bond goes back
    to it, nothing is slashed, the provider's frozen stake is released and the lease goes on. Anyone may send it."""
    c = get_ctx()
    client = c.client()
    leases = leases_of(c)
    info = leases.lease(lease_id)
    if info.status != "Disputed":
        raise ConfigError(
            f"lease {lease_id} is {info.status}, not Disputed: there is no open dispute to lapse",
            f"see `gpusettle lease status {lease_id}`",
        )
    now = client.chain.timestamp()
    if now <= info.ruling_deadline:
        raise ConfigError(
            f"the arbiter may still rule on lease {lease_id}'s dispute until {fmt_time(info.ruling_deadline, now)} "
            f"(unix {info.ruling_deadline})",
            f"run `gpusettle lease lapse-dispute {lease_id}` after that; until then, wait for the ruling",
        )
    out = c.send(
        leases.plan_lapse_dispute(c.address(), lease_id, info.dispute_bond, info.client), what="lapsed"
    )
    ev = out.event("CheckpointDisputeLapsed").args
    bond = int(ev["bond"])
    c.emit(
        {"tx": out.summary(), "lease_id": lease_id, "bond_returned": bond, "client": str(ev["client"])},
        f"lease {lease_id}'s dispute lapsed without a ruling: bond {client.fmt(bond)} returned to {ev['client']}",
    )


@lease.command("status")
@click.argument("lease_id", type=click.IntRange(1), required=False)
@shared_options
def lease_status(lease_id: int | None) -> None:
    """Rate, runway end, up and down time, paid and refundable of LEASE_ID (default: the newest lease
    --account opened)."""
    c = get_ctx()
    client = c.client()
    leases = leases_of(c)
    if lease_id is None:
        lease_id = _latest_lease(c)
    info = leases.lease(lease_id)
    now = client.chain.timestamp()

    def human() -> None:
        f = client.fmt
        settled = info.up_seconds + info.down_seconds
        click.echo(f"lease {info.lease_id}: {info.status}")
        click.echo(f"  client      {info.client}")
        click.echo(f"  provider    {info.provider} (offer {info.offer_id}, {info.gpu_count} GPU(s))")
        click.echo(
            f"  class       {info.class_name}"
            + (f", {fmt_span(info.notice_seconds)} notice" if info.availability_class == 1 else "")
            + (
                f", uptime guarantee {info.uptime_guarantee_bps / 100:g}%"
                if info.uptime_guarantee_bps
                else ""
            )
        )
        click.echo(
            f"  rate        {per_hour(info.rate_per_second, client.decimals)} {client.symbol} per hour "
            f"({f(info.rate_per_second)} per second)"
        )
        click.echo(f"  deposit     {f(info.deposit)}")
        if info.status == "Open":
            click.echo(f"  accept by   {fmt_time(info.accept_by, now)}")
        if info.started_at:
            click.echo(f"  started     {fmt_time(info.started_at, now)}")
        if info.status == "Running" and info.runway_end:
            click.echo(f"  runway end  {fmt_time(info.runway_end, now)}")
        if info.end_time:
            click.echo(f"  end time    {fmt_time(info.end_time, now)}")
        if info.billing_end:
            click.echo(f"  billing end {fmt_time(info.billing_end, now)}")
        if info.started_at:
            share = f" ({info.up_seconds * 100 / settled:.1f}% up)" if settled else ""
            click.echo(
                f"  up / down   {fmt_span(info.up_seconds)} / {fmt_span(info.down_seconds)}{share}, "
                f"settled through {fmt_time(info.paid_through, now)}"
            )
        if unsettled is not None:
            click.echo(
                f"  since then  {fmt_span(unsettled['up'])} up / {fmt_span(unsettled['down'])} down so far, from "
                f"{unsettled['heartbeats']} heartbeat(s) the oracle holds (the next checkpoint settles it)"
            )
        click.echo(f"  paid        {f(info.paid)}")
        click.echo(f"  refundable  {f(info.refundable)}")
        if info.collateral:
            click.echo(f"  collateral  {f(info.collateral)} (provider's, locked for this lease)")
        if withheld:
            closes = leases.collateral_closes_at(info) if info.status == "Ended" else 0
            click.echo(
                f"  withheld    {f(withheld)} of the provider's pay, held for a ruling: its free stake could not "
                f"lock the whole ruling reserve; "
                + (
                    f"credited once the collateral is released (`gpusettle provider lease release-collateral "
                    f"{lease_id}`, after {fmt_time(closes, now)})"
                    if info.status == "Ended"
                    else "credited after the lease ends and its last dispute window closes"
                )
            )
        if info.status == "Disputed":
            lapse = (
                "" if now <= info.ruling_deadline else f"; lapsed: `gpusettle lease lapse-dispute {lease_id}`"
            )
            click.echo(
                f"  dispute     bond {f(info.dispute_bond)}, the arbiter rules by "
                f"{fmt_time(info.ruling_deadline, now)}{lapse}"
            )
        click.echo(f"  spec hash   {info.spec_hash}")

    withheld = leases.withheld_pay(lease_id)[0]
    unsettled = _unsettled_uptime(c, info) if info.status == "Running" else None
    c.emit({**_lease_dict(info), "withheld_pay": withheld, "unsettled": unsettled}, human)


def _unsettled_uptime(c: Ctx, info: LeaseInfo) -> dict[str, int] | None:
    """Up and down seconds since the last checkpoint, as the oracle counts them from the heartbeats it holds;
    None when no oracle is configured or it does not answer at once (the chain's figures are shown anyway)."""
    import json

    import httpx

    from ..outbound import OutboundError, outbound_client, request_bounded

    try:
        url = c.oracle().rstrip("/") + f"/v1/leases/{info.lease_id}/uptime"
    except ConfigError:
        return None
    try:
        with outbound_client(2.0) as http:
            status, body = request_bounded(http, "GET", url, max_bytes=64 * 1024, deadline_s=3.0)
        if status != 200:
            return None
        doc = json.loads(body)
        return {
            "up": int(doc["upSeconds"]),
            "down": int(doc["downSeconds"]),
            "heartbeats": int(doc["heartbeats"]),
        }
    except (httpx.HTTPError, OutboundError, ValueError, KeyError, TypeError):
        return None


@lease.command("list")
@click.option(
    "--provider", "who", help="Leases on this provider's offers (address or alias) instead of yours."
)
@shared_options
def lease_list(who: str | None) -> None:
    """Leases --account opened (from LeaseOpened events), with their current status."""
    c = get_ctx()
    client = c.client()
    leases = leases_of(c)
    if who:
        events = leases.leases_opened(provider=c.resolve_address(who))
    else:
        events = leases.leases_opened(client=c.address())
    rows = []
    for ev in events:
        info = leases.lease(ev.lease_id)
        rows.append(
            {
                "lease_id": ev.lease_id,
                "status": info.status,
                "offer_id": ev.offer_id,
                "client": ev.client,
                "provider": ev.provider,
                "gpu_count": ev.gpu_count,
                "rate_per_second": info.rate_per_second,
                "deposit": info.deposit,
                "paid": info.paid,
                "refundable": info.refundable,
                "runway_end": info.runway_end,
                "class": info.class_name,
            }
        )

    def human() -> None:
        if not rows:
            click.echo("no leases")
        for r in rows:
            click.echo(
                f"#{r['lease_id']:<5} {r['status']:<9} offer {r['offer_id']:<4} {r['gpu_count']} GPU(s) "
                f"{r['class']:<13} {per_hour(int(str(r['rate_per_second'])), client.decimals)} {client.symbol}/h "
                f"deposit {client.fmt(int(str(r['deposit'])))} paid {client.fmt(int(str(r['paid'])))}"
            )

    c.emit({"leases": rows}, human)
