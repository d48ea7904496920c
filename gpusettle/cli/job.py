"""`gpusettle job`: open, inspect, list, cancel, time out, refund and dispute jobs."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import click
from eth_utils.address import to_checksum_address

from ..chain.client import Gpusettle
from ..errors import ConfigError, GpusettleError, InsufficientAllowanceError, InsufficientFundsError
from ..hashing import keccak256
from ..models import JobSpec
from ..units import format_units
from .context import Ctx, _setter, fmt_time, get_ctx, parse_duration_or_time, shared_options, shown
from .jobspec import is_sealed, open_results, parse_spec_text
from .jobspec import spec as spec_group

__all__ = ["OfferCapacityError", "job"]

MAX_JOB_GPUS = 255
"""createJob's gpuCount is a uint8."""


class OfferCapacityError(GpusettleError):
    """The offer has fewer free GPUs than the job asks for (checked before anything is sent)."""


@click.group()
def job() -> None:
    """Rent GPUs: open a job on an offer, publish its spec, watch it, fetch the result, claim the refund."""


_SPEC_CACHE: dict[str, JobSpec] = {}


def _load_spec(spec: str) -> JobSpec:
    """The JobSpec in file `spec` ("-": standard input, read once): JobSpec JSON, or the readable YAML
    spec (its local inputs go to the oracle's blob store, where the worker fetches them)."""
    if spec in _SPEC_CACHE:
        return _SPEC_CACHE[spec]
    path = Path(spec)
    try:
        text = sys.stdin.read() if spec == "-" else path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the job spec {path}: {exc.strerror}", "check the path") from None
    params = click.get_current_context().params
    blob_store = None if params.get("no_publish") else (params.get("publish") or get_ctx().oracle())
    parsed = parse_spec_text(
        text, path, base_dir=Path.cwd() if spec == "-" else path.parent, blob_store=blob_store
    )
    _SPEC_CACHE[spec] = parsed
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


@dataclass(frozen=True)
class JobTerms:
    """What `job create` shows before it sends: the limits the client agrees to.

    `gpu_count` is what the job reserves of the offer (--gpus, else the whole offer) and goes to createJob
    as its gpuCount; `price_per_gpu_second` is the offer's price as shown, passed on as the client's limit."""

    offer_id: int
    provider: str
    gpu_model: str
    gpu_count: int
    price_per_gpu_second: int
    max_gpu_seconds: int
    deadline: int

    @property
    def deposit(self) -> int:
        """GPU-seconds x price: what goes into escrow."""
        return self.price_per_gpu_second * self.max_gpu_seconds


def _check_gpus(gpus: int | None) -> None:
    """--gpus is 1 to 255 when given (ConfigError before anything is read or sent)."""
    if gpus is not None and not 1 <= gpus <= MAX_JOB_GPUS:
        raise ConfigError(
            f"--gpus {gpus}: a job reserves 1 to {MAX_JOB_GPUS} of the offer's GPUs",
            "give --gpus N with N at least 1, or leave --gpus out to take the whole offer",
        )


def _terms(c: Ctx, offer_id: int, gpu_seconds: int, deadline: int, gpus: int | None = None) -> JobTerms:
    client = c.client()
    offer = client.offer(offer_id)
    if not offer.active:
        raise ConfigError(
            f"offer {offer_id} was withdrawn by its provider", "pick an active one: `gpusettle offer list`"
        )
    want = offer.gpu_count if gpus is None else gpus
    free = client.free_gpus(offer_id)
    if want > free:
        search = f"`gpusettle market offers --free {want}`"
        raise OfferCapacityError(
            f"offer {offer_id} has {free} of {offer.gpu_count} GPUs free; the job asks for {want}",
            f"ask for fewer with --gpus {free} (or less), or pick another offer: {search}"
            if free
            else f"wait until its jobs and leases end, or pick another offer: {search}",
        )
    terms = JobTerms(
        offer_id,
        offer.provider,
        offer.gpu_model,
        want,
        offer.price_per_gpu_second,
        gpu_seconds,
        deadline,
    )
    c.info(
        f"job on offer {offer_id}: {terms.gpu_count} of {offer.gpu_count} x {shown(terms.gpu_model)} from {terms.provider}\n"
        f"  price       {client.fmt(terms.price_per_gpu_second)} per GPU-second, {terms.gpu_count} GPU(s)\n"
        f"  up to       {gpu_seconds:,} GPU-seconds ({gpu_seconds / terms.gpu_count / 3600:.2f} h of wall time)\n"
        f"  deposit     {client.fmt(terms.deposit)} (the unused part is refunded after settlement)\n"
        f"  deadline    {fmt_time(deadline, client.chain.timestamp())}"
    )
    return terms


