"""`gpusettle provider`: stake, unstake, withdraw, status, offers and the worker key."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..availability import CLASSES
from ..chain.client import Gpusettle
from ..errors import ConfigError, InvalidPriceError
from ..units import MAX_OFFER_PRICE, format_price, format_units, parse_price
from .collateral import provider_release_collateral, provider_worker_budget
from .context import Ctx, fmt_time, get_ctx, require_tokens, shared_options, shown
from .lease_collateral import provider_lease_release_collateral
from .release import provider_release_gpus

if TYPE_CHECKING:
    from ..chain.leases import LeaseInfo, Leases
    from ..settings import AvailabilitySettings

__all__ = ["availability_terms", "parse_window", "provider"]

_CLASS_HELP = "Availability class: dedicated, reclaimable (with --notice) or interruptible (no notice)."
_NOTICE_HELP = "A reclaimable offer's notice before a reclaim ends billing: 10m, 1h, 1d."
_UPTIME_HELP = (
    "Uptime guaranteed to leases in percent (0-100, e.g. 99.5); below it a checkpoint pays a penalty."
)


@click.group()
def provider() -> None:
    """Rent out GPUs: stake, worker key, offers, earnings (run from the staking wallet).

    Earnings (what jobs paid) and stake are withdrawn separately: `withdraw-earnings`, and
    `unstake` then `withdraw-stake`."""


provider.add_command(provider_release_gpus)
provider.add_command(provider_release_collateral)
provider.add_command(provider_worker_budget)


def _approve_if_needed(c: Ctx, client: Gpusettle, spender: str, amount: int, label: str) -> None:
    owner = c.address()
    require_tokens(client, owner, amount)
    allowance = client.allowance(owner, spender)
    if allowance < amount:
        c.info(
            f"the {label} may take {client.fmt(allowance)} of your tokens; approving {client.fmt(amount)} first"
        )
        c.send(
            client.plan_approve(
                owner, spender, amount, f"approve {label} {spender} to take {client.fmt(amount)}"
            ),
            what="approved",
        )


@provider.command("stake")
@click.argument("amount")
@click.option(
    "--permit", is_flag=True, help="Sign an EIP-2612 permit instead of sending an approve transaction."
)
@shared_options
def provider_stake(amount: str, permit: bool) -> None:
    """Bond AMOUNT tokens as provider stake."""
    c = get_ctx()
    client = c.client()
    value = c.amount(amount)
    sender = c.address()
    if permit:
        require_tokens(client, sender, value)
        owner = c.local_signer("a permit")
        plan = client.plan_stake_with_permit(owner, value, client.chain.timestamp() + 3600)
    else:
        _approve_if_needed(c, client, client.staking.address, value, "staking contract")
        plan = client.plan_stake(sender, value)
    out = c.send(plan, what="staked")
    info = client.stake_info(sender)
    minimum = client.parameters().min_stake
    below = info.bonded < minimum
    note = (
        f"; below the minimum stake of {client.fmt(minimum)}: no new job or lease is taken until you stake "
        f"{client.fmt(minimum - info.bonded)} more"
        if below
        else ""
    )
    c.emit(
        {"tx": out.summary(), "bonded": info.bonded, "min_stake": minimum, "below_minimum": below},
        f"staked {client.fmt(value)}; bonded now {client.fmt(info.bonded)}{note}",
    )


@provider.command("unstake")
@click.argument("amount")
@shared_options
def provider_unstake(amount: str) -> None:
    """Move AMOUNT of free stake to unbonding (withdraw it after the unbonding period)."""
    c = get_ctx()
    client = c.client()
    value = c.amount(amount)
    out = c.send(client.plan_request_unstake(c.address(), value), what="unstake requested")
    info = client.stake_info(c.address())
    now = client.chain.timestamp()
    c.emit(
        {"tx": out.summary(), "unbonding": info.unbonding, "release_at": info.release_at},
        f"unbonding {client.fmt(info.unbonding)}, released {fmt_time(info.release_at, now)}",
    )


@provider.command("withdraw-stake")
@shared_options
def provider_withdraw_stake() -> None:
    """Withdraw STAKE you unstaked, once its unbonding period has ended (not your earnings: see
    withdraw-earnings)."""
    c = get_ctx()
    client = c.client()
    before = client.token_balance(c.address())
    out = c.send(client.plan_withdraw_stake(c.address()), what="stake withdrawn")
    got = client.token_balance(c.address()) - before
    c.emit({"tx": out.summary(), "withdrawn": got}, f"withdrew {client.fmt(got)} of unbonded stake")


@provider.command("withdraw-earnings")
@shared_options
def provider_withdraw_earnings() -> None:
    """Withdraw EARNINGS: what settled jobs and lease checkpoints paid you (not your stake: see unstake /
    withdraw-stake). One transaction per escrow that holds some."""
    from .lease import leases_of

    c = get_ctx()
    client = c.client()
    address = c.address()
    leases = leases_of(c)
    from_jobs = client.provider_record(address).earnings
    from_leases = leases.earnings(address)
    if from_jobs == 0 and from_leases == 0:
        raise ConfigError(
            f"{address} has no earnings to withdraw",
            "earnings come from settled jobs and lease checkpoints; see `gpusettle provider status`",
        )
    txs = []
    got = 0
    for earned, plan, what in (
        (from_jobs, client.plan_withdraw_earnings, "job earnings withdrawn"),
        (from_leases, leases.plan_withdraw_earnings, "lease earnings withdrawn"),
    ):
        if earned == 0:
            continue
        out = c.send(plan(address), what=what)
        txs.append(out.summary())
        got += sum(int(e.args.get("amount", 0)) for e in out.events if e.name == "EarningsWithdrawn") or earned
    c.emit(
        {"txs": txs, "tx": txs[-1], "withdrawn": got, "from_jobs": from_jobs, "from_leases": from_leases},
        f"withdrew {client.fmt(got)} of earnings ({client.fmt(from_jobs)} from jobs, "
        f"{client.fmt(from_leases)} from leases)",
    )


@provider.command("withdraw", hidden=True)
@shared_options
def provider_withdraw() -> None:
    """Replaced by withdraw-stake and withdraw-earnings: says which is which."""
    raise click.UsageError(
        "say what to withdraw: `gpusettle provider withdraw-earnings` (what jobs paid you) or "
        "`gpusettle provider withdraw-stake` (stake you unstaked, after the unbonding period)"
    )


@provider.command("status")
@click.argument("who", required=False)
@shared_options
def provider_status(who: str | None) -> None:
    """Stake, unbonding, collateral, jail flag, worker, earnings and record of WHO (default --account).

    Two things can be withdrawn: earnings (`withdraw-earnings`, any time) and unstaked stake
    (`unstake`, then `withdraw-stake` after the unbonding period)."""
    from .lease import leases_of

    c = get_ctx()
    client = c.client()
    address = c.resolve_address(who) if who else c.address()
    info = client.stake_info(address)
    record = client.provider_record(address)
    lease_earnings = leases_of(c).earnings(address)
    min_stake, _ = client.staking_parameters()
    now = client.chain.timestamp()
    worker_eth = client.chain.balance(info.worker) if info.worker else None
    from ..worker.availability import describe_availability
    from ..worker.preflight import read_statuses

    statuses = read_statuses(c.settings.home, address)
    data = {
        "provider": address,
        "worker_eth": worker_eth,
        "workers_here": statuses,
        **{k: v for k, v in asdict(info).items() if k != "provider"},
        "free": info.free,
        "unstakeable": info.unstakeable,
        "earnings": record.earnings,
        "lease_earnings": lease_earnings,
        "min_stake": min_stake,
        "record": asdict(record),
        "symbol": client.symbol,
        "decimals": client.decimals,
    }

    def human() -> None:
        f = client.fmt
        click.echo(f"provider          {address}")
        click.echo(
            f"bonded            {f(info.bonded)}{'  (below the minimum ' + f(min_stake) + ')' if info.bonded < min_stake else ''}"
        )
        click.echo(
            f"unbonding         {f(info.unbonding)}"
            + (
                f", released {fmt_time(info.release_at, now)} (then `gpusettle provider withdraw-stake`)"
                if info.unbonding
                else ""
            )
        )
        click.echo(f"locked collateral {f(info.locked_collateral)}")
        if info.lease_locked_collateral:
            click.echo(f"lease collateral  {f(info.lease_locked_collateral)}")
        click.echo(f"free stake        {f(info.free)}")
        click.echo(f"jailed            {'yes' if info.jailed else 'no'}")
        click.echo(
            f"worker            {info.worker or '(none: set one with `gpusettle provider set-worker`)'}"
        )
        click.echo(f"open disputes     {info.open_disputes}")
        if info.dispute_frozen:
            click.echo(f"frozen by them    {f(info.dispute_frozen)} (unstakeable now: {f(info.unstakeable)})")
        if info.fraud_debt:
            click.echo(
                f"fraud debt        {f(info.fraud_debt)} owed to defrauded clients: not unstakeable, collected from "
                f"free stake (`gpusettle job collect-fraud-debt JOB_ID`; unstakeable now: {f(info.unstakeable)})"
            )
        if info.lease_open_disputes:
            click.echo(f"lease disputes    {info.lease_open_disputes}")
        if info.lease_dispute_frozen:
            click.echo(
                f"frozen by them    {f(info.lease_dispute_frozen)} (unstakeable now: {f(info.unstakeable)})"
            )
        if info.disputable_until > now:
            click.echo(
                f"dispute window    open until {fmt_time(info.disputable_until, now)} (withdrawals wait for it)"
            )
        click.echo(
            f"record            {record.jobs_completed} completed, {record.jobs_failed} failed, "
            f"{record.jobs_timed_out} timed out, {record.disputes_lost} disputes lost, "
            f"{record.gpu_seconds_served:,} GPU-seconds served, {f(record.total_slashed)} slashed"
        )
        click.echo(
            f"earnings          {f(record.earnings)} from jobs, {f(lease_earnings)} from leases"
            + (
                "  (withdraw with `gpusettle provider withdraw-earnings`)"
                if record.earnings or lease_earnings
                else ""
            )
        )
        if worker_eth is not None:
            click.echo(
                f"worker gas        {format_units(worker_eth)} ETH"
                + ("  (fund the worker key: it pays for accepting jobs)" if worker_eth == 0 else "")
            )
        for st in statuses:
            refused = st.get("refused_offers") or {}
            head = f"worker here       {st['worker']}: {st.get('hardware', '')}"
            click.echo(head)
            for offer_id, reason in refused.items():
                click.echo(f"  REFUSES offer {offer_id}: {reason}")
            for line in describe_availability(st):
                click.echo(line)

    c.emit(data, human)


@provider.command("set-worker")
@click.argument("worker")
@shared_options
def provider_set_worker(worker: str) -> None:
    """Name WORKER (address or alias) as the hot key that signs receipts."""
    c = get_ctx()
    client = c.client()
    address = c.resolve_address(worker)
    out = c.send(client.plan_set_worker(c.address(), address), what="worker set")
    c.emit({"tx": out.summary(), "worker": address}, f"worker key is now {address}")


@provider.group("offer")
def offer() -> None:
    """Publish, change, withdraw and list offers."""


def _price(c: Ctx, text: str) -> int:
    client = c.client()
    base = parse_price(text, client.decimals)
    if base > MAX_OFFER_PRICE:
        raise InvalidPriceError(
            text,
            f"it is above the highest price an offer can carry: {format_units(MAX_OFFER_PRICE, client.decimals)} "
            f"{client.symbol} per GPU-second ({format_units(MAX_OFFER_PRICE * 3600, client.decimals)} per GPU-hour)",
        )
    return base


_PRICE_HELP = "with its unit: tokens per GPU-second (0.001/s) or per GPU-hour (3.6/h, rounded down to /s)"


@offer.command("add")
@click.option("--gpu-model", help='GPU model, e.g. "NVIDIA H100 80GB HBM3".')
@click.option("--gpu-count", type=click.IntRange(1, 255), help="GPUs per job.")
@click.option("--vram", "vram_gb", type=click.IntRange(1, 2**32 - 1), help="GB of memory per GPU.")
@click.option(
    "--this-machine",
    is_flag=True,
    help="Describe this machine's GPUs as NVML reports them (its CPU when it has none).",
)
@click.option("--price", required=True, help=f"The price, {_PRICE_HELP}.")
@click.option("--metadata-uri", default="", help="Where the machine is described.")
@click.option("--class", "klass", type=click.Choice(CLASSES), help=_CLASS_HELP + " Default dedicated.")
@click.option("--notice", help=_NOTICE_HELP)
@click.option("--uptime-guarantee", "uptime", help=_UPTIME_HELP)
@shared_options
def offer_add(
    gpu_model: str | None,
    gpu_count: int | None,
    vram_gb: int | None,
    this_machine: bool,
    price: str,
    metadata_uri: str,
    klass: str | None,
    notice: str | None,
    uptime: str | None,
) -> None:
    """Publish an offer (needs at least the minimum stake).

    Give --this-machine, or --gpu-model, --gpu-count and --vram. The worker refuses to serve an offer
    whose hardware it does not find."""
    c = get_ctx()
    if this_machine:
        if gpu_model or gpu_count or vram_gb:
            raise click.UsageError("give --this-machine or --gpu-model/--gpu-count/--vram, not both")
        from ..worker.preflight import this_machine as detect

        hw = detect()
        gpu_model, gpu_count, vram_gb = hw.model, hw.count, hw.memory_gb
        c.info(f"this machine: {hw.note}")
    elif not (gpu_model and gpu_count and vram_gb):
        raise click.UsageError(
            "describe the hardware: --this-machine, or --gpu-model, --gpu-count and --vram"
        )
    assert gpu_model is not None and gpu_count is not None and vram_gb is not None
    # Checked before the offer goes out: bad class flags must not leave a published dedicated offer.
    terms = availability_terms((0, 0, 0), klass, notice, uptime) if (klass or notice or uptime) else None
    client = c.client()
    base = _price(c, price)
    out = c.send(
        client.plan_add_offer(c.address(), gpu_model, gpu_count, vram_gb, base, metadata_uri),
        what="offer published",
    )
    offer_id = int(out.event("OfferAdded").args["offerId"])
    if terms is not None and terms != (0, 0, 0):
        # New offers are dedicated without a guarantee; another class is a second transaction.
        _set_availability(c, offer_id, terms)
    c.emit(
        {"tx": out.summary(), "offer_id": offer_id, "price_per_gpu_second": str(base)},
        f"offer {offer_id} published at {format_price(base, client.decimals, client.symbol)}",
    )


@offer.command("update")
@click.argument("offer_id", type=click.IntRange(1))
@click.option("--gpu-count", type=click.IntRange(1, 255), help="GPUs per job (default: unchanged).")
@click.option("--vram", "vram_gb", type=click.IntRange(1, 2**32 - 1), help="GB per GPU (default: unchanged).")
@click.option("--price", help=f"The new price, {_PRICE_HELP} (default: unchanged).")
@click.option("--metadata-uri", help="Metadata URI (default: unchanged).")
@click.option("--class", "klass", type=click.Choice(CLASSES), help=_CLASS_HELP)
@click.option("--notice", help=_NOTICE_HELP)
@click.option("--uptime-guarantee", "uptime", help=_UPTIME_HELP)
@shared_options
def offer_update(
    offer_id: int,
    gpu_count: int | None,
    vram_gb: int | None,
    price: str | None,
    metadata_uri: str | None,
    klass: str | None,
    notice: str | None,
    uptime: str | None,
) -> None:
    """Change OFFER_ID's terms; open jobs and leases keep the terms they locked."""
    c = get_ctx()
    client = c.client()
    if klass is not None or notice is not None or uptime is not None:
        cur_terms = _leases(c).offer_availability(offer_id)
        current = (cur_terms.availability_class, cur_terms.notice_seconds, cur_terms.uptime_guarantee_bps)
        _set_availability(c, offer_id, availability_terms(current, klass, notice, uptime))
        if gpu_count is None and vram_gb is None and price is None and metadata_uri is None:
            c.emit({"offer": asdict(client.offer(offer_id))}, f"offer {offer_id} updated")
            return
    cur = client.offer(offer_id)
    plan = client.plan_update_offer(
        c.address(),
        offer_id,
        gpu_count if gpu_count is not None else cur.gpu_count,
        vram_gb if vram_gb is not None else cur.vram_gb,
        _price(c, price) if price is not None else cur.price_per_gpu_second,
        metadata_uri if metadata_uri is not None else cur.metadata_uri,
    )
    out = c.send(plan, what="offer updated")
    now = client.offer(offer_id)
    c.emit(
        {"tx": out.summary(), "offer": asdict(now)},
        f"offer {offer_id} updated: {now.gpu_count} GPU(s) at "
        f"{format_price(now.price_per_gpu_second, client.decimals, client.symbol)}",
    )


