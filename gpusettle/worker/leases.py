"""Leases: a client's long-running service on this machine's GPUs, billed per second while it runs.

The supervisor follows this provider's leases through a `LeaseChainView`:

- an Open lease is accepted when its spec is published and matches its hash, its workload is a
  command this worker may run, the owner does not need the GPUs (availability.py) and its GPUs are
  free (slots.py); otherwise it is declined with the reason, or left to wait while its GPUs are busy;
- the service starts at acceptance on the lease's own GPUs (CUDA_VISIBLE_DEVICES), in its own process
  group, and is restarted with exponential backoff whenever it dies (each death is down time the
  heartbeats report, and the client does not pay for it);
- it is stopped at the first of runway end, close, end time or reclaim (what the chain view says),
  and its GPUs are freed.

The local table `leases` remembers each lease's state; a service's process group is persisted
(procgroup.py) so a restarted worker kills what a crash left and starts the service again.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import GpusettleError
from ..models import CommandWorkload, JobSpec
from .heartbeat import LeaseLiveness
from .leasechain import LeaseChainView, LeaseInfo, LeaseStatus, stop_reason
from .procgroup import forget, kill_remembered, remember
from .service import LeaseService
from .slots import SlotScheduler, lease_owner
from .specstore import SpecUnavailable
from .state import WorkerState

__all__ = ["LIVE_STATES", "LeaseRow", "LeaseSupervisor"]

log = logging.getLogger("gpusettle.worker.leases")

LIVE_STATES = ("accepted", "running")


@dataclass(frozen=True)
class LeaseRow:
    """One row of the worker's `leases` table."""

    lease_id: int
    state: str
    """new, accepted, running, ended, declined or skipped."""
    offer_id: int
    gpu_count: int
    spec_hash: str
    restarts: int
    last_seq: int
    reason: str | None


