"""`gpusettle provider release-gpus`: give settled jobs' GPUs back to their offers.

Settlement leaves a job's GPUs reserved (the settle gas target); the worker releases its provider's as
they settle. This is the same call by hand, for a provider that runs no worker or wants it now.
"""

from __future__ import annotations

import click

from ..chain import DecodedContractError
from ..chain.gpurelease import MAX_BATCH, SETTLED_STATUSES, held_by_settled_jobs, plan_release_job_gpus
from ..errors import ConfigError
from .context import get_ctx, shared_options

__all__ = ["provider_of_settled_jobs", "provider_release_gpus"]

provider_of_settled_jobs = click.option(
    "--provider",
    "who",
    help="Whose settled jobs to look for when no JOB_IDS are given (default: the --account).",
)
"""The --provider option of the commands that act on a provider's settled jobs."""


@click.command("release-gpus")
@click.argument("job_ids", nargs=-1, type=click.IntRange(min=1))
@provider_of_settled_jobs
@shared_options
def provider_release_gpus(job_ids: tuple[int, ...], who: str | None) -> None:
    """Give settled jobs' GPUs back to their offers (JobEscrow.releaseJobGpus; anyone may call it).

    Settlement leaves a job's GPUs reserved so that settling stays cheap; until they are released the
    offer counts them as taken. With no JOB_IDS: every settled job of the provider still holding GPUs."""
    c = get_ctx()
    client = c.client()
    sender = c.address()
    if job_ids:
        ids = sorted(set(job_ids))
        for job_id in ids:
            job = client.job(job_id)
            if job.status not in SETTLED_STATUSES:
                raise ConfigError(
                    f"job {job_id} is {job.status}: only a settled job keeps its GPUs after it ends",
                    "a job that is still open or running releases them when it ends; cancelled, "
                    "timed-out and declined jobs released them already",
                )
        held = ids
    else:
        provider = c.resolve_address(who) if who else sender
        held = [job_id for job_id, _offer, _gpus in held_by_settled_jobs(client, provider)]
        if not held:
            c.emit(
                {"released": [], "provider": provider, "txs": []},
                f"nothing to release: no settled job of {provider} still holds GPUs",
            )
            return
    batches = [held[i : i + MAX_BATCH] for i in range(0, len(held), MAX_BATCH)]
    plans = []
    for batch in batches:
        try:
            plans.append(plan_release_job_gpus(client, sender, batch))
        except DecodedContractError as err:
            if err.name != "JobEscrowNothingToClaim":
                raise
            if job_ids:
                raise ConfigError(
                    f"the GPUs of job(s) {', '.join(map(str, batch))} were released already",
                    "nothing to do; `gpusettle provider release-gpus` with no ids finds the jobs that still hold GPUs",
                ) from None
    for plan in plans:
        c.info(plan.describe())
    if not c.confirm(f"Send {len(plans)} transaction(s)?"):
        raise click.Abort()
    released: list[int] = []
    txs = []
    for plan in plans:
        out = c.send(plan, what="GPUs released", asked=True)
        txs.append(out.summary())
        released += [int(e.args["jobId"]) for e in out.events if e.name == "JobGpusReleased"]
    c.emit(
        {"released": sorted(released), "txs": txs},
        f"released the GPUs of {len(released)} job(s): {', '.join(map(str, sorted(released)))}",
    )
