"""`gpusettle provider release-collateral` and `gpusettle provider worker-budget`: collateral a provider's jobs
hold after settlement, and how much of it the worker key may commit alone."""

from __future__ import annotations

import click

from ..chain import DecodedContractError
from ..chain.gpurelease import MAX_BATCH
from ..chain.reserves import (
    MAX_UINT96,
    plan_release_collateral,
    plan_set_worker_budget,
    reserve_closes_at,
    reserves_held,
    worker_budget,
)
from ..errors import ConfigError
from ..models import JobStatus
from .context import Ctx, fmt_time, get_ctx, shared_options
from .release import provider_of_settled_jobs

__all__ = ["provider_release_collateral", "provider_worker_budget"]

_NOT_SETTLED = {
    JobStatus.DISPUTED: (
        "its dispute is open: the reserve stays for the ruling",
        "the arbiter's ruling releases what is left of it; nothing to do",
    ),
    JobStatus.DISPUTE_UPHELD: ("its dispute was ruled", "the ruling released its reserve already"),
    JobStatus.DISPUTE_REJECTED: ("its dispute was ruled", "the ruling released its reserve already"),
}
_NO_RESERVE = (
    "only a settled job keeps a dispute reserve",
    (
        "a running job's collateral stays locked until it ends; cancelled, declined and timed-out jobs "
        "released theirs when they ended"
    ),
)


def _check_named(c: Ctx, job_ids: list[int]) -> None:
    """ConfigError, before anything is sent, for a named job that has no reserve to release now."""
    client = c.client()
    sender = c.address()
    now = client.chain.timestamp()
    for job_id in job_ids:
        status = client.job(job_id).status
        if status != JobStatus.SETTLED:
            why, hint = _NOT_SETTLED.get(JobStatus(status), _NO_RESERVE)
            raise ConfigError(f"job {job_id} is {status}: {why}", hint)
        try:
            closes_at = reserve_closes_at(client, sender, job_id)
        except DecodedContractError as err:
            if err.name != "JobEscrowNothingToClaim":
                raise
            raise ConfigError(
                f"the dispute reserve of job {job_id} was released already",
                "nothing to do; `gpusettle provider release-collateral` with no ids finds the reserves still held",
            ) from None
        if closes_at:
            raise ConfigError(
                f"job {job_id} can still be disputed until {fmt_time(closes_at, now)}: its collateral stays "
                "reserved for a ruling until then",
                "run this again after the window closes; nothing was sent",
            )


@click.command("release-collateral")
@click.argument("job_ids", nargs=-1, type=click.IntRange(min=1))
@provider_of_settled_jobs
@shared_options
def provider_release_collateral(job_ids: tuple[int, ...], who: str | None) -> None:
    """Give settled jobs' dispute reserves back to free stake once their dispute windows closed
    (JobEscrow.releaseCollateral; anyone may call it; it gives back the jobs' GPUs too).

    A settled job's collateral stays locked until the client can no longer dispute it. With no JOB_IDS:
    every settled job of the provider whose window has closed."""
    c = get_ctx()
    client = c.client()
    sender = c.address()
    now = client.chain.timestamp()
    waiting: list[dict[str, int]] = []
    if job_ids:
        ready = sorted(set(job_ids))
        _check_named(c, ready)
        provider = None
    else:
        provider = c.resolve_address(who) if who else sender
        ready = []
        for job_id in reserves_held(client, provider):
            closes_at = reserve_closes_at(client, sender, job_id)
            if closes_at:
                waiting.append({"job_id": job_id, "closes_at": closes_at})
            else:
                ready.append(job_id)
        if not ready:
            later = (
                f"; {len(waiting)} job(s) still in their dispute window, the first closes "
                f"{fmt_time(min(w['closes_at'] for w in waiting), now)}"
                if waiting
                else ""
            )
            c.emit(
                {"released": [], "amount": 0, "provider": provider, "txs": [], "waiting": waiting},
                f"nothing to release now: no settled job of {provider} has a reserve past its dispute window{later}",
            )
            return
    plans = [
        plan_release_collateral(client, sender, ready[i : i + MAX_BATCH])
        for i in range(0, len(ready), MAX_BATCH)
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
        out = c.send(plan, what="collateral released", asked=True)
        txs.append(out.summary())
        for e in out.events:
            if e.name == "CollateralReleased":
                released.append(int(e.args["jobId"]))
                amount += int(e.args["amount"])
            elif e.name == "WithheldPayReleased":
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
        f"released {client.fmt(amount)} of dispute reserves to free stake from {len(released)} job(s): "
        f"{', '.join(map(str, sorted(released)))}"
        + (f"; {client.fmt(withheld)} of withheld pay to earnings" if withheld else "")
        + (f"; {len(waiting)} job(s) still in their dispute window" if waiting else ""),
    )


@click.command("worker-budget")
@click.option(
    "--set",
    "new_budget",
    metavar="AMOUNT",
    help="Set the daily budget to AMOUNT tokens (0: only the staking wallet may accept jobs).",
)
@click.option("--provider", "who", help="Show this provider's budget (default: the --account).")
@shared_options
def provider_worker_budget(new_budget: str | None, who: str | None) -> None:
    """Show (or --set) how much collateral per UTC day the worker key may commit by accepting jobs alone.

    Until set, the budget is 25% of bonded stake. It bounds what a stolen worker key can turn into
    timeout payouts; the staking wallet itself is not limited (see SECURITY.md)."""
    c = get_ctx()
    client = c.client()
    tx = None
    if new_budget is not None:
        if who is not None:
            raise click.UsageError("--set changes the --account's own budget; drop --provider")
        value = c.amount(new_budget)
        if value > MAX_UINT96:
            raise ConfigError(
                f"--set {new_budget} is more than the escrow can hold ({client.fmt(MAX_UINT96)})",
                "give a budget no larger than the stake it bounds",
            )
        sender = c.address()
        info = client.stake_info(sender)
        if info.bonded == 0 and info.unbonding == 0:
            raise ConfigError(
                f"{sender} has no stake: the budget belongs to a provider's staking wallet",
                "send it from the staking wallet (--account), not from the worker key",
            )
        tx = c.send(plan_set_worker_budget(client, sender, value), what="worker budget set").summary()
        provider = sender
    else:
        provider = c.resolve_address(who) if who else c.address()
    b = worker_budget(client, provider)
    now = client.chain.timestamp()
    data = {
        "provider": provider,
        "used": b.used,
        "budget": b.budget,
        "left": max(b.budget - b.used, 0),
        "resets_at": b.resets_at,
        "custom": b.custom,
        **({"tx": tx} if tx else {}),
    }
    c.emit(
        data,
        f"worker key of {provider}: {client.fmt(b.used)} of {client.fmt(b.budget)} committed today"
        f"{'' if b.custom else ' (default: 25% of bonded stake)'}; the day resets {fmt_time(b.resets_at, now)}",
    )
