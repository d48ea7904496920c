"""Giving settled jobs' GPUs back to their offers (`JobEscrow.releaseJobGpus`).

Settlement leaves a job's GPUs reserved on its offer so that settling writes no storage slot beyond the
job's own (its gas target); every other way a job ends releases them at once. Until someone calls
`releaseJobGpus`, an offer whose GPUs all sit with settled jobs takes no new work. The worker does it for
its provider's jobs as they settle; `gpusettle provider release-gpus` does it by hand.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..models import JobStatus
from .client import Gpusettle
from .tx import TxPlan

__all__ = ["MAX_BATCH", "SETTLED_STATUSES", "held_by_settled_jobs", "plan_job_batch", "plan_release_job_gpus"]

MAX_BATCH = 50
"""Job ids per releaseJobGpus transaction: well inside a block's gas, small enough to retry cheaply."""

SETTLED_STATUSES = frozenset(
    {
        JobStatus.SETTLED,
        JobStatus.DISPUTED,
        JobStatus.DISPUTE_UPHELD,
        JobStatus.DISPUTE_REJECTED,
        JobStatus.DISPUTE_LAPSED,
    }
)
"""The statuses whose GPUs may still be reserved (JobEscrowBase._isSettled)."""


def plan_job_batch(
    client: Gpusettle, sender: str, fn: str, description: str, job_ids: Sequence[int]
) -> TxPlan:
    """Plan escrow.`fn`(job_ids), one of the calls that take a list of job ids; `description` says what it does,
    with `{ids}` where the ids go."""
    ids = list(job_ids)
    return client.chain.plan_call(
        description.format(ids=", ".join(map(str, ids))), sender, client.escrow, fn, ids
    )


def plan_release_job_gpus(client: Gpusettle, sender: str, job_ids: Sequence[int]) -> TxPlan:
    """Plan escrow.releaseJobGpus(job_ids); DecodedContractError JobEscrowNothingToClaim when every one
    of them was released already (or is not settled)."""
    return plan_job_batch(
        client,
        sender,
        "releaseJobGpus",
        "give the GPUs of settled job(s) {ids} back to their offers",
        job_ids,
    )


def held_by_settled_jobs(client: Gpusettle, provider: str) -> list[tuple[int, int, int]]:
    """(job id, offer id, GPUs) of `provider`'s settled jobs whose GPUs are still reserved, oldest first:
    its JobCreated logs less the JobGpusReleased ones, kept when the job is settled now (both read with the
    chunked log reader)."""
    created = client.jobs_created(provider=provider)
    if not created:
        return []
    released = {int(e.args["jobId"]) for e in client.events("escrow", "JobGpusReleased")}
    out = []
    for event in created:
        if event.job_id in released:
            continue
        job = client.job(event.job_id)
        if job.status in SETTLED_STATUSES:
            out.append((job.job_id, job.offer_id, job.gpu_count))
    return out