@offer.command("withdraw")
@click.argument("offer_id", type=click.IntRange(1))
@shared_options
def offer_withdraw(offer_id: int) -> None:
    """Withdraw OFFER_ID (open jobs on it are unaffected)."""
    c = get_ctx()
    client = c.client()
    out = c.send(client.plan_withdraw_offer(c.address(), offer_id), what="offer withdrawn")
    c.emit({"tx": out.summary(), "offer_id": offer_id}, f"offer {offer_id} withdrawn")


@offer.command("list")
@click.option(
    "--provider", "who", help="Only this provider's offers (address or alias; default: --account if given)."
)
@click.option("--all", "all_", is_flag=True, help="Every provider's offers.")
@click.option("--active", is_flag=True, help="Only active offers.")
@shared_options
def offer_list(who: str | None, all_: bool, active: bool) -> None:
    """List offers."""
    c = get_ctx()
    client = c.client()
    address = None
    if not all_:
        address = c.resolve_address(who) if who else (c.address() if c.account else None)
    offers = client.offers(address, active_only=active)

    def human() -> None:
        if not offers:
            click.echo("no offers")
        for o in offers:
            click.echo(
                f"#{o.offer_id:<4} {'active   ' if o.active else 'withdrawn'} {o.gpu_count} x {shown(o.gpu_model)} "
                f"({o.vram_gb} GB) at {format_units(o.price_per_gpu_second, client.decimals)} {client.symbol}/GPU-s"
                f"  provider {o.provider}  {shown(o.metadata_uri)}"
            )

    c.emit({"offers": [asdict(o) for o in offers]}, human)