def _refuse_before_sending(client: Gpusettle, sender: str, terms: JobTerms, now: int) -> None:
    """What the escrow would refuse anyway, refused before an approve or a spec upload is sent: a provider as its
    own client (staking wallet or worker key), a jailed provider, and a deadline too close for the minimum run
    time."""
    info = client.stake_info(terms.provider)
    worker = info.worker
    if info.jailed:
        raise ConfigError(
            f"provider {terms.provider}, which offers offer {terms.offer_id}, is jailed (it lost a dispute or a fraud "
            "report): it cannot accept new work until governance releases it",
            "pick another provider's offer (`gpusettle offer list`, or `gpusettle job create --match`)",
        )
    if to_checksum_address(sender) in {to_checksum_address(terms.provider), *([worker] if worker else [])}:
        role = (
            "staking wallet"
            if to_checksum_address(sender) == to_checksum_address(terms.provider)
            else "worker key"
        )
        raise ConfigError(
            f"{sender} is the {role} of provider {terms.provider}, which offers offer {terms.offer_id}: a provider "
            "cannot open work on its own offers",
            "open the job from a client account (--account), not from the provider's staking wallet or worker key",
        )
    min_run = client.min_run_time()
    earliest = now + min_run
    if terms.deadline < earliest:
        raise ConfigError(
            f"the deadline {fmt_time(terms.deadline, now)} leaves less than the minimum run time "
            f"({min_run:,} s) after now",
            f"give a --deadline at or after {fmt_time(earliest, now)} (e.g. --deadline {max(min_run // 3600 + 1, 2)}h)",
        )


def _publish(c: Ctx, spec: JobSpec, where: str) -> str:
    """Put `spec` where workers fetch specs; returns a sentence saying where it went."""
    import httpx

    from ..worker.specstore import SpecUnavailable, open_spec_store

    try:
        open_spec_store(where).publish(spec)
    except (OSError, ValueError, SpecUnavailable, httpx.HTTPError) as exc:
        raise ConfigError(
            f"cannot publish the spec to {where}: {exc}",
            "check that the oracle runs (or pass --publish DIR), or create the job with --no-publish "
            "and publish it later with `gpusettle job publish JOB_ID --spec FILE`",
        ) from None
    return f"spec {spec.spec_hash()} published to {where}"


