"""The worker daemon: three threads sharing the durable job table.

- watcher: follows JobCreated events for this provider, fetches each job's spec, checks it against
  the on-chain specHash, and accepts (or declines) before the acceptance deadline;
- runner: runs accepted jobs one at a time, meters GPU-seconds (wall time x GPUs), records NVML
  evidence, signs the EIP-712 receipt with the worker key, and stores it before anything is sent;
- submitter: uploads result payloads and submits receipts to the oracle, retrying with backoff until
  acknowledged, then follows them to settlement.

A job is marked `running` (with its start time) before it starts, so a crash mid-run is found on the
next start and reported with a FailedProvider receipt instead of being run again.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount

from ..atomicfile import write_atomic
from ..chain import DecodedContractError, Gpusettle
from ..chain.logs import reader_for
from ..eip712 import ReceiptVerifier, sign_digest
from ..errors import GpusettleError
from ..models import (
    CommandWorkload,
    JobReceipt,
    JobSpec,
    MatmulWorkload,
    Outcome,
    ReceiptEvidence,
    ResultPayloadRef,
)
from ..workloads import WorkloadResult, run_command, run_matmul
from ..workloads.base import failure_hash
from .nvml import GpuMonitor
from .progress import Progress
from .specstore import SpecStore, SpecUnavailable, open_spec_store
from .state import FINAL_STATES, JobRecord, WorkerState
from .submit import OracleClient, backoff_delay

__all__ = ["Worker", "WorkerConfig", "meter"]

log = logging.getLogger("gpusettle.worker")


@dataclass
class WorkerConfig:
    """How a worker runs."""

    data_dir: Path
    provider: str
    """The provider's staking wallet whose offers this worker serves."""
    oracle_url: str
    spec_store: str | None = None
    """Where specs are fetched: an http(s) URL or a directory (default: the oracle)."""
    device: str = "auto"
    """matmul device: auto (CUDA when available), cpu or cuda[:index]."""
    allow_command: bool = False
    """Run `command` workloads (arbitrary client programs); off unless the provider opts in."""
    poll_interval: float = 1.0
    accept_margin: float = 5.0
    """Do not try to accept a job whose acceptance deadline is closer than this (seconds)."""
    confirmations: int = 1
    status_every: float = 2.0
    """Seconds between status checks of a submitted receipt."""
    max_jobs: int | None = None
    """Stop after this many jobs reached a final state (tests and demos)."""


def meter(
    t0: float, t1: float, gpu_count: int, accepted_at: int, max_gpu_seconds: int
) -> tuple[int, int, int]:
    """(startTime, endTime, gpuSeconds) for a run from wall-clock t0 to t1 on `gpu_count` GPUs.

    start is floored and end ceiled to whole seconds, so (end - start) x GPUs always covers the
    metered GPU-seconds as the escrow requires; start never precedes the acceptance; GPU-seconds are
    at least 1 and at most the job's maximum (nothing above it can be paid).
    """
    start = max(math.floor(t0), accepted_at)
    end = max(math.ceil(t1), start + 1)
    metered = max(1, math.ceil((t1 - t0) * gpu_count))
    return start, end, min(metered, (end - start) * gpu_count, max_gpu_seconds)


