"""Settled jobs' dispute reserves (`JobEscrow.releaseCollateral`) and the worker key's daily collateral budget
(`JobEscrow.setWorkerBudget` / `workerBudget`).

A settled job's collateral stays locked as its dispute reserve until its dispute window closes; then anyone may
give it back to the provider's free stake. The window is fixed per job when it is opened and the escrow does not
show it, so whether a reserve can be released now is asked of the escrow itself: a simulated call answers with
`JobEscrowReserveStillNeeded(jobId, closesAt, now)` while the window is open.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..models import JobStatus
from .client import Gpusettle
from .gpurelease import plan_job_batch
from .revert import DecodedContractError
from .tx import TxPlan

__all__ = [
    "MAX_UINT96",
    "WorkerBudget",
    "plan_release_collateral",
    "plan_set_worker_budget",
    "released_reserves",
    "reserve_closes_at",
    "reserves_held",
    "worker_budget",
]

MAX_UINT96 = 2**96 - 1
"""The largest budget the escrow stores (a uint96, like every stake amount)."""


@dataclass(frozen=True)
class WorkerBudget:
    """JobEscrow.workerBudget(provider): collateral the worker key committed today, the daily budget (25% of bonded
    stake until the provider sets its own) and when the day ends (UTC midnight)."""

    provider: str
    used: int
    budget: int
    resets_at: int
    custom: bool


def worker_budget(client: Gpusettle, provider: str) -> WorkerBudget:
    """`provider`'s worker budget; `custom` when it ever sent setWorkerBudget (a WorkerBudgetSet log)."""
    used, budget, resets_at = client._call(client.escrow, "workerBudget", provider)
    custom = bool(client.events("escrow", "WorkerBudgetSet", provider=provider))
    return WorkerBudget(provider, int(used), int(budget), int(resets_at), custom)


def plan_set_worker_budget(client: Gpusettle, sender: str, budget: int) -> TxPlan:
    """Plan escrow.setWorkerBudget(budget) from the staking wallet `sender`."""
    return client.chain.plan_call(
        f"let the worker key of {sender} commit at most {client.fmt(budget)} of collateral per day",
        sender,
        client.escrow,
        "setWorkerBudget",
        budget,
    )


def plan_release_collateral(client: Gpusettle, sender: str, job_ids: Sequence[int]) -> TxPlan:
    """Plan escrow.releaseCollateral(job_ids); DecodedContractError JobEscrowReserveStillNeeded when one job's window
    is open, JobEscrowNothingToClaim when every reserve was released already, JobEscrowWrongStatus for a job that is
    not Settled."""
    return plan_job_batch(
        client,
        sender,
        "releaseCollateral",
        "give the dispute reserves of settled job(s) {ids} back to their providers' free stake",
        job_ids,
    )


def reserve_closes_at(client: Gpusettle, sender: str, job_id: int) -> int:
    """0 when job `job_id`'s reserve can be released now, else when its dispute window closes (the escrow's own
    answer); other refusals (released already, not settled) as DecodedContractError."""
    try:
        plan_release_collateral(client, sender, [job_id])
    except DecodedContractError as err:
        if err.name != "JobEscrowReserveStillNeeded":
            raise
        return int(err.raw_args[1])
    return 0


def released_reserves(client: Gpusettle, provider: str | None = None) -> set[int]:
    """Ids of jobs (of `provider`, else of anyone) whose reserve went back already (CollateralReleased logs)."""
    filters = {"provider": provider} if provider else {}
    return {int(e.args["jobId"]) for e in client.events("escrow", "CollateralReleased", **filters)}


def reserves_held(client: Gpusettle, provider: str) -> list[int]:
    """Ids of `provider`'s settled jobs whose reserve is still locked, oldest first: its JobCreated logs less its
    CollateralReleased ones, kept when the job is Settled now (a disputed job's reserve waits for the ruling, which
    releases it)."""
    created = client.jobs_created(provider=provider)
    if not created:
        return []
    released = released_reserves(client, provider)
    return [
        e.job_id
        for e in created
        if e.job_id not in released and client.job(e.job_id).status == JobStatus.SETTLED
    ]