# -- leases, availability and capacity (issue 11) --------------------------------------------------------


def _leases(c: Ctx) -> Leases:
    from .lease import leases_of

    return leases_of(c)


def availability_terms(
    current: tuple[int, int, int], klass: str | None, notice: str | None, uptime: str | None
) -> tuple[int, int, int]:
    """(class, notice seconds, guarantee bps) from the flags over the `current` terms (a new offer's are
    (0, 0, 0)); ConfigError for terms the staking contract would refuse, before anything is sent."""
    from ..availability import class_value, parse_duration

    value = class_value(klass) if klass else current[0]
    seconds = parse_duration(notice, "--notice") if notice is not None else current[1]
    bps = _uptime_bps(uptime) if uptime is not None else current[2]
    if value == 0:
        if notice is not None and seconds:
            raise ConfigError(
                "a dedicated offer is never reclaimed, so it has no notice",
                "drop --notice, or choose --class reclaimable",
            )
        seconds = 0
    if value == 1 and seconds == 0:
        raise ConfigError(
            "a reclaimable offer needs a notice: how long a lease keeps running after a reclaim",
            "pass --notice, e.g. --notice 10m (interruptible offers have none)",
        )
    if value == 2:
        if notice is not None and seconds:
            raise ConfigError(
                "an interruptible offer gives no notice", "drop --notice, or choose --class reclaimable"
            )
        seconds = 0
        if uptime is None:
            bps = 0  # the guarantee of the class it had does not carry over
        if bps:
            raise ConfigError(
                "an interruptible offer cannot guarantee uptime", "drop --uptime-guarantee (or set it to 0)"
            )
    if seconds > 2**32 - 1:
        raise ConfigError(f"--notice {notice} is longer than the contract holds", "give at most 136 years")
    return value, seconds, bps