@job.command("create")
@click.option("--offer", "offer_id", type=click.IntRange(1), help="Offer id (or --match).")
@click.option(
    "--match",
    metavar="FILTERS",
    help="Pick the cheapest offer that fits, e.g. 'gpu=H100,gpus=4,min-vram=80,max-price=3.5/h,min-completed=1' "
    "(max-price with its unit: 3.5/h per GPU-hour or 0.001/s per GPU-second); tries the next match if another "
    "client takes it first.",
)
@click.option("--index", help="Index for --match: database path, postgresql:// URL or explorer URL.")
@click.option(
    "--gpus",
    type=int,
    metavar="N",
    help="GPUs the job reserves of the offer, 1 to its free count (default: the whole offer); "
    "with --match, only offers with at least N free.",
)
@click.option(
    "--gpu-seconds", type=click.IntRange(1, 2**32 - 1), required=True, help="Most GPU-seconds to pay for."
)
@click.option(
    "--deadline", default="24h", show_default=True, help="Settle-by time: 2h, 1d, unix seconds or ISO time."
)
@click.option(
    "--spec",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Job spec JSON file (- reads it from standard input); its hash goes on-chain.",
)
@click.option("--spec-hash", help="The spec's keccak256, if you hashed it yourself (publish it yourself).")
@click.option(
    "--publish",
    metavar="URL_OR_DIR",
    help="Where to publish the --spec for the worker (default: the oracle, --oracle-url).",
)
@click.option(
    "--no-publish", is_flag=True, help="Do not publish the --spec now (then `gpusettle job publish`)."
)
@click.option(
    "--permit", is_flag=True, help="Approve the deposit with an EIP-2612 permit in the same transaction."
)
@click.option("--no-approve", is_flag=True, help="Never send an approve: fail if the allowance is short.")
@click.option("--max-price-base", type=click.IntRange(0), hidden=True, help="--match's max-price, base units.")
@shared_options
def job_create(
    offer_id: int | None,
    match: str | None,
    index: str | None,
    gpus: int | None,
    gpu_seconds: int,
    deadline: str,
    spec: str | None,
    spec_hash: str | None,
    publish: str | None,
    no_publish: bool,
    permit: bool,
    no_approve: bool,
    max_price_base: int | None = None,
) -> None:
    """Open a job on an offer; the deposit (GPU-seconds x price) goes into escrow.

    With --spec the spec is published first where the provider's worker fetches it (the oracle),
    so the worker can run the job as soon as it sees it."""
    _check_gpus(gpus)
    if match is not None:
        if offer_id is not None:
            raise click.UsageError("give --offer or --match, not both")
        from .market import create_matched

        ctx = click.get_current_context()
        params = {**ctx.params, "match": None, "index": None}
        create_matched(
            match,
            index,
            lambda oid, limit: ctx.invoke(job_create, **{**params, "offer_id": oid, "max_price_base": limit}),
            gpus=gpus,
        )
        return
    if offer_id is None:
        raise click.UsageError("say which offer: --offer ID, or --match FILTERS for the cheapest that fits")
    c = get_ctx()
    client = c.client()
    h = _spec_hash(spec, spec_hash)
    if publish and not spec:
        raise click.UsageError("--publish needs --spec: the spec file to publish")
    if publish and no_publish:
        raise click.UsageError("give --publish or --no-publish, not both")
    now = client.chain.timestamp()
    terms = _terms(c, offer_id, gpu_seconds, parse_duration_or_time(deadline, now), gpus)
    if max_price_base is not None and terms.price_per_gpu_second > max_price_base:
        # Read again since the match: the provider raised the price past the match's max-price.
        raise OfferCapacityError(
            f"offer {offer_id} now asks {client.fmt(terms.price_per_gpu_second)} per GPU-second, above the "
            f"max-price {client.fmt(max_price_base)}",
            "nothing was sent; pick another offer or raise max-price",
        )
    deposit = terms.deposit
    sender = c.address()
    _refuse_before_sending(client, sender, terms, now)
    have = client.token_balance(sender)
    if have < deposit:
        raise InsufficientFundsError(
            sender, format_units(deposit, client.decimals), format_units(have, client.decimals), client.symbol
        )
    where: str
    if spec and not no_publish:
        # Published before the job opens, so the worker finds it as soon as it sees JobCreated.
        where = _publish(c, _load_spec(spec), publish or c.oracle())
    elif spec:
        where = (
            f"spec NOT published (--no-publish): the worker waits for it; publish it with "
            f"`gpusettle job publish JOB_ID --spec {spec}` before the acceptance deadline"
        )
    else:
        where = "spec hash only: publish the spec yourself where the provider's worker fetches specs"
    if permit:
        plan = client.plan_create_job_with_permit(
            c.local_signer("a permit"),
            offer_id,
            gpu_seconds,
            terms.deadline,
            h,
            gpu_count=terms.gpu_count,
            max_price=terms.price_per_gpu_second,
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
            terms.deadline,
            h,
            gpu_count=terms.gpu_count,
            max_price=terms.price_per_gpu_second,
        )
    out = c.send(plan, what="job created")
    ev = out.event("JobCreated").args
    job_id = int(ev["jobId"])
    c.emit(
        {
            "tx": out.summary(),
            "job_id": job_id,
            "deposit": deposit,
            "collateral": int(ev["collateral"]),
            "price_per_gpu_second": terms.price_per_gpu_second,
            "gpu_count": terms.gpu_count,
            "spec": where,
        },
        f"job {job_id} created: deposit {client.fmt(deposit)}, provider collateral {client.fmt(int(ev['collateral']))}, "
        f"provider must accept by {fmt_time(int(ev['acceptBy']), now)}\n{where.replace('JOB_ID', str(job_id))}",
    )


