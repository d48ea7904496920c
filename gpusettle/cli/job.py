"""`gpusettle job`: open, inspect, list, cancel, time out, refund and dispute jobs."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click
from pydantic import ValidationError

from ..errors import ConfigError, InsufficientAllowanceError, InsufficientFundsError
from ..hashing import keccak256
from ..models import JobSpec
from ..units import format_units
from ..worker.specstore import open_spec_store
from .context import fmt_time, get_ctx, parse_duration_or_time, shared_options

__all__ = ["job"]


@click.group()
def job() -> None:
    """Jobs, from the client's side."""


def _load_spec(spec: str) -> JobSpec:
    path = Path(spec)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the job spec {path}: {exc.strerror}", "check the path") from None
    try:
        parsed = JobSpec.model_validate_json(text)
    except ValidationError as exc:
        raise ConfigError(f"the job spec {path} is not valid: {exc}", "fix the spec file") from None
    return parsed


def _spec_hash(spec: str | None, spec_hash: str | None) -> bytes:
    if spec and spec_hash:
        raise click.UsageError("give --spec or --spec-hash, not both")
    if spec:
        return bytes.fromhex(_load_spec(spec).spec_hash()[2:])
    if spec_hash:
        h = spec_hash.removeprefix("0x")
        if len(h) != 64:
            raise ConfigError(
                f"--spec-hash {spec_hash!r} is not 32 bytes", "give 0x followed by 64 hex digits"
            )
        try:
            return bytes.fromhex(h)
        except ValueError:
            raise ConfigError(
                f"--spec-hash {spec_hash!r} is not hex", "give 0x followed by 64 hex digits"
            ) from None
    raise click.UsageError("say what to run: --spec FILE (a JobSpec JSON) or --spec-hash 0x...")


@job.command("create")
@click.option("--offer", "offer_id", type=click.IntRange(1), required=True, help="Offer id.")
@click.option(
    "--gpu-seconds", type=click.IntRange(1, 2**32 - 1), required=True, help="Most GPU-seconds to pay for."
)
@click.option(
    "--deadline", default="24h", show_default=True, help="Settle-by time: 2h, 1d, unix seconds or ISO time."
)
@click.option("--spec", type=click.Path(dir_okay=False), help="Job spec JSON file; its hash goes on-chain.")
@click.option("--spec-hash", help="The spec's keccak256, if you hashed it yourself.")
@click.option(
    "--publish",
    metavar="URL_OR_DIR",
    help="Publish the --spec where the provider's worker fetches specs (the oracle's URL, or a directory).",
)
@click.option(
    "--permit", is_flag=True, help="Approve the deposit with an EIP-2612 permit in the same transaction."
)
@click.option("--no-approve", is_flag=True, help="Never send an approve: fail if the allowance is short.")
@shared_options
def job_create(
    offer_id: int,
    gpu_seconds: int,
    deadline: str,
    spec: str | None,
    spec_hash: str | None,
    publish: str | None,
    permit: bool,
    no_approve: bool,
) -> None:
    """Open a job on an offer; the deposit (GPU-seconds x price) goes into escrow."""
    c = get_ctx()
    client = c.client()
    h = _spec_hash(spec, spec_hash)
    if publish:
        if not spec:
            raise click.UsageError("--publish needs --spec: the spec file to publish")
        # Published before the job opens, so the worker finds it as soon as it sees JobCreated.
        open_spec_store(publish).publish(_load_spec(spec))
    now = client.chain.timestamp()
    when = parse_duration_or_time(deadline, now)
    offer = client.offer(offer_id)
    deposit = offer.price_per_gpu_second * gpu_seconds
    sender = c.address()
    have = client.token_balance(sender)
    if have < deposit:
        raise InsufficientFundsError(
            sender, format_units(deposit, client.decimals), format_units(have, client.decimals), client.symbol
        )
    if permit:
        plan = client.plan_create_job_with_permit(
            c.local_signer("a permit"),
            offer_id,
            gpu_seconds,
            when,
            h,
            gpu_count=offer.gpu_count,
            max_price=offer.price_per_gpu_second,
        )
    else:
        allowance = client.allowance(sender, client.escrow.address)
        if allowance < deposit:
            if no_approve:
                raise InsufficientAllowanceError(
                    sender,
                    f"the escrow {client.escrow.address}",
                    format_units(deposit, client.decimals),
                    format_units(allowance, client.decimals),
                    client.symbol,
                )
            c.info(f"the escrow may take {client.fmt(allowance)} of your tokens; approving the deposit first")
            c.send(
                client.plan_approve(
                    sender,
                    client.escrow.address,
                    deposit,
                    f"approve the escrow to take {client.fmt(deposit)}",
                ),
                what="approved",
            )
        # The limits are the offer as shown to the user: if it changes before the job lands, nothing is taken.
        plan = client.plan_create_job(
            sender,
            offer_id,
            gpu_seconds,
            when,
            h,
            gpu_count=offer.gpu_count,
            max_price=offer.price_per_gpu_second,
        )
    out = c.send(plan, what="job created")
    ev = out.event("JobCreated").args
    job_id = int(ev["jobId"])
    c.emit(
        {"tx": out.summary(), "job_id": job_id, "deposit": deposit, "collateral": int(ev["collateral"])},
        f"job {job_id} created: deposit {client.fmt(deposit)}, provider collateral {client.fmt(int(ev['collateral']))}, "
        f"provider must accept by {fmt_time(int(ev['acceptBy']), now)}",
    )