def _uptime_bps(text: str) -> int:
    """'99.5' or '99.5%' -> 9950 basis points; ConfigError outside 0-100."""
    from decimal import Decimal, InvalidOperation

    try:
        value = Decimal(text.strip().removesuffix("%"))
    except InvalidOperation:
        raise ConfigError(
            f"--uptime-guarantee {text!r} is not a number", "give a percentage, e.g. 99.5"
        ) from None
    if not 0 <= value <= 100 or (value * 100) % 1:
        raise ConfigError(
            f"--uptime-guarantee {text} is not a percentage from 0 to 100 in steps of 0.01",
            "give e.g. 99.5",
        )
    return int(value * 100)


def _set_availability(c: Ctx, offer_id: int, terms: tuple[int, int, int]) -> None:
    value, seconds, bps = terms
    c.send(
        _leases(c).plan_set_offer_availability(c.address(), offer_id, value, seconds, bps),
        what="availability set",
    )


_CLASS_HELP = "Availability class: dedicated, reclaimable (with --notice) or interruptible (no notice)."
_NOTICE_HELP = "A reclaimable offer's notice before a reclaim ends billing: 10m, 1h, 1d."
_UPTIME_HELP = (
    "Uptime guaranteed to leases in percent (0-100, e.g. 99.5); below it a checkpoint pays a penalty."
)