@job.command("publish")
@click.argument("job_id", type=click.IntRange(1))
@click.option("--spec", type=click.Path(dir_okay=False), required=True, help="The job's spec JSON file.")
@click.option(
    "--to",
    "where",
    metavar="URL_OR_DIR",
    help="Where workers fetch specs (default: the oracle, --oracle-url).",
)
@shared_options
def job_publish(job_id: int, spec: str, where: str | None) -> None:
    """Publish JOB_ID's spec where the provider's worker fetches it (it must hash to the job's specHash)."""
    c = get_ctx()
    client = c.client()
    parsed = _load_spec(spec)
    on_chain = client.job(job_id).spec_hash
    if parsed.spec_hash().lower() != str(on_chain).lower():
        raise ConfigError(
            f"{spec} hashes to {parsed.spec_hash()}, but job {job_id} was opened for {on_chain}",
            "publish the exact spec file the job was created with",
        )
    said = _publish(c, parsed, where or c.oracle())
    c.emit({"job_id": job_id, "spec_hash": parsed.spec_hash(), "published": where or c.oracle()}, said)


def _latest_job(c: Ctx) -> int:
    """The newest job --account opened."""
    events = c.client().jobs_created(client=c.address())
    if not events:
        raise ConfigError(
            f"{c.address()} has opened no job", "give a JOB_ID, or open one with `gpusettle job create`"
        )
    return max(e.job_id for e in events)


WAITING_STATES = ("Open", "Running")
"""Job states that change without the client doing anything."""


@job.command("status")
@click.argument("job_id", type=click.IntRange(1), required=False)
@click.option("--wait", is_flag=True, help="Wait until the job is no longer Open or Running.")
@click.option(
    "--timeout", type=click.FloatRange(1), default=900, show_default=True, help="Most seconds to --wait."
)
@shared_options
def job_status(job_id: int | None, wait: bool, timeout: float) -> None:
    """Show JOB_ID (default: the newest job --account opened)."""
    import time

    c = get_ctx()
    client = c.client()
    if job_id is None:
        job_id = _latest_job(c)
    j = client.job(job_id)
    if wait:
        deadline = time.monotonic() + timeout
        shown = ""
        while j.status in WAITING_STATES:
            if j.status != shown:
                c.info(f"job {job_id}: {j.status}; waiting")
                shown = j.status
            if time.monotonic() > deadline:
                raise ConfigError(
                    f"job {job_id} is still {j.status} after {timeout:.0f} s",
                    "check the provider's worker (`gpusettle provider status`), or wait longer (--timeout)",
                )
            time.sleep(1.0)
            j = client.job(job_id)
    now = client.chain.timestamp()

    def human() -> None:
        f = client.fmt
        click.echo(f"job {j.job_id}: {j.status}")
        click.echo(f"  client      {j.client}")
        click.echo(
            f"  provider    {j.provider} (offer {j.offer_id}, {j.gpu_count} GPU{'s' if j.gpu_count != 1 else ''})"
        )
        # The escrow shrinks maxGpuSeconds to what was billed once the refund is claimed; the deposit keeps the
        # maximum the job was opened with.
        opened_max = j.deposit // j.price_per_gpu_second if j.price_per_gpu_second else j.max_gpu_seconds
        click.echo(
            f"  price       {f(j.price_per_gpu_second)} per GPU-second, up to {opened_max:,} GPU-seconds"
        )
        click.echo(f"  deposit     {f(j.deposit)}; collateral {f(j.collateral)}")
        if j.status == "Open":
            click.echo(f"  accept by   {fmt_time(j.accept_by, now)}")
        if j.accepted_at:
            click.echo(f"  accepted    {fmt_time(j.accepted_at, now)}")
        if j.deadline and j.status == "Disputed":
            click.echo(
                f"  ruling by   {fmt_time(j.deadline, now)} (then: gpusettle job lapse-dispute {j.job_id})"
            )
        elif j.deadline:
            click.echo(f"  deadline    {fmt_time(j.deadline, now)}")
        if j.settled_at:
            click.echo(
                f"  settled     {fmt_time(j.settled_at, now)}, billed {j.billed_gpu_seconds:,} GPU-seconds"
            )
        if j.refundable:
            click.echo(f"  refundable  {f(j.refundable)} (gpusettle job claim-refund {j.job_id})")
        if withheld:
            click.echo(
                f"  withheld    {f(withheld)} of the provider's pay, until the dispute window closes "
                f"(the stake could not back a ruling; then: gpusettle provider release-collateral {j.job_id})"
            )
        if debt:
            click.echo(
                f"  fraud debt  {f(debt)} of the fraud slash the provider's stake could not cover yet, owed to "
                f"the client (gpusettle job collect-fraud-debt {j.job_id})"
            )
        click.echo(f"  spec hash   {j.spec_hash}")

    withheld = client.withheld_pay(job_id) if j.settled_at else 0
    debt = client.fraud_debt(job_id) if j.status == "Fraud" else 0
    c.emit({**asdict(j), "withheld_pay": withheld, "fraud_debt": debt}, human)


