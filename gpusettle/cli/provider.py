"""`gpusettle provider`: stake, unstake, withdraw, status, offers and the worker key."""

from __future__ import annotations

from dataclasses import asdict

import click

from ..chain.client import Gpusettle
from ..errors import ConfigError, InvalidPriceError
from ..units import MAX_OFFER_PRICE, format_price, format_units, parse_price
from .context import Ctx, fmt_time, get_ctx, require_tokens, shared_options

__all__ = ["provider"]


@click.group()
def provider() -> None:
    """Rent out GPUs: stake, worker key, offers, earnings (run from the staking wallet).

    Earnings (what jobs paid) and stake are withdrawn separately: `withdraw-earnings`, and
    `unstake` then `withdraw-stake`."""


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
    c.emit(
        {"tx": out.summary(), "bonded": info.bonded},
        f"staked {client.fmt(value)}; bonded now {client.fmt(info.bonded)}",
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
    """Withdraw EARNINGS: what settled jobs paid you (not your stake: see unstake / withdraw-stake)."""
    c = get_ctx()
    client = c.client()
    address = c.address()
    earned = client.provider_record(address).earnings
    if earned == 0:
        raise ConfigError(
            f"{address} has no earnings to withdraw",
            "earnings come from settled jobs; see `gpusettle provider status`",
        )
    out = c.send(client.plan_withdraw_earnings(address), what="earnings withdrawn")
    got = sum(int(e.args.get("amount", 0)) for e in out.events if e.name == "EarningsWithdrawn") or earned
    c.emit({"tx": out.summary(), "withdrawn": got}, f"withdrew {client.fmt(got)} of earnings")


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
    c = get_ctx()
    client = c.client()
    address = c.resolve_address(who) if who else c.address()
    info = client.stake_info(address)
    record = client.provider_record(address)
    min_stake, _ = client.staking_parameters()
    now = client.chain.timestamp()
    worker_eth = client.chain.balance(info.worker) if info.worker else None
    from ..worker.preflight import read_statuses

    statuses = read_statuses(c.settings.home, address)
    data = {
        "provider": address,
        "worker_eth": worker_eth,
        "workers_here": statuses,
        **{k: v for k, v in asdict(info).items() if k != "provider"},
        "free": info.free,
        "earnings": record.earnings,
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
        click.echo(f"free stake        {f(info.free)}")
        click.echo(f"jailed            {'yes' if info.jailed else 'no'}")
        click.echo(
            f"worker            {info.worker or '(none: set one with `gpusettle provider set-worker`)'}"
        )
        click.echo(f"open disputes     {info.open_disputes}")
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
            f"earnings          {f(record.earnings)}"
            + ("  (withdraw with `gpusettle provider withdraw-earnings`)" if record.earnings else "")
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
    base = parse_price(text, c.client().decimals)
    if base > MAX_OFFER_PRICE:
        raise InvalidPriceError(
            text,
            f"it is above the highest price an offer can carry ({MAX_OFFER_PRICE} base units per GPU-second)",
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
@shared_options
def offer_add(
    gpu_model: str | None,
    gpu_count: int | None,
    vram_gb: int | None,
    this_machine: bool,
    price: str,
    metadata_uri: str,
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
    client = c.client()
    base = _price(c, price)
    out = c.send(
        client.plan_add_offer(c.address(), gpu_model, gpu_count, vram_gb, base, metadata_uri),
        what="offer published",
    )
    offer_id = int(out.event("OfferAdded").args["offerId"])
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
@shared_options
def offer_update(
    offer_id: int, gpu_count: int | None, vram_gb: int | None, price: str | None, metadata_uri: str | None
) -> None:
    """Change OFFER_ID's terms; open jobs keep the price they locked."""
    c = get_ctx()
    client = c.client()
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
                f"#{o.offer_id:<4} {'active   ' if o.active else 'withdrawn'} {o.gpu_count} x {o.gpu_model} "
                f"({o.vram_gb} GB) at {format_units(o.price_per_gpu_second, client.decimals)} {client.symbol}/GPU-s"
                f"  provider {o.provider}  {o.metadata_uri}"
            )

    c.emit({"offers": [asdict(o) for o in offers]}, human)