@offer.command("availability")
@click.argument("offer_id", type=click.IntRange(1))
@click.option("--class", "klass", type=click.Choice(CLASSES), help=_CLASS_HELP)
@click.option("--notice", help=_NOTICE_HELP)
@click.option("--uptime-guarantee", "uptime", help=_UPTIME_HELP)
@shared_options
def offer_availability(offer_id: int, klass: str | None, notice: str | None, uptime: str | None) -> None:
    """Show OFFER_ID's class, notice, guarantee, pause flag and free GPUs; with options, change them
    (leases already running keep the terms they opened with)."""
    c = get_ctx()
    c.client()
    if klass is not None or notice is not None or uptime is not None:
        cur = _leases(c).offer_availability(offer_id)
        current = (cur.availability_class, cur.notice_seconds, cur.uptime_guarantee_bps)
        _set_availability(c, offer_id, availability_terms(current, klass, notice, uptime))
    a = _leases(c).offer_availability(offer_id)
    data = {**asdict(a), "class": a.class_name}
    c.emit(
        data,
        f"offer {offer_id}: {a.class_name}"
        + (f", {a.notice_seconds} s notice" if a.availability_class == 1 else "")
        + (f", uptime guarantee {a.uptime_guarantee_bps / 100:g}%" if a.uptime_guarantee_bps else "")
        + f"; {a.free_gpus} GPU(s) free, {a.reserved_gpus} reserved"
        + ("; PAUSED (no new work)" if a.paused else ""),
    )