@job.command("list")
@click.option("--mine", is_flag=True, help="Jobs opened by --account (the default without --provider).")
@click.option("--provider", "who", help="Jobs on this provider (address or alias).")
@shared_options
def job_list(mine: bool, who: str | None) -> None:
    """List jobs from JobCreated events, with their current status: by default those --account opened."""
    c = get_ctx()
    client = c.client()
    if not who:
        mine = True
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
@click.argument("job_ids", type=click.IntRange(1), nargs=-1)
@shared_options
def job_claim_refund(job_ids: tuple[int, ...]) -> None:
    """Send the unused deposit of settled JOB_IDS back to their clients (default: every job of
    --account with something to refund)."""
    c = get_ctx()
    client = c.client()
    ids = list(job_ids)
    if not ids:
        ids = [e.job_id for e in client.jobs_created(client=c.address()) if client.job(e.job_id).refundable]
        if not ids:
            raise ConfigError(
                f"no job of {c.address()} has a refund to claim",
                "refunds exist once a job settled for less than its deposit (`gpusettle job list`)",
            )
    out = c.send(client.plan_claim_refunds(c.address(), ids), what="refunds claimed")
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
    sender = c.address()
    # Everything the escrow would refuse is checked before the bond's approval is sent (an approval for a dispute
    # that cannot happen costs gas and leaves an allowance behind).
    j = client.job(job_id)
    if j.status != "Settled":
        raise ConfigError(
            f"job {job_id} is {j.status}: only a settled job can be disputed",
            f"see `gpusettle job status {job_id}`",
        )
    if j.client.lower() != sender.lower():
        raise ConfigError(
            f"job {job_id} belongs to {j.client}, not {sender}",
            "only the client that opened a job may dispute it",
        )
    now = client.chain.timestamp()
    params = client.parameters()
    closes = j.settled_at + params.dispute_window
    if now > closes:
        raise ConfigError(
            f"the dispute window of job {job_id} closed {fmt_time(closes, now)}",
            "a job can be disputed only within the dispute window after it settled",
        )
    bond = params.dispute_bond
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
        f"job {job_id} disputed (bond {client.fmt(bond)}); the arbiter rules by "
        f"{fmt_time(now + params.ruling_period, now)}, after that `gpusettle job lapse-dispute {job_id}` returns "
        "the bond",
    )