@dataclass
class Worker:
    """One worker key serving one provider's offers."""

    config: WorkerConfig
    client_factory: Callable[[], Gpusettle]
    account: LocalAccount
    state: WorkerState = field(init=False)
    spec_store: SpecStore = field(init=False)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _clients: dict[int, Gpusettle] = field(default_factory=dict)
    _oracle_client: OracleClient | None = None

    def __post_init__(self) -> None:
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        self.state = WorkerState(self.config.data_dir / "worker.sqlite")
        self.spec_store = open_spec_store(self.config.spec_store or self.config.oracle_url)
        self.client = self.client_factory()
        self.verifier = ReceiptVerifier(self.client.chain.chain_id, str(self.client.escrow.address))
        self.provider = str(self.config.provider)

    # -- setup -----------------------------------------------------------------------------------------

    def check_setup(self) -> None:
        """GpusettleError unless this key is the provider's current worker key."""
        info = self.client.stake_info(self.provider)
        if info.worker != self.account.address:
            raise GpusettleError(
                f"{self.account.address} is not provider {self.provider}'s worker key (it is {info.worker})",
                "have the provider name this key with `setWorker`, or start the worker with the right key",
            )
        if info.jailed:
            log.warning("provider %s is jailed: no new job can be opened on its offers", self.provider)

    def recover(self) -> None:
        """After a restart: a job left `running` was interrupted; it gets a FailedProvider receipt."""
        for job in self.state.jobs("running"):
            reason = "the worker stopped while the job was running; the run was lost and is not billed"
            log.warning("job %d: %s", job.job_id, reason)
            start = job.start_time or job.accepted_at or int(time.time())
            self._finish(job, WorkloadResult.failed(Outcome.FAILED_PROVIDER, reason), start, start, 0, {})

    # -- the loops -------------------------------------------------------------------------------------

    def run(self) -> None:
        """Run until stopped (stop()) or until `max_jobs` jobs are final."""
        self.check_setup()
        self.recover()
        for name, fn in (
            ("watcher", self.watch_once),
            ("runner", self.run_once),
            ("submitter", self.submit_once),
        ):
            thread = threading.Thread(target=self._loop, args=(name, fn), name=f"worker-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info(
            "worker %s serving provider %s on chain %d (oracle %s, specs from %s)",
            self.account.address,
            self.provider,
            self.client.chain.chain_id,
            self.config.oracle_url,
            self.config.spec_store or self.config.oracle_url,
        )
        try:
            while not self._stop.is_set():
                if (
                    self.config.max_jobs is not None
                    and self.state.count(*FINAL_STATES) >= self.config.max_jobs
                ):
                    log.info("%d job(s) done; stopping as asked", self.config.max_jobs)
                    break
                self._stop.wait(0.5)
        finally:
            self.stop()

    def stop(self) -> None:
        """Ask the threads to stop and wait a little for them."""
        self._stop.set()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=5)

    def _loop(self, name: str, fn: Callable[[], bool]) -> None:
        while not self._stop.is_set():
            try:
                busy = fn()
            except Exception:
                log.exception("%s: unexpected error; retrying", name)
                busy = False
                self._stop.wait(2.0)
            if not busy:
                self._stop.wait(self.config.poll_interval)

    # -- watching and accepting ------------------------------------------------------------------------

    def watch_once(self) -> bool:
        """Pick up new JobCreated events, then handle jobs waiting to be accepted."""
        client = self._thread_client()
        latest = client.chain.block_number()
        last = self.state.get_meta("last_block")
        start = int(last) + 1 if last is not None else client.record.deploy_block
        moved = False
        if start <= latest:
            logs = reader_for(client.chain.w3).events(
                client.escrow.events.JobCreated, start, latest, {"provider": self.provider}
            )
            for entry in logs:
                a = entry["args"]
                job_id = int(a["jobId"])
                if self.state.add_job(
                    job_id,
                    "0x" + bytes(a["specHash"]).hex(),
                    int(a["maxGpuSeconds"]),
                    0,
                    int(a["acceptBy"]),
                    int(a["deadline"]),
                ):
                    log.info(
                        "job %d opened by %s: up to %d GPU-seconds",
                        job_id,
                        a["client"],
                        a["maxGpuSeconds"],
                    )
                    moved = True
            self.state.set_meta("last_block", str(latest))
        for job in self.state.jobs("new", "accepting"):
            moved = self._consider(client, job) or moved
        return moved

    def _thread_client(self) -> Gpusettle:
        ident = threading.get_ident()
        found = self._clients.get(ident)
        if found is None:
            found = self.client_factory()
            self._clients[ident] = found
        return found

    def _consider(self, client: Gpusettle, job: JobRecord) -> bool:
        info = client.job(job.job_id)
        if info.status == "Running" and info.provider == self.provider:
            spec_json = job.spec if job.spec is not None else self._spec_json(job)
            self.state.update(
                job.job_id,
                state="accepted",
                accepted_at=info.accepted_at,
                gpu_count=info.gpu_count,
                spec=spec_json,
            )
            log.info("job %d accepted at %d", job.job_id, info.accepted_at)
            return True
        if info.status != "Open":
            self.state.update(job.job_id, state="skipped", reason=f"job is {info.status} on-chain")
            log.info("job %d is %s; skipping it", job.job_id, info.status)
            return True
        now = time.time()
        if now > info.accept_by - self.config.accept_margin:
            self.state.update(job.job_id, state="skipped", reason="acceptance deadline too close or passed")
            log.warning("job %d: too late to accept (acceptBy %d)", job.job_id, info.accept_by)
            return True
        try:
            spec = self.spec_store.fetch(job.spec_hash)
        except SpecUnavailable as exc:
            if now > info.accept_by - 4 * self.config.accept_margin:
                return self._decline(client, job, f"the job's spec was never published ({exc})")
            log.info("job %d: waiting for its spec: %s", job.job_id, exc)
            return False
        except ValueError as exc:
            return self._decline(client, job, str(exc))
        problem = self._unsupported(spec)
        if problem is not None:
            return self._decline(client, job, problem)
        self.state.update(
            job.job_id, state="accepting", spec=spec.canonical_json().decode(), gpu_count=info.gpu_count
        )
        try:
            plan = client.plan_accept_job(self.account.address, job.job_id)
            outcome = client.send(plan, self.account, confirmations=self.config.confirmations)
        except DecodedContractError as err:
            log.warning("job %d: cannot accept: %s", job.job_id, err)
            self.state.update(job.job_id, state="skipped", reason=f"accept refused: {err.message}")
            return True
        accepted_at = int(outcome.event("JobAccepted").args["acceptedAt"])
        self.state.update(job.job_id, state="accepted", accepted_at=accepted_at, accept_tx=outcome.tx_hash)
        log.info(
            "job %d accepted in tx %s (%s, %d GPU(s))", job.job_id, outcome.tx_hash, spec.kind, info.gpu_count
        )
        return True

    def _spec_json(self, job: JobRecord) -> str | None:
        try:
            return self.spec_store.fetch(job.spec_hash).canonical_json().decode()
        except (SpecUnavailable, ValueError):
            return None

    def _unsupported(self, spec: JobSpec) -> str | None:
        if isinstance(spec.workload, CommandWorkload) and not self.config.allow_command:
            return "this worker does not run command workloads (start it with --allow-command)"
        return None

    def _decline(self, client: Gpusettle, job: JobRecord, reason: str) -> bool:
        log.warning("job %d: declining: %s", job.job_id, reason)
        try:
            plan = client.plan_cancel_job(self.account.address, job.job_id)
            client.send(plan, self.account, confirmations=self.config.confirmations)
        except GpusettleError as err:
            log.warning("job %d: decline failed: %s", job.job_id, err)
        self.state.update(job.job_id, state="declined", reason=reason)
        return True

    # -- running ---------------------------------------------------------------------------------------

    def run_once(self) -> bool:
        """Run the oldest accepted job, if any."""
        waiting = self.state.jobs("accepted")
        if not waiting:
            return False
        job = waiting[0]
        if job.spec is None:
            spec_json = self._spec_json(job)
            if spec_json is None:
                if time.time() > job.deadline:
                    t = int(time.time())
                    self._finish(
                        job,
                        WorkloadResult.failed(Outcome.FAILED_CLIENT, "the job's spec was never published"),
                        job.accepted_at or t,
                        job.accepted_at or t,
                        0,
                        {},
                    )
                    return True
                return False
            self.state.update(job.job_id, spec=spec_json)
            job = self.state.job(job.job_id) or job
        assert job.spec is not None
        spec = JobSpec.model_validate_json(job.spec)
        t0 = time.time()
        if not self.state.transition(
            job.job_id, "accepted", "running", start_time=max(int(t0), job.accepted_at or 0)
        ):
            return True
        gpus = max(job.gpu_count, 1)
        monitor = GpuMonitor(count=gpus).start()
        progress = Progress(f"job {job.job_id} ({spec.kind})")
        try:
            result = self._execute(job, spec, progress.update)
        except Exception as exc:
            log.exception("job %d: the worker failed while running it", job.job_id)
            result = WorkloadResult.failed(
                Outcome.FAILED_PROVIDER, f"worker error: {type(exc).__name__}: {exc}"
            )
        t1 = time.time()
        evidence = monitor.stop()
        progress.close(f"{result.outcome.name.lower()} on {result.device}")
        if monitor.reason:
            log.info("job %d: no GPU evidence: %s", job.job_id, monitor.reason)
        start, end, gpu_seconds = meter(t0, t1, gpus, job.accepted_at or 0, job.max_gpu_seconds)
        if result.outcome == Outcome.FAILED_PROVIDER:
            gpu_seconds = min(gpu_seconds, job.max_gpu_seconds)
        evidence["workload"] = spec.kind
        self._finish(job, result, start, end, gpu_seconds, evidence)
        return True

    def _execute(
        self, job: JobRecord, spec: JobSpec, progress: Callable[[float, str], None]
    ) -> WorkloadResult:
        workload = spec.workload
        if isinstance(workload, MatmulWorkload):
            return run_matmul(workload, progress=progress, device=self.config.device)
        assert isinstance(workload, CommandWorkload)
        # Past this time nothing more is paid (max GPU-seconds) or the job may time out (deadline).
        limit = min(job.max_gpu_seconds / max(job.gpu_count, 1), job.deadline - time.time() - 30)
        return run_command(
            workload,
            self.config.data_dir / "jobs" / str(job.job_id),
            time_limit=max(limit, 1.0),
            progress=progress,
        )

    def _finish(
        self,
        job: JobRecord,
        result: WorkloadResult,
        start: int,
        end: int,
        gpu_seconds: int,
        evidence: dict[str, Any],
    ) -> None:
        """Sign the receipt and store it (and its payload) before anything is sent."""
        payload_path: str | None = None
        result_ref: ResultPayloadRef | None = None
        if result.payload is not None:
            path = self.config.data_dir / "results" / result.result_hash
            write_atomic(path, result.payload, mode=0o644)
            payload_path = str(path)
            result_ref = ResultPayloadRef(
                uri=f"{self.config.oracle_url.rstrip('/')}/v1/results/{result.result_hash}",
                content_hash=result.result_hash,
                size_bytes=len(result.payload),
            )
        receipt = JobReceipt(
            jobId=job.job_id,
            provider=self.provider,
            gpuSeconds=gpu_seconds,
            startTime=start,
            endTime=end,
            resultHash=result.result_hash
            if result.failure_reason is None
            else failure_hash(result.failure_reason),
            outcome=result.outcome,
        )
        evidence_model = ReceiptEvidence(failure_reason=result.failure_reason, **evidence)
        r, vs = sign_digest(self.verifier.digest(receipt), bytes(self.account.key)).hex()
        document: dict[str, Any] = {
            "receipt": receipt.model_dump(mode="json"),
            "r": r,
            "vs": vs,
            "evidence": evidence_model.model_dump(mode="json", exclude_none=True),
            "chainId": self.verifier.domain.chain_id,
            "escrow": self.verifier.domain.verifying_contract,
        }
        if result_ref is not None:
            document["result"] = result_ref.model_dump(mode="json")
        self.state.update(
            job.job_id,
            state="receipted",
            start_time=start,
            end_time=end,
            gpu_seconds=gpu_seconds,
            outcome=int(result.outcome),
            result_hash=receipt.resultHash,
            payload_path=payload_path,
            submission=json.dumps(document, separators=(",", ":")),
            reason=result.failure_reason,
            next_attempt_at=0,
            attempts=0,
        )
        log.info(
            "job %d: receipt signed: %s, %d GPU-seconds (%d..%d), result %s",
            job.job_id,
            result.outcome.name,
            gpu_seconds,
            start,
            end,
            receipt.resultHash,
        )

    # -- submitting ------------------------------------------------------------------------------------

    def submit_once(self) -> bool:
        """Submit due receipts; follow submitted ones to settlement."""
        oracle = self._oracle()
        moved = False
        now = time.time()
        for job in self.state.jobs("receipted"):
            if job.next_attempt_at > now:
                continue
            moved = self._submit(oracle, job) or moved
        for job in self.state.jobs("submitted"):
            if now - job.updated_at < self.config.status_every:
                continue
            status = oracle.status(job.job_id)
            if status is None:
                self.state.update(job.job_id)
                continue
            if status.get("status") == "settled":
                self.state.update(job.job_id, state="settled", settle_tx=status.get("tx_hash"))
                log.info("job %d settled in tx %s", job.job_id, status.get("tx_hash"))
                moved = True
            elif status.get("status") == "rejected":
                self.state.update(job.job_id, state="rejected", reason=status.get("reason"))
                log.error("job %d: the oracle rejected the receipt: %s", job.job_id, status.get("reason"))
                moved = True
            else:
                self.state.update(job.job_id)
        return moved

    def _oracle(self) -> OracleClient:
        if self._oracle_client is None:
            self._oracle_client = OracleClient(self.config.oracle_url)
        return self._oracle_client

    def _retry_later(self, job: JobRecord, why: str) -> None:
        delay = backoff_delay(job.attempts)
        self.state.update(job.job_id, attempts=job.attempts + 1, next_attempt_at=time.time() + delay)
        log.warning(
            "job %d: submission attempt %d failed (%s); retrying in %.1f s",
            job.job_id,
            job.attempts + 1,
            why,
            delay,
        )

    def _submit(self, oracle: OracleClient, job: JobRecord) -> bool:
        assert job.submission is not None
        if job.end_time is not None and job.end_time > time.time():
            return False  # the oracle refuses an end time in the future: wait for it
        if job.payload_path and not job.payload_sent:
            try:
                payload = Path(job.payload_path).read_bytes()
            except OSError as exc:
                log.error("job %d: the result payload is gone (%s); submitting without it", job.job_id, exc)
            else:
                uploaded = oracle.upload_result(str(job.result_hash), payload)
                if uploaded.kind == "retry":
                    self._retry_later(job, uploaded.detail)
                    return False
                if uploaded.kind == "rejected":
                    log.error(
                        "job %d: the oracle refused the result payload: %s", job.job_id, uploaded.detail
                    )
                self.state.update(job.job_id, payload_sent=1)
        answer = oracle.submit(job.submission)
        if answer.kind == "retry":
            self._retry_later(job, answer.detail)
            return False
        if answer.kind == "ack":
            self.state.update(job.job_id, state="submitted")
            log.info("job %d: receipt acknowledged by the oracle (%s)", job.job_id, answer.body.get("status"))
        elif answer.kind == "settled":
            self.state.update(job.job_id, state="settled")
            log.info("job %d: already settled: %s", job.job_id, answer.detail)
        else:
            self.state.update(job.job_id, state="rejected", reason=answer.detail)
            log.error("job %d: the oracle rejected the receipt: %s", job.job_id, answer.detail)
        return True