@offer.command("pause")
@click.argument("offer_id", type=click.IntRange(1))
@shared_options
def offer_pause(offer_id: int) -> None:
    """Take no new jobs or leases on OFFER_ID for now (running ones continue); from the staking wallet
    or the worker key."""
    c = get_ctx()
    c.client()
    leases = _leases(c)
    if leases.offer_availability(offer_id).paused:
        raise ConfigError(
            f"offer {offer_id} is already paused", f"resume it: `gpusettle provider offer resume {offer_id}`"
        )
    out = c.send(leases.plan_pause_offer(c.address(), offer_id), what="offer paused")
    c.emit({"tx": out.summary(), "offer_id": offer_id, "paused": True}, f"offer {offer_id} paused")


@offer.command("resume")
@click.argument("offer_id", type=click.IntRange(1))
@shared_options
def offer_resume(offer_id: int) -> None:
    """Take new jobs and leases on OFFER_ID again."""
    c = get_ctx()
    c.client()
    leases = _leases(c)
    if not leases.offer_availability(offer_id).paused:
        raise ConfigError(f"offer {offer_id} is not paused", "nothing to resume")
    out = c.send(leases.plan_resume_offer(c.address(), offer_id), what="offer resumed")
    c.emit({"tx": out.summary(), "offer_id": offer_id, "paused": False}, f"offer {offer_id} resumed")


@provider.group("lease")
def provider_lease() -> None:
    """Accept, decline and list leases on your offers (from the staking wallet or the worker key), and
    release ended leases' collateral."""


provider_lease.add_command(provider_lease_release_collateral)


def _open_lease(c: Ctx, lease_id: int) -> LeaseInfo:
    info = _leases(c).lease(lease_id)
    if info.status != "Open":
        raise ConfigError(
            f"lease {lease_id} is {info.status}: only an open lease can be accepted or declined",
            f"see `gpusettle lease status {lease_id}`",
        )
    return info


