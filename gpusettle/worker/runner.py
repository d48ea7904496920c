"""The worker daemon: three threads sharing the durable job table.

- watcher: follows JobCreated events for this provider, fetches each job's spec, checks it against
  the on-chain specHash, and accepts (or declines) before the acceptance deadline; it also gives
  settled jobs' GPUs back to their offers (releaseJobGpus, gpurelease.py);
- runner: starts each accepted job on its own GPU slots (slots.py: disjoint, as many jobs at once as
  the machine's GPUs hold, leases included), meters GPU-seconds (wall time x GPUs), records NVML
  evidence, signs the EIP-712 receipt with the worker key, and stores it before anything is sent;
- submitter: uploads result payloads and submits receipts to the oracle, retrying with backoff until
  acknowledged, then follows them to settlement.

A job is marked `running` (with its start time) before it starts, so a crash mid-run is found on the
next start and reported with a FailedProvider receipt instead of being run again.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount

from ..atomicfile import write_atomic
from ..chain import DecodedContractError, Gpusettle
from ..chain.finality import confirmations_for
from ..chain.logs import reader_for
from ..eip712 import ReceiptVerifier, sign_digest
from ..errors import GpusettleError
from ..models import (
    CommandWorkload,
    ContainerWorkload,
    JobReceipt,
    JobSpec,
    JobStatus,
    MatmulWorkload,
    Outcome,
    ReceiptEvidence,
    ReceiptStatus,
    ReceiptSubmission,
    ResultPayloadRef,
)
from ..signed_requests import result_upload_headers
from ..workloads import WorkloadResult, run_command, run_matmul
from ..workloads.base import failure_hash
from ..workloads.cgroups import remove_stale_cgroups
from ..workloads.clientjob import JobPaths, prepare, run_sandboxed
from ..workloads.command import STOPPED_REASON
from ..workloads.container import container_engine, run_container
from ..workloads.sandbox import ResolvedLimits, SandboxPolicy, bwrap_binary, resolve_limits, sandbox_argv
from .gpurelease import GpuReleaser
from .leaseside import LeaseSide, LeaseSideConfig, build_lease_side
from .nvml import GpuMonitor
from .probe import HARDWARE_PATH, peer_auth
from .procgroup import forget, kill_remembered, remember
from .progress import Progress, WorkloadMetrics
from .slots import SlotScheduler, detect_slots, job_owner
from .specstore import SpecStore, SpecUnavailable, open_spec_store
from .state import FINAL_STATES, JobRecord, WorkerState
from .submit import OracleClient, StatusKind, SubmitKind, backoff_delay

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
    confirmations: int | None = None
    """Blocks deep before an acceptance is trusted; None: the network's own figure (at least 2 on any
    chain that can reorganise, see `gpusettle.chain.finality`)."""
    status_every: float = 2.0
    """Seconds between status checks of a submitted receipt."""
    at_risk_seconds: float = 900.0
    """A receipt not settled this close to the job's on-chain deadline is reported as at risk (a warning
    with the job id and the seconds left), every `at_risk_every` seconds."""
    at_risk_every: float = 60.0
    max_jobs: int | None = None
    """Stop after this many jobs reached a final state (tests and demos)."""
    unsandboxed: bool = False
    """Run `command` workloads without the bubblewrap sandbox (the provider must say so explicitly)."""
    sandbox: SandboxPolicy = field(default_factory=SandboxPolicy)
    """The bounds of sandboxed client programs: network, limits, runtimes exposed, input sources."""
    metrics_port: int | None = None
    """Serve the running workload's resource use as Prometheus /metrics on 127.0.0.1 here."""
    offer_check: Callable[[int], str | None] | None = None
    """Why this machine cannot honour an offer (its jobs are declined), or None (worker.preflight)."""
    gas_check: Callable[[], str | None] | None = None
    """Why the worker key cannot pay for gas, or None; asked after an error (worker.preflight)."""
    dev_gpu_slots: int | None = None
    """Development: N fake GPU slots on a machine without GPUs (`--simulate-gpus`); NVML's GPUs win."""
    leases: LeaseSideConfig | None = None
    """Serve leases too (and idle-only renting); None: jobs only."""


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
    _spec_waits: set[int] = field(default_factory=set)
    _last_error: dict[str, str] = field(default_factory=dict)
    _at_risk_said: dict[int, float] = field(default_factory=dict)
    _running: dict[int, threading.Thread] = field(default_factory=dict)
    slots: SlotScheduler = field(init=False)
    lease_side: LeaseSide | None = field(init=False, default=None)
    _oracle_lock: threading.Lock = field(default_factory=threading.Lock)
    _oracle_reader: Gpusettle | None = None

    def __post_init__(self) -> None:
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        self.state = WorkerState(self.config.data_dir / "worker.sqlite")
        self.spec_store = open_spec_store(self.config.spec_store or self.config.oracle_url)
        indices, self.slots_note, real = detect_slots(self.config.dev_gpu_slots)
        self.slots = SlotScheduler(
            self.state, indices, real_gpus=real, cpu_only=not real and not self.config.dev_gpu_slots
        )
        self.client = self.client_factory()
        self.verifier = ReceiptVerifier(self.client.chain.chain_id, str(self.client.escrow.address))
        self.confirmations = confirmations_for(self.client.chain.chain_id, self.config.confirmations)
        self.provider = str(self.config.provider)
        self.gpu_releaser = GpuReleaser(self.state, self.account, confirmations=self.confirmations)
        if self.config.leases is not None:
            if self.config.leases.probe_port is not None and self.config.leases.probe_auth is None:
                self.config.leases.probe_auth = peer_auth(self.verifier.domain, self._oracle_members)
            if self.config.leases.probe_port is not None and self.config.leases.hardware_auth is None:
                self.config.leases.hardware_auth = peer_auth(
                    self.verifier.domain, self._oracle_members, path=HARDWARE_PATH
                )
            self.lease_side = build_lease_side(
                self.config.leases,
                state=self.state,
                slots=self.slots,
                spec_store=self.spec_store,
                account=self.account,
                provider=str(self.config.provider),
                data_dir=self.config.data_dir,
                allow_command=self.config.allow_command,
                wrap=None if self.config.unsandboxed else self._sandbox_service,
                offer_check=self.config.offer_check,
            )
        self.metrics = WorkloadMetrics()
        if self.config.metrics_port is not None:
            self.metrics.serve(self.config.metrics_port)

    # -- setup -----------------------------------------------------------------------------------------

    def check_setup(self) -> None:
        """GpusettleError unless this key is the provider's current worker key (and, when it runs
        client commands, bubblewrap is there to sandbox them)."""
        if self.config.allow_command and not self.config.unsandboxed:
            bwrap_binary()
        elif self.config.allow_command:
            log.warning(
                "client commands run UNSANDBOXED (--unsandboxed): they get this worker's user, files, "
                "keys and network; run only programs you trust"
            )
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
        running = self.state.jobs("running")
        if running and remove_stale_cgroups():
            log.warning("removed the cgroups (and any process in them) of jobs a crash interrupted")
        for job in running:
            kill_remembered(self.state, job.job_id)
            reason = STOPPED_REASON
            log.warning("job %d: %s", job.job_id, reason)
            start = job.start_time or job.accepted_at or int(time.time())
            self._finish(job, WorkloadResult.failed(Outcome.FAILED_PROVIDER, reason), start, start, 0, {})
        # A job's slots outlive it only in a crash: keep those of jobs still waiting to run (they get
        # the same GPUs back), free the rest. Leases are the lease supervisor's to reconcile.
        waiting = {job_owner(j.job_id) for j in self.state.jobs("accepted")}
        self.slots.reconcile(lambda owner: not owner.startswith("job:") or owner in waiting)
        if self.lease_side is not None:
            self.lease_side.recover()

    # -- the loops -------------------------------------------------------------------------------------

    def run(self) -> None:
        """Run until stopped (stop()) or until `max_jobs` jobs are final."""
        self.check_setup()
        self.recover()
        loops: list[tuple[str, Callable[[], bool]]] = [
            ("watcher", self.watch_once),
            ("runner", self.run_once),
            ("submitter", self.submit_once),
        ]
        if self.lease_side is not None:
            loops += self.lease_side.loops()
        for name, fn in loops:
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
        self._stop.set()  # also the running jobs' cancel signal: their processes are killed
        for thread in [*self._threads, *self._running.values()]:
            if thread is not threading.current_thread():
                thread.join(timeout=10)
        if self.lease_side is not None:
            self.lease_side.stop()

    def _loop(self, name: str, fn: Callable[[], bool]) -> None:
        while not self._stop.is_set():
            try:
                busy = fn()
                self._last_error.pop(name, None)
            except GpusettleError as exc:
                # A condition the operator can act on: one line saying what to do, once per change.
                text = str(exc)
                if self.config.gas_check is not None:
                    text = self.config.gas_check() or text
                if self._last_error.get(name) != text:
                    log.error("%s: %s", name, text)
                    self._last_error[name] = text
                busy = False
                self._stop.wait(2.0)
            except Exception:
                log.exception("%s: unexpected error; retrying", name)
                busy = False
                self._stop.wait(2.0)
            if not busy:
                self._stop.wait(self.config.poll_interval)

    # -- watching and accepting ------------------------------------------------------------------------

    def watch_once(self) -> bool:
        """Pick up new JobCreated events, handle jobs waiting to be accepted, and give settled jobs' GPUs
        back to their offers (gpurelease.py)."""
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
        # Acceptances and releases share this thread, so the worker key's transactions never race
        # for a nonce.
        moved = self.gpu_releaser.release_due(client) or moved
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
        if info.status == JobStatus.RUNNING and info.provider == self.provider:
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
        if info.status != JobStatus.OPEN:
            self.state.update(job.job_id, state="skipped", reason=f"job is {info.status} on-chain")
            log.info("job %d is %s; skipping it", job.job_id, info.status)
            return True
        now = time.time()
        if now > info.accept_by - self.config.accept_margin:
            self.state.update(job.job_id, state="skipped", reason="acceptance deadline too close or passed")
            log.warning("job %d: too late to accept (acceptBy %d)", job.job_id, info.accept_by)
            return True
        busy = self.lease_side.refuse_new() if self.lease_side is not None else None
        if busy is not None:
            return self._decline(client, job, busy)
        if self.config.offer_check is not None:
            refused = self.config.offer_check(info.offer_id)
            if refused is not None:
                return self._decline(client, job, refused)
        if not self.slots.fits(info.gpu_count):
            return self._decline(
                client, job, f"the job needs {info.gpu_count} GPUs; this machine has {self.slots.capacity}"
            )
        try:
            spec = self.spec_store.fetch(job.spec_hash)
        except SpecUnavailable as exc:
            if now > info.accept_by - 4 * self.config.accept_margin:
                return self._decline(client, job, f"the job's spec was never published ({exc})")
            if job.job_id not in self._spec_waits:
                self._spec_waits.add(job.job_id)
                log.warning(
                    "job %d: waiting for its spec (%s); the client publishes it with "
                    "`gpusettle job publish %d --spec FILE`, else the job is declined before its "
                    "acceptance deadline",
                    job.job_id,
                    exc,
                    job.job_id,
                )
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
            outcome = client.send(plan, self.account, confirmations=self.confirmations)
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
        workload = spec.workload
        if isinstance(workload, CommandWorkload) and not self.config.allow_command:
            return "this worker does not run command workloads (start it with --allow-command)"
        if isinstance(workload, ContainerWorkload) and (not self.config.allow_command or not self._engine()):
            return "this worker does not run container workloads (no Docker or Podman, or no --allow-command)"
        if isinstance(workload, ContainerWorkload | CommandWorkload) and not self.config.unsandboxed:
            if workload.network and not self.config.sandbox.allow_network:
                return "the spec asks for the network but this provider's sandbox has none"
            limits = resolve_limits(workload.limits, self.config.sandbox, float("inf"))
            if isinstance(limits, str):
                return limits
        return None

    def _decline(self, client: Gpusettle, job: JobRecord, reason: str) -> bool:
        log.warning("job %d: declining: %s", job.job_id, reason)
        try:
            plan = client.plan_cancel_job(self.account.address, job.job_id)
            client.send(plan, self.account, confirmations=self.confirmations)
        except GpusettleError as err:
            log.warning("job %d: decline failed: %s", job.job_id, err)
        self.state.update(job.job_id, state="declined", reason=reason)
        return True

    # -- running ---------------------------------------------------------------------------------------

    def run_once(self) -> bool:
        """Start each accepted job whose GPUs are free, oldest first, each in its own thread on its own
        slots; a job waits while the slots it needs are taken."""
        for job_id, thread in list(self._running.items()):
            if not thread.is_alive():
                del self._running[job_id]
        started = False
        for job in self.state.jobs("accepted"):
            if job.job_id in self._running or self._stop.is_set():
                continue
            ready = self._with_spec(job)
            if ready is None:
                continue
            if isinstance(ready, bool):
                started = started or ready
                continue
            try:
                gpus = self.slots.acquire(job_owner(job.job_id), self.slots.need(job.gpu_count))
            except GpusettleError as exc:
                t = max(int(time.time()), job.accepted_at or 0)
                self._finish(job, WorkloadResult.failed(Outcome.FAILED_PROVIDER, str(exc)), t, t, 0, {})
                started = True
                continue
            if gpus is None:
                continue  # its GPUs are busy: it waits (an older job first when it fits)
            thread = threading.Thread(
                target=self._run_on_slots, args=(ready, gpus), name=f"job-{job.job_id}", daemon=True
            )
            self._running[job.job_id] = thread
            thread.start()
            started = True
        return started

    def _run_on_slots(self, job: JobRecord, gpus: list[int]) -> None:
        try:
            self._run_job(job, gpus)
        except Exception:
            log.exception("job %d: unexpected error while running it", job.job_id)
        finally:
            self.slots.release(job_owner(job.job_id))

    def _with_spec(self, job: JobRecord) -> JobRecord | bool | None:
        """The job with its spec; None while the spec is not published; True when the job was finished
        here (its spec never came before its deadline)."""
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
                return None
            self.state.update(job.job_id, spec=spec_json)
            job = self.state.job(job.job_id) or job
        return job

    def _run_job(self, job: JobRecord, gpus: list[int]) -> None:
        """Run one job on `gpus` and store its signed receipt."""
        assert job.spec is not None
        spec = JobSpec.model_validate_json(job.spec)
        limits = self._preflight(job, spec)
        if isinstance(limits, str):
            t = max(int(time.time()), job.accepted_at or 0)
            log.warning("job %d: fails before it starts: %s", job.job_id, limits)
            self._finish(
                job, WorkloadResult.failed(Outcome.FAILED_CLIENT, limits), t, t, 0, {"workload": spec.kind}
            )
            return
        t0 = time.time()
        if not self.state.transition(
            job.job_id, "accepted", "running", start_time=max(int(t0), job.accepted_at or 0)
        ):
            return
        log.info("job %d: running on GPU slot(s) %s", job.job_id, SlotScheduler.visible_devices(gpus))
        billed_gpus = max(job.gpu_count, 1)
        monitor = GpuMonitor(
            count=billed_gpus,
            indices=gpus if self.slots.real_gpus else None,
            on_sample=lambda gpu, rate, used: self.metrics.observe_gpu(job.job_id, gpu, rate, used),
        ).start()
        progress = Progress(f"job {job.job_id} ({spec.kind})")
        try:
            result = self._execute(job, spec, progress.update, limits, gpus)
        except Exception as exc:
            log.exception("job %d: the worker failed while running it", job.job_id)
            result = WorkloadResult.failed(
                Outcome.FAILED_PROVIDER, f"worker error: {type(exc).__name__}: {exc}"
            )
        forget(self.state, job.job_id)
        self.metrics.done(job.job_id)
        t1 = time.time()
        evidence = monitor.stop()
        progress.close(f"{result.outcome.name.lower()} on {result.device}")
        if monitor.reason:
            log.info("job %d: no GPU evidence: %s", job.job_id, monitor.reason)
        start, end, gpu_seconds = meter(t0, t1, billed_gpus, job.accepted_at or 0, job.max_gpu_seconds)
        if result.outcome == Outcome.FAILED_PROVIDER:
            gpu_seconds = min(gpu_seconds, job.max_gpu_seconds)
        evidence["workload"] = spec.kind
        self._finish(job, result, start, end, gpu_seconds, evidence)

    def _oracle_members(self) -> set[str]:
        """The on-chain oracle set (who may probe this worker's leases)."""
        with self._oracle_lock:
            if self._oracle_reader is None:
                self._oracle_reader = self.client_factory()
            return set(self._oracle_reader.oracle_set().oracles)

    def _sandbox_service(self, argv: list[str], gpus: list[int], work_dir: Path) -> list[str]:
        """A lease service's command line inside the job sandbox (bubblewrap, no time limit: the
        lease's billing end stops it)."""
        limits = resolve_limits(None, self.config.sandbox, 10 * 365 * 86_400.0)
        if isinstance(limits, str):
            raise GpusettleError(
                f"the sandbox cannot hold a lease service: {limits}", "raise the worker's bounds"
            )
        (work_dir / "work").mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:  # the service runs as the sandbox's own user: its directory is its own
            os.chown(work_dir / "work", self.config.sandbox.sandbox_uid, self.config.sandbox.sandbox_uid)
        return sandbox_argv(
            argv,
            work_dir=work_dir / "work",
            input_dir=None,
            limits=limits,
            network=self.config.sandbox.allow_network,
            gpus=gpus if self.config.device != "cpu" else [],
            policy=self.config.sandbox,
        )

    def _engine(self) -> str | None:
        if not hasattr(self, "_container_engine"):
            self._container_engine = container_engine()
        return self._container_engine

    def _time_limit(self, job: JobRecord) -> float:
        # Past this time nothing more is paid (max GPU-seconds) or the job may time out (deadline).
        return max(min(job.max_gpu_seconds / max(job.gpu_count, 1), job.deadline - time.time() - 30), 1.0)

    def _job_paths(self, job: JobRecord) -> JobPaths:
        return JobPaths(self.config.data_dir / "jobs" / str(job.job_id))

    def _preflight(self, job: JobRecord, spec: JobSpec) -> ResolvedLimits | str | None:
        """For a sandboxed command: check the key and limits, fetch and check the inputs, before the
        clock starts (a failure here is the client's and bills nothing)."""
        workload = spec.workload
        if isinstance(workload, MatmulWorkload) or (
            isinstance(workload, CommandWorkload) and self.config.unsandboxed
        ):
            return None
        return prepare(
            workload,
            self._job_paths(job),
            self.config.sandbox,
            oracle_url=self.config.oracle_url,
            time_limit=self._time_limit(job),
        )

    def _execute(
        self,
        job: JobRecord,
        spec: JobSpec,
        progress: Callable[[float, str], None],
        limits: ResolvedLimits | None = None,
        slots: list[int] | None = None,
    ) -> WorkloadResult:
        workload = spec.workload
        slots = slots if slots is not None else list(range(max(job.gpu_count, 1)))
        # The workload's own GPUs: device nodes and CUDA_VISIBLE_DEVICES name its slots, no others.
        gpus = slots if self.config.device != "cpu" else []
        if isinstance(workload, MatmulWorkload):
            device = self.config.device
            if device == "auto" and self.slots.real_gpus:
                device = f"cuda:{slots[0]}"
            return run_matmul(workload, progress=progress, device=device)

        def remember_group(pgid: int) -> None:
            remember(self.state, job.job_id, pgid)

        if isinstance(workload, ContainerWorkload):
            engine = self._engine()
            if limits is None or engine is None:
                return WorkloadResult.failed(Outcome.FAILED_PROVIDER, "no container engine on this worker")
            return run_container(
                workload,
                self._job_paths(job),
                limits,
                self.config.sandbox,
                engine=engine,
                name=f"gpusettle-job-{job.job_id}",
                gpus=gpus,
                cancel=self._stop,
                on_start=remember_group,
            )

        if limits is not None:
            return run_sandboxed(
                workload,
                self._job_paths(job),
                limits,
                self.config.sandbox,
                gpus=gpus,
                progress=progress,
                on_usage=lambda _elapsed, u: self.metrics.observe(
                    job.job_id, u.cpu_seconds, u.rss_bytes, u.processes, u.disk_bytes
                ),
                cancel=self._stop,
                on_start=remember_group,
            )
        limit = self._time_limit(job)
        return run_command(
            workload,
            self.config.data_dir / "jobs" / str(job.job_id),
            time_limit=limit,
            progress=progress,
            env={**os.environ, **self.slots.env_for(gpus)},
            cancel=self._stop,
            on_start=remember_group,
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
            if result.failure_reason is None or result.sealed
            else failure_hash(result.failure_reason),
            outcome=result.outcome,
        )
        evidence_model = ReceiptEvidence(failure_reason=result.failure_reason, **evidence)
        r, vs = sign_digest(self.verifier.digest(receipt), bytes(self.account.key)).hex()
        submission = ReceiptSubmission(
            receipt=receipt,
            r=r,
            vs=vs,
            evidence=evidence_model,
            result=result_ref,
            chainId=self.verifier.domain.chain_id,
            escrow=self.verifier.domain.verifying_contract,
        )
        self.state.update(
            job.job_id,
            state="receipted",
            start_time=start,
            end_time=end,
            gpu_seconds=gpu_seconds,
            outcome=int(result.outcome),
            result_hash=receipt.resultHash,
            payload_path=payload_path,
            submission=submission.to_json(),
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
            answer = oracle.status(job.job_id)
            status = answer.body
            if answer.kind == StatusKind.UNKNOWN:
                # The oracle acknowledged this receipt once and has lost it (a restored backup, a wiped
                # disk): send it again; intake is idempotent, so a duplicate is harmless.
                log.warning(
                    "job %d: the oracle no longer knows this receipt (%s); submitting it again",
                    job.job_id,
                    answer.detail,
                )
                self.state.update(job.job_id, state="receipted", attempts=0, next_attempt_at=0)
                moved = True
            elif answer.kind == StatusKind.UNREACHABLE:
                self.state.update(job.job_id)
            elif status.get("status") == ReceiptStatus.SETTLED:
                self.state.update(job.job_id, state="settled", settle_tx=status.get("tx_hash"))
                log.info("job %d settled in tx %s", job.job_id, status.get("tx_hash"))
                self._at_risk_said.pop(job.job_id, None)
                moved = True
            elif status.get("status") == ReceiptStatus.REJECTED:
                self.state.update(job.job_id, state="rejected", reason=status.get("reason"))
                log.error("job %d: the oracle rejected the receipt: %s", job.job_id, status.get("reason"))
                self._at_risk_said.pop(job.job_id, None)
                moved = True
            else:
                self.state.update(job.job_id)
        self._warn_at_risk(now)
        return moved

    def _warn_at_risk(self, now: float) -> None:
        """Say loudly when a receipt is not settled and the job's on-chain deadline is near: past it the
        client can claim a timeout and the provider is not paid for the run."""
        for job in self.state.jobs("receipted", "submitted"):
            left = job.deadline - now
            if left > self.config.at_risk_seconds:
                continue
            if now - self._at_risk_said.get(job.job_id, -math.inf) < self.config.at_risk_every:
                continue
            self._at_risk_said[job.job_id] = now
            log.warning(
                "job %d: receipt at risk: %.0f s left before the job's on-chain deadline %d and it is not "
                "settled yet (%s); check the oracle and its node",
                job.job_id,
                left,
                job.deadline,
                "not acknowledged by the oracle" if job.state == "receipted" else "acknowledged, not settled",
            )

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
                result_hash = str(job.result_hash)
                uploaded = oracle.upload_result(
                    result_hash,
                    payload,
                    result_upload_headers(
                        self.verifier.domain, bytes(self.account.key), job.job_id, result_hash
                    ),
                )
                if uploaded.kind == SubmitKind.RETRY:
                    self._retry_later(job, uploaded.detail)
                    return False
                if uploaded.kind == SubmitKind.REJECTED:
                    log.error(
                        "job %d: the oracle refused the result payload: %s", job.job_id, uploaded.detail
                    )
                self.state.update(job.job_id, payload_sent=1)
        answer = oracle.submit(job.submission)
        if answer.kind == SubmitKind.RETRY:
            self._retry_later(job, answer.detail)
            return False
        if answer.kind == SubmitKind.ACK:
            self.state.update(job.job_id, state="submitted")
            log.info("job %d: receipt acknowledged by the oracle (%s)", job.job_id, answer.body.get("status"))
        elif answer.kind == SubmitKind.SETTLED:
            self.state.update(job.job_id, state="settled")
            log.info("job %d: already settled: %s", job.job_id, answer.detail)
        else:
            self.state.update(job.job_id, state="rejected", reason=answer.detail)
            log.error("job %d: the oracle rejected the receipt: %s", job.job_id, answer.detail)
        return True