@job.command("lapse-dispute")
@click.argument("job_id", type=click.IntRange(1))
@shared_options
def job_lapse_dispute(job_id: int) -> None:
    """Close a dispute the arbiter did not rule on by its ruling deadline: the client's bond goes back to it,
    nothing is slashed, and the provider's frozen stake is released. Anyone may send it."""
    c = get_ctx()
    client = c.client()
    j = client.job(job_id)
    if j.status != "Disputed":
        raise ConfigError(
            f"job {job_id} is {j.status}, not Disputed: there is no open dispute to lapse",
            f"see `gpusettle job status {job_id}`",
        )
    now = client.chain.timestamp()
    if now <= j.deadline:
        raise ConfigError(
            f"the arbiter may still rule on job {job_id} until {fmt_time(j.deadline, now)} (unix {j.deadline})",
            f"run `gpusettle job lapse-dispute {job_id}` after that; until then, wait for the ruling",
        )
    out = c.send(client.plan_lapse_dispute(c.address(), job_id), what="lapsed")
    ev = out.event("DisputeLapsed").args
    bond = int(ev["bond"])
    c.emit(
        {"tx": out.summary(), "job_id": job_id, "bond_returned": bond, "client": str(ev["client"])},
        f"job {job_id}'s dispute lapsed without a ruling: bond {client.fmt(bond)} returned to {ev['client']}",
    )


@job.command("collect-fraud-debt")
@click.argument("job_id", type=click.IntRange(1))
@shared_options
def job_collect_fraud_debt(job_id: int) -> None:
    """Collect what a fraud report could not slash when it landed (the provider's stake was locked for other work,
    or owed for earlier fraud). As much as the provider's stake now allows is paid to its defrauded clients, oldest
    debt first, so this job's client may have to wait for earlier ones. Anyone may send it."""
    c = get_ctx()
    client = c.client()
    j = client.job(job_id)
    debt = client.fraud_debt(job_id) if j.status == "Fraud" else 0
    if debt == 0:
        raise ConfigError(
            f"job {job_id} is owed no fraud debt ({j.status}"
            + (
                ": its fraud report's slash was paid in full, or the debt was collected)"
                if j.status == "Fraud"
                else ")"
            ),
            f"see `gpusettle job status {job_id}`",
        )
    info = client.stake_info(j.provider)
    owed = info.fraud_debt
    locked = info.locked_collateral + info.lease_locked_collateral
    if info.bonded <= locked and info.unbonding == 0:
        f = client.fmt
        if info.bonded == 0:
            why = f"provider {j.provider} has no stake left"
            what = "collect again after it stakes more (a jailed provider is released by governance)"
        else:
            why = (
                f"all of provider {j.provider}'s stake ({f(info.bonded)}) is locked for its clients' work: "
                f"{f(info.locked_collateral)} by jobs (open, running, or settled within their dispute windows), "
                f"{f(info.lease_locked_collateral)} by leases"
            )
            what = "collect again once that work ends (or the provider stakes more)"
        raise ConfigError(f"nothing of the {f(owed)} fraud debt can be collected now: {why}", what)
    out = c.send(client.plan_collect_fraud_debt(c.address(), j.provider, owed), what="collected")
    paid = [(int(e.args["jobId"]), int(e.args["amount"]), int(e.args["remaining"])) for e in out.events
            if e.name == "FraudDebtCollected"]  # fmt: skip
    mine = sum(a for jid, a, _ in paid if jid == job_id)
    left = client.fraud_debt(job_id)
    total = sum(a for _, a, _ in paid)
    c.emit(
        {
            "tx": out.summary(),
            "job_id": job_id,
            "provider": j.provider,
            "collected": total,
            "paid": [{"job_id": jid, "amount": a, "still_owed": r} for jid, a, r in paid],
            "this_job_collected": mine,
            "this_job_still_owed": left,
        },
        f"collected {client.fmt(total)} of provider {j.provider}'s fraud debts; job {job_id}'s client got "
        f"{client.fmt(mine)}"
        + (
            f", {client.fmt(left)} still owed (collect again once the provider has free stake)"
            if left
            else ", nothing more owed"
        ),
    )