@provider_lease.command("accept")
@click.argument("lease_id", type=click.IntRange(1))
@shared_options
def provider_lease_accept(lease_id: int) -> None:
    """Accept LEASE_ID: billing starts now and collateral is locked from your free stake (the worker
    does this itself when it runs)."""
    c = get_ctx()
    client = c.client()
    info = _open_lease(c, lease_id)
    now = client.chain.timestamp()
    if info.accept_by and now > info.accept_by:
        raise ConfigError(
            f"lease {lease_id} had to be accepted by {fmt_time(info.accept_by, now)}",
            "it can only be cancelled now (by anyone): the client gets its deposit back",
        )
    out = c.send(_leases(c).plan_accept(c.address(), lease_id), what="lease accepted")
    ev = out.event("LeaseAccepted").args
    c.emit(
        {
            "tx": out.summary(),
            "lease_id": lease_id,
            "started_at": int(ev["startedAt"]),
            "collateral": int(ev["collateral"]),
        },
        f"lease {lease_id} accepted: billing from {fmt_time(int(ev['startedAt']), now)}, "
        f"collateral {client.fmt(int(ev['collateral']))} locked",
    )


@provider_lease.command("decline")
@click.argument("lease_id", type=click.IntRange(1))
@shared_options
def provider_lease_decline(lease_id: int) -> None:
    """Decline LEASE_ID: the client gets its whole deposit back."""
    c = get_ctx()
    client = c.client()
    info = _open_lease(c, lease_id)
    out = c.send(_leases(c).plan_decline(c.address(), lease_id), what="lease declined")
    c.emit(
        {"tx": out.summary(), "lease_id": lease_id, "refund": info.deposit},
        f"lease {lease_id} declined; {client.fmt(info.deposit)} goes back to {info.client}",
    )


@provider_lease.command("list")
@click.argument("who", required=False)
@shared_options
def provider_lease_list(who: str | None) -> None:
    """Leases on WHO's offers (default --account), with their status."""
    from .lease import lease_list

    c = get_ctx()
    click.get_current_context().invoke(lease_list, who=c.resolve_address(who) if who else c.address())


@provider.command("reclaim")
@click.argument("lease_id", type=click.IntRange(1))
@shared_options
def provider_reclaim(lease_id: int) -> None:
    """Take the GPUs of LEASE_ID back: billing ends after the notice the lease opened with (reclaimable
    and interruptible leases only; a dedicated lease runs until the client ends it)."""
    c = get_ctx()
    client = c.client()
    leases = _leases(c)
    info = leases.lease(lease_id)
    if info.status != "Running":
        raise ConfigError(
            f"lease {lease_id} is {info.status}: only a running lease can be reclaimed",
            "an open lease is declined instead: `gpusettle provider lease decline`",
        )
    if info.availability_class == 0:
        raise ConfigError(
            f"lease {lease_id} is dedicated: it cannot be reclaimed",
            "it runs until its client closes it, its end time or its runway; pause the offer to take no new work",
        )
    if info.billing_end:
        raise ConfigError(
            f"lease {lease_id} already ends billing at {fmt_time(info.billing_end, client.chain.timestamp())}",
            "nothing to reclaim",
        )
    out = c.send(leases.plan_reclaim(c.address(), lease_id, info.notice_seconds), what="lease reclaimed")
    end = int(out.event("LeaseReclaimed").args["billingEnd"])
    c.emit(
        {"tx": out.summary(), "lease_id": lease_id, "billing_end": end},
        f"lease {lease_id} reclaimed: billing ends {fmt_time(end, client.chain.timestamp())}",
    )


