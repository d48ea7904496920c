"""Giving the provider's settled jobs' GPUs back to their offers.

Settlement leaves a job's GPUs reserved (it keeps the settle gas flat); without `releaseJobGpus` an
offer fills up after its GPU count's worth of settled jobs and takes no new work. The provider is the
one who wants the capacity back, so its worker calls it, in batches, soon after it sees jobs settle.

Durable by construction: the jobs table's `settled` state is the to-do list and `gpu_releases` the done
list, so a restart (or a crash between the transaction and the record) loses nothing; a job released by
someone else (the CLI, releaseCollateral, a dispute ruling) is recorded as such, not reported as an
error. A failed transaction is retried with backoff.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from eth_account.signers.local import LocalAccount

from ..chain import DecodedContractError, Gpusettle
from ..chain.gpurelease import MAX_BATCH, plan_release_job_gpus
from .state import WorkerState
from .submit import backoff_delay

__all__ = ["GpuReleaser"]

log = logging.getLogger("gpusettle.worker")

NOTHING_TO_RELEASE = "JobEscrowNothingToClaim"


class GpuReleaser:
    """Sends releaseJobGpus for settled jobs without a gpu_releases row, MAX_BATCH ids a transaction."""

    def __init__(
        self,
        state: WorkerState,
        account: LocalAccount,
        *,
        confirmations: int = 1,
        batch: int = MAX_BATCH,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state = state
        self.account = account
        self.confirmations = confirmations
        self.batch = batch
        self.clock = clock
        self.attempts = 0
        self.next_at = 0.0

    def pending(self) -> list[int]:
        """Settled jobs whose GPUs this worker has not seen released, oldest first."""
        rows = self.state.execute(
            "SELECT job_id FROM jobs WHERE state = 'settled' "
            "AND job_id NOT IN (SELECT job_id FROM gpu_releases) ORDER BY job_id"
        )
        return [int(r[0]) for r in rows]

    def _record(self, job_ids: list[int], how: str, tx: str | None) -> None:
        now = self.clock()
        for job_id in job_ids:
            self.state.execute(
                "INSERT OR IGNORE INTO gpu_releases (job_id, how, tx, at) VALUES (?, ?, ?, ?)",
                (job_id, how, tx, now),
            )

    def release_due(self, client: Gpusettle) -> bool:
        """One batch, when any is due and the backoff allows; True when it moved something."""
        if self.clock() < self.next_at:
            return False
        ids = self.pending()[: self.batch]
        if not ids:
            return False
        try:
            plan = plan_release_job_gpus(client, self.account.address, ids)
            outcome = client.send(plan, self.account, confirmations=self.confirmations)
        except DecodedContractError as err:
            if err.name == NOTHING_TO_RELEASE:
                # Someone else gave them back already (the CLI, releaseCollateral, a ruling).
                self._record(ids, "already", None)
                log.info("jobs %s: GPUs were already released", ids)
                self.attempts = 0
                return True
            return self._later(ids, str(err))
        except Exception as exc:  # noqa: BLE001 - an RPC error, a dropped or underpriced tx: retry later
            return self._later(ids, f"{type(exc).__name__}: {exc}")
        mine = {int(e.args["jobId"]) for e in outcome.events if e.name == "JobGpusReleased"}
        self._record(sorted(mine), "released", outcome.tx_hash)
        self._record([j for j in ids if j not in mine], "already", None)
        self.attempts = 0
        self.next_at = 0.0
        log.info("released the GPUs of job(s) %s in tx %s", sorted(mine), outcome.tx_hash)
        return True

    def _later(self, ids: list[int], why: str) -> bool:
        delay = backoff_delay(self.attempts, base=2.0, cap=300.0)
        self.attempts += 1
        self.next_at = self.clock() + delay
        log.warning(
            "releasing the GPUs of job(s) %s failed (attempt %d: %s); retrying in %.0f s",
            ids,
            self.attempts,
            why,
            delay,
        )
        return False