@job.command("status")
@click.argument("job_id", type=click.IntRange(1))
@shared_options
def job_status(job_id: int) -> None:
    """Show JOB_ID."""
    c = get_ctx()
    client = c.client()
    j = client.job(job_id)
    now = client.chain.timestamp()

    def human() -> None:
        f = client.fmt
        click.echo(f"job {j.job_id}: {j.status}")
        click.echo(f"  client      {j.client}")
        click.echo(f"  provider    {j.provider} (offer {j.offer_id}, {j.gpu_count} GPUs)")
        click.echo(
            f"  price       {f(j.price_per_gpu_second)} per GPU-second, up to {j.max_gpu_seconds:,} GPU-seconds"
        )
        click.echo(f"  deposit     {f(j.deposit)}; collateral {f(j.collateral)}")
        if j.status == "Open":
            click.echo(f"  accept by   {fmt_time(j.accept_by, now)}")
        if j.accepted_at:
            click.echo(f"  accepted    {fmt_time(j.accepted_at, now)}")
        if j.deadline:
            click.echo(f"  deadline    {fmt_time(j.deadline, now)}")
        if j.settled_at:
            click.echo(
                f"  settled     {fmt_time(j.settled_at, now)}, billed {j.billed_gpu_seconds:,} GPU-seconds"
            )
        if j.refundable:
            click.echo(f"  refundable  {f(j.refundable)} (gpusettle job claim-refund {j.job_id})")
        click.echo(f"  spec hash   {j.spec_hash}")

    c.emit(asdict(j), human)


@job.command("list")
@click.option("--mine", is_flag=True, help="Jobs opened by --account.")
@click.option("--provider", "who", help="Jobs on this provider (address or alias).")
@shared_options
def job_list(mine: bool, who: str | None) -> None:
    """List jobs from JobCreated events, with their current status."""
    c = get_ctx()
    client = c.client()
    if not mine and not who:
        raise click.UsageError("say which jobs: --mine, --provider ADDRESS, or both")
    events = client.jobs_created(
        client=c.address() if mine else None, provider=c.resolve_address(who) if who else None
    )
    rows = []
    for ev in events:
        j = client.job(ev.job_id)
        rows.append({**asdict(ev), "status": j.status, "deposit": j.deposit, "refundable": j.refundable})

    def human() -> None:
        if not rows:
            click.echo("no jobs")
        for r in rows:
            click.echo(
                f"#{r['job_id']:<5} {r['status']:<15} offer {r['offer_id']:<4} client {r['client']} "
                f"provider {r['provider']} deposit {client.fmt(r['deposit'])}"
            )

    c.emit({"jobs": rows}, human)


@job.command("cancel")
@click.argument("job_id", type=click.IntRange(1))
@shared_options
def job_cancel(job_id: int) -> None:
    """Cancel an open (not yet accepted) job for a full refund."""
    c = get_ctx()
    client = c.client()
    out = c.send(client.plan_cancel_job(c.address(), job_id), what="cancelled")
    refund = int(out.event("JobCancelled").args["refund"])
    c.emit(
        {"tx": out.summary(), "job_id": job_id, "refund": refund},
        f"job {job_id} cancelled, {client.fmt(refund)} refunded",
    )


@job.command("claim-timeout")
@click.argument("job_id", type=click.IntRange(1))
@shared_options
def job_claim_timeout(job_id: int) -> None:
    """After deadline + grace, refund a running job and slash part of the provider's collateral."""
    c = get_ctx()
    client = c.client()
    out = c.send(client.plan_claim_timeout(c.address(), job_id), what="timed out")
    ev = out.event("JobTimedOut").args
    c.emit(
        {"tx": out.summary(), "job_id": job_id, "refund": int(ev["refund"]), "slashed": int(ev["slashed"])},
        f"job {job_id} timed out: {client.fmt(int(ev['refund']))} refunded, {client.fmt(int(ev['slashed']))} slashed to the client",
    )


@job.command("claim-refund")
@click.argument("job_ids", type=click.IntRange(1), nargs=-1, required=True)
@shared_options
def job_claim_refund(job_ids: tuple[int, ...]) -> None:
    """Send the unused deposit of settled JOB_IDS back to their clients."""
    c = get_ctx()
    client = c.client()
    out = c.send(client.plan_claim_refunds(c.address(), list(job_ids)), what="refunds claimed")
    total = sum(int(e.args["amount"]) for e in out.events if e.name == "RefundClaimed")
    c.emit({"tx": out.summary(), "refunded": total}, f"refunded {client.fmt(total)}")


@job.command("dispute")
@click.argument("job_id", type=click.IntRange(1))
@click.option("--reason", required=True, help="Why; its keccak256 goes on-chain (keep the text as evidence).")
@shared_options
def job_dispute(job_id: int, reason: str) -> None:
    """Dispute a settled job within the dispute window, posting the dispute bond."""
    c = get_ctx()
    client = c.client()
    bond = client.parameters().dispute_bond
    sender = c.address()
    if bond:
        have = client.token_balance(sender)
        if have < bond:
            raise InsufficientFundsError(
                sender,
                format_units(bond, client.decimals),
                format_units(have, client.decimals),
                f"{client.symbol} (for the dispute bond)",
            )
        if client.allowance(sender, client.escrow.address) < bond:
            c.send(
                client.plan_approve(
                    sender, client.escrow.address, bond, f"approve the dispute bond {client.fmt(bond)}"
                ),
                what="approved",
            )
    reason_hash = keccak256(reason.encode("utf-8"))
    out = c.send(client.plan_dispute(sender, job_id, reason_hash), what="disputed")
    c.emit(
        {
            "tx": out.summary(),
            "job_id": job_id,
            "reason_hash": "0x" + reason_hash.hex(),
            "reason": json.dumps(reason),
        },
        f"job {job_id} disputed (bond {client.fmt(bond)}); the arbiter will rule",
    )