@provider.group("availability", invoke_without_command=True)
@shared_options
@click.pass_context
def provider_availability(ctx: click.Context) -> None:
    """When this machine's GPUs are for rent and when the owner takes them back (the worker reads it
    from $GPUSETTLE_HOME/availability.toml); without a subcommand, shows it."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(availability_show)


def _availability_path(c: Ctx) -> Path:
    from ..settings import AvailabilitySettings

    return AvailabilitySettings.path(c.settings.home)


def _show_availability(c: Ctx, s: AvailabilitySettings, path: Path) -> None:
    def human() -> None:
        click.echo(f"availability ({path})")
        if not s.schedule:
            click.echo("  schedule     always for rent")
        for w in s.schedule:
            click.echo(f"  for rent     {w}")
        click.echo(f"  time zone    {s.timezone}")
        click.echo(
            f"  owner use    a GPU process this worker did not start, or utilisation above "
            f"{s.owner_util_percent:g}% for {s.owner_minutes:g} min"
        )
        click.echo(
            "  then         pause the offers"
            + (", reclaim reclaimable and interruptible leases" if s.reclaim else "")
        )
        click.echo(f"  resume after {s.idle_minutes:g} min idle")

    c.emit({"path": str(path), **s.model_dump(mode="json")}, human)


@provider_availability.command("show")
@shared_options
def availability_show() -> None:
    """Show the schedule and the owner-use rule."""
    from ..settings import load_availability

    c = get_ctx()
    path = _availability_path(c)
    _show_availability(c, load_availability(path), path)


def parse_window(text: str) -> str:
    """'mon-fri 18:00-08:00', 'sat,sun 00:00-24:00', 'weekdays 19:00-07:00', 'weekends 00:00-24:00' or
    'daily 22:00-06:00' -> the window as the settings file keeps it; ConfigError otherwise."""
    from ..settings import AvailabilityWindow

    hint = "write DAYS START-END, e.g. 'mon-fri 18:00-08:00', 'sat,sun 00:00-24:00' or 'daily 22:00-06:00'"
    words = text.strip().lower().split()
    if len(words) == 2:
        words[0] = words[0].replace("weekdays", "mon-fri").replace("weekends", "sat,sun")
    try:
        window = AvailabilityWindow.parse(" ".join(words))
    except ValueError as exc:
        raise ConfigError(f"--window {text!r}: {exc}", hint) from None
    if window.start == window.end:
        raise ConfigError(f"--window {text!r} starts and ends at the same time: it covers nothing", hint)
    return window.text()


@provider_availability.command("set")
@click.option(
    "--window",
    "windows",
    multiple=True,
    help="A weekly window when the GPUs are for rent: 'mon-fri 18:00-08:00' (repeatable; replaces the schedule).",
)
@click.option("--always", is_flag=True, help="For rent at all hours (clears the schedule).")
@click.option("--timezone", help="Time zone of the windows: an IANA name (Europe/Berlin, UTC) or local.")
@click.option(
    "--owner-util", type=click.FloatRange(0, 100), help="GPU utilisation (%) by others that is owner use."
)
@click.option("--owner-minutes", type=click.FloatRange(0), help="Minutes that utilisation must last.")
@click.option("--idle-minutes", type=click.FloatRange(0), help="Idle minutes before the offers resume.")
@click.option(
    "--reclaim/--no-reclaim",
    default=None,
    help="Whether the worker reclaims reclaimable and interruptible leases when the owner needs the GPUs.",
)
@shared_options
def availability_set(
    windows: tuple[str, ...],
    always: bool,
    timezone: str | None,
    owner_util: float | None,
    owner_minutes: float | None,
    idle_minutes: float | None,
    reclaim: bool | None,
) -> None:
    """Change the schedule and the owner-use rule (what is not given stays); the worker picks it up."""
    from pydantic import ValidationError

    from ..settings import AvailabilitySettings, load_availability, save_availability

    if windows and always:
        raise click.UsageError("give --window or --always, not both")
    c = get_ctx()
    path = _availability_path(c)
    current = load_availability(path)
    changes: dict[str, object] = {}
    if windows:
        changes["schedule"] = [parse_window(w) for w in windows]
    if always:
        changes["schedule"] = []
    for key, value in (
        ("timezone", timezone),
        ("owner_util_percent", owner_util),
        ("owner_minutes", owner_minutes),
        ("idle_minutes", idle_minutes),
        ("reclaim", reclaim),
    ):
        if value is not None:
            changes[key] = value
    if not changes:
        raise click.UsageError(
            "say what to change: --window, --always, --timezone, --owner-util, --owner-minutes, "
            "--idle-minutes or --[no-]reclaim"
        )
    try:
        updated = AvailabilitySettings.model_validate({**current.model_dump(), **changes})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(
            f"{'.'.join(map(str, first['loc']))}: {first['msg']}",
            "see `gpusettle provider availability set --help`",
        ) from None
    save_availability(path, updated)
    c.info(f"saved {path}; a running worker applies it at its next check")
    _show_availability(c, updated, path)