@dataclass
class LeaseSupervisor:
    """Accepts, runs and stops this provider's leases (see the module docstring)."""

    state: WorkerState
    slots: SlotScheduler
    chain: LeaseChainView
    fetch_spec: Callable[[str], JobSpec]
    """The spec with this hash (SpecUnavailable while not published, ValueError when it does not match)."""
    data_dir: Path
    allow_command: bool = False
    accept_margin: float = 5.0
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    stable_after: float = 60.0
    wrap: Callable[[list[str], list[int], Path], list[str]] | None = None
    """Turns a service's argv into the command line that runs it (the sandbox); None: as it is."""
    base_env: Mapping[str, str] | None = None
    """The environment services start from (default: the worker's)."""
    refuse_new: Callable[[], str | None] | None = None
    """Why no new lease is accepted now (the owner needs the GPUs, outside the schedule), or None."""
    offer_check: Callable[[int], str | None] | None = None
    """Why this machine cannot honour an offer (worker.preflight), or None."""
    services: dict[int, LeaseService] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    # -- the table -------------------------------------------------------------------------------------

    def row(self, lease_id: int) -> LeaseRow | None:
        """The local record of a lease."""
        rows = self.state.execute(
            "SELECT lease_id, state, offer_id, gpu_count, spec_hash, restarts, last_seq, reason "
            "FROM leases WHERE lease_id = ?",
            (lease_id,),
        )
        return LeaseRow(*rows[0]) if rows else None

    def rows(self, *states: str) -> list[LeaseRow]:
        """Local records in any of `states`."""
        marks = ", ".join("?" for _ in states)
        rows = self.state.execute(
            "SELECT lease_id, state, offer_id, gpu_count, spec_hash, restarts, last_seq, reason "
            f"FROM leases WHERE state IN ({marks}) ORDER BY lease_id",
            states,
        )
        return [LeaseRow(*r) for r in rows]

    def _set(self, lease_id: int, **fields: object) -> None:
        fields["updated_at"] = time.time()
        names = ", ".join(f"{k} = ?" for k in fields)
        self.state.execute(f"UPDATE leases SET {names} WHERE lease_id = ?", (*fields.values(), lease_id))

    def _ensure_row(self, info: LeaseInfo) -> LeaseRow:
        now = time.time()
        self.state.execute(
            "INSERT OR IGNORE INTO leases (lease_id, state, offer_id, gpu_count, spec_hash, created_at, "
            "updated_at) VALUES (?, 'new', ?, ?, ?, ?, ?)",
            (info.lease_id, info.offer_id, info.gpu_count, info.spec_hash, now, now),
        )
        row = self.row(info.lease_id)
        assert row is not None
        return row

    # -- the loop --------------------------------------------------------------------------------------

    def recover(self) -> None:
        """After a restart: kill what a crash left of each service (it starts again on the next tick)
        and free the GPU slots of leases that are over."""
        for row in self.rows(*LIVE_STATES):
            kill_remembered(self.state, lease_owner(row.lease_id))
        live = {lease_owner(r.lease_id) for r in self.rows(*LIVE_STATES)}
        self.slots.reconcile(lambda owner: not owner.startswith("lease:") or owner in live)

    def tick(self) -> bool:
        """One pass over this provider's leases; True when something changed."""
        with self._lock:
            now = self.chain.now()
            moved = False
            seen: set[int] = set()
            for info in self.chain.leases():
                seen.add(info.lease_id)
                row = self._ensure_row(info)
                if info.status == LeaseStatus.OPEN:
                    if row.state == "new":
                        moved = self._consider(info, now) or moved
                elif row.state in ("new", *LIVE_STATES):
                    moved = self._keep(info, now) or moved
            for row in self.rows(*LIVE_STATES):
                if row.lease_id not in seen:
                    moved = self._keep(self.chain.lease(row.lease_id), now) or moved
            return moved

    def _consider(self, info: LeaseInfo, now: int) -> bool:
        lid = info.lease_id
        late = now > info.accept_by - self.accept_margin
        refusal = self.refuse_new() if self.refuse_new is not None else None
        if refusal is None and self.offer_check is not None:
            refusal = self.offer_check(info.offer_id)
        if refusal is not None:
            return self._decline(info, refusal)
        try:
            spec = self.fetch_spec(info.spec_hash)
        except SpecUnavailable:
            if late:
                return self._decline(info, "the lease's spec was never published")
            return False
        except ValueError as exc:
            return self._decline(info, str(exc))
        if not isinstance(spec.workload, CommandWorkload):
            return self._decline(info, f"a lease runs a command service; this spec is a {spec.kind} workload")
        if not self.allow_command:
            return self._decline(
                info, "this worker does not run client commands (start it with --allow-command)"
            )
        owner = lease_owner(lid)
        try:
            gpus = self.slots.acquire(owner, self.slots.need(info.gpu_count))
        except GpusettleError as exc:
            return self._decline(info, str(exc))
        if gpus is None:
            if late:
                return self._decline(
                    info, f"its {info.gpu_count} GPU(s) stayed busy until its acceptance deadline"
                )
            return False
        if late:
            self.slots.release(owner)
            self._set(lid, state="skipped", reason="acceptance deadline too close or passed")
            return True
        self.state.set_meta(f"lease-spec:{lid}", spec.canonical_json().decode())
        try:
            self.chain.accept(lid)
        except GpusettleError as exc:
            self.slots.release(owner)
            self._set(lid, state="skipped", reason=f"accept refused: {exc}")
            log.warning("lease %d: cannot accept: %s", lid, exc)
            return True
        self._set(lid, state="accepted")
        log.info("lease %d accepted: %d GPU(s) on slot(s) %s", lid, info.gpu_count, gpus)
        self._start(lid, gpus, spec)
        return True

    def _decline(self, info: LeaseInfo, reason: str) -> bool:
        log.warning("lease %d: declining: %s", info.lease_id, reason)
        try:
            self.chain.decline(info.lease_id)
        except GpusettleError as exc:
            log.warning("lease %d: decline failed: %s", info.lease_id, exc)
        self._set(info.lease_id, state="declined", reason=reason)
        return True

    def _keep(self, info: LeaseInfo, now: int) -> bool:
        """A lease accepted on-chain: keep its service running until it must stop."""
        lid = info.lease_id
        why = stop_reason(info, now)
        if why is not None:
            self._end(lid, why)
            return True
        row = self.row(lid)
        if row is not None and row.state != "running":
            self._set(lid, state="running")
        service = self.services.get(lid)
        if service is not None:
            return False
        gpus = self.slots.acquire(lease_owner(lid), self.slots.need(info.gpu_count))
        if gpus is None:
            log.error("lease %d: its GPUs are held by other work; the service waits", lid)
            return False
        text = self.state.get_meta(f"lease-spec:{lid}")
        try:
            spec = JobSpec.model_validate_json(text) if text else self.fetch_spec(info.spec_hash)
        except (SpecUnavailable, ValueError) as exc:
            log.error("lease %d: its spec cannot be read (%s); the service waits", lid, exc)
            return False
        self._set(lid, state="running")
        self._start(lid, gpus, spec)
        return True

    def _start(self, lease_id: int, gpus: list[int], spec: JobSpec) -> None:
        assert isinstance(spec.workload, CommandWorkload)
        work_dir = self.data_dir / "leases" / str(lease_id)
        argv = list(spec.workload.argv)
        if self.wrap is not None:
            argv = self.wrap(argv, gpus, work_dir)
        env = {**(os.environ if self.base_env is None else self.base_env), **self.slots.env_for(gpus)}
        owner = lease_owner(lease_id)

        def started(pgid: int) -> None:
            remember(self.state, owner, pgid)

        def exited(code: int | None, delay: float) -> None:
            del code, delay
            forget(self.state, owner)
            self.state.execute("UPDATE leases SET restarts = restarts + 1 WHERE lease_id = ?", (lease_id,))

        service = LeaseService(
            lease_id,
            argv,
            work_dir,
            env,
            on_start=started,
            on_exit=exited,
            backoff_base=self.backoff_base,
            backoff_cap=self.backoff_cap,
            stable_after=self.stable_after,
        )
        self.services[lease_id] = service.start()
        log.info("lease %d: service started on GPU slot(s) %s", lease_id, SlotScheduler.visible_devices(gpus))

    def _end(self, lease_id: int, why: str) -> None:
        service = self.services.pop(lease_id, None)
        if service is not None:
            service.stop()
        owner = lease_owner(lease_id)
        kill_remembered(self.state, owner)
        forget(self.state, owner)
        self.slots.release(owner)
        self._set(lease_id, state="ended", reason=why)
        log.info("lease %d: service stopped: %s", lease_id, why)

    def liveness(self) -> list[LeaseLiveness]:
        """Each lease running on-chain and not ended here, with its GPUs and whether its service runs
        now (what the heartbeats report: a lease whose service is down between restarts beats "down").
        A lease only just accepted waits for the chain to say Running: the oracles refuse others."""
        out = []
        for row in self.rows("running"):
            service = self.services.get(row.lease_id)
            pid = service.pid if service is not None else None
            out.append(
                LeaseLiveness(
                    row.lease_id, self.slots.assigned(lease_owner(row.lease_id)), pid, pid is not None
                )
            )
        return out

    def slots_of(self, lease_id: int) -> list[int] | None:
        """The GPUs of a lease this worker serves now (the probe endpoint's question), else None."""
        row = self.row(lease_id)
        if row is None or row.state not in LIVE_STATES:
            return None
        return self.slots.assigned(lease_owner(lease_id)) or None

    def reclaim(self, lease_id: int) -> None:
        """reclaimLease on-chain; the service keeps running until the notice ends billing."""
        self.chain.reclaim(lease_id)
        log.warning("lease %d: reclaimed (the owner needs the GPUs); it ends after its notice", lease_id)

    def stop_all(self) -> None:
        """Stop every service (the worker is stopping; the leases stay accepted)."""
        with self._lock:
            for lease_id in list(self.services):
                service = self.services.pop(lease_id)
                service.stop()
                forget(self.state, lease_owner(lease_id))