@job.command("results")
@click.argument("job_id", type=click.IntRange(1), required=False)
@click.option(
    "--out",
    "out_path",
    type=click.Path(),
    help="Write the result here (a sealed result is decrypted and unpacked into this directory; "
    "default results-JOB_ID).",
)
@click.option(
    "--oracle",
    type=str,
    expose_value=False,
    hidden=True,
    callback=_setter("oracle_url"),
    help="The old name of --oracle-url.",
)
@shared_options
def job_results(job_id: int | None, out_path: str | None) -> None:
    """Fetch a settled job's result from the oracle, checked against the resultHash settled on-chain
    (default: the newest job --account opened). A result sealed to your encryption key (a sandboxed
    command's outputs) is decrypted and unpacked; a public one (matmul) is written as it is."""
    import httpx

    c = get_ctx()
    client = c.client()
    if job_id is None:
        job_id = _latest_job(c)
    j = client.job(job_id)
    if not j.settled_at:
        raise ConfigError(
            f"job {job_id} is {j.status}: it has no settled result yet",
            f"wait until `gpusettle job status {job_id}` says Settled",
        )
    result_hash = _settled_result_hash(client, job_id)
    url = f"{c.oracle()}/v1/results/{result_hash}"
    try:
        response = httpx.get(url, timeout=30)
    except httpx.HTTPError as exc:
        raise ConfigError(f"cannot reach the oracle at {url}: {exc}", "check --oracle-url") from None
    if response.status_code != 200:
        try:
            refusal = response.json()
        except ValueError:
            refusal = None
        if not (isinstance(refusal, dict) and refusal.get("error") == "unknown_result"):
            # Some other server (the chain's node, the explorer): the URL is wrong, not the job.
            raise ConfigError(
                f"{c.oracle()} is not an oracle (HTTP {response.status_code} at /v1/results/...)",
                "check --oracle-url: the oracle's URL (http://127.0.0.1:8700 under `gpusettle dev up`)",
            )
        raise ConfigError(
            f"the oracle has no result {result_hash} for job {job_id} (HTTP {response.status_code})",
            "a failed job has no result payload; else ask the provider",
        )
    body = response.content
    if "0x" + keccak256(body).hex() != result_hash:
        raise ConfigError(f"the payload from {url} does not hash to {result_hash}", "do not trust it")
    if is_sealed(body):
        open_results(c, job_id, result_hash, body, Path(out_path or f"results-{job_id}"))
        return
    if out_path:
        Path(out_path).write_bytes(body)
    c.emit(
        {"job_id": job_id, "result_hash": result_hash, "size": len(body), "out": out_path},
        f"result of job {job_id}: {len(body):,} bytes, hash {result_hash} matches the chain"
        + (f"; written to {out_path}" if out_path else ""),
    )


def _settled_result_hash(client: Gpusettle, job_id: int) -> str:
    """The resultHash of the receipt that settled `job_id`, read from the settling transaction."""
    from ..chain.logs import reader_for

    # The one chunked log reader: a single range from the deploy block is refused by hosted RPCs.
    latest = client.chain.block_number()
    logs = client.chain.rpc(
        lambda: reader_for(client.chain.w3).events(
            client.escrow.events.JobSettled, client.record.deploy_block, latest, {"jobId": job_id}
        )
    )
    if not logs:
        raise ConfigError(f"no JobSettled event for job {job_id}", "wait for the settlement")
    tx = client.chain.rpc(lambda: client.chain.w3.eth.get_transaction(logs[-1]["transactionHash"]))
    _, args = client.escrow.decode_function_input(tx["input"])
    receipts = args.get("receipts") or [args["receipt"]]
    for r in receipts:
        r = dict(r) if not isinstance(r, (tuple, list)) else dict(zip(_RECEIPT_FIELDS, r, strict=False))
        if int(r["jobId"]) == job_id:
            return "0x" + bytes(r["resultHash"]).hex()
    raise ConfigError(f"the settling transaction has no receipt for job {job_id}", "report this")


_RECEIPT_FIELDS = ("jobId", "provider", "gpuSeconds", "startTime", "endTime", "resultHash", "outcome")


job.add_command(spec_group)
