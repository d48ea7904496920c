"""Which GPUs serve which job or lease: one worker runs all of its provider's work on this machine at
once, each piece on its own GPUs.

The chain decides how many GPUs a job or lease gets (the count it reserved on the offer, never more
than the offer's GPUs); this module decides which ones. The assignment lives in the worker's SQLite
state (table `gpu_slots`, one row per busy slot) and every change happens inside one BEGIN IMMEDIATE
transaction, so two threads (or a restarted worker) can never hand the same GPU to two owners, and a
restart finds each owner's GPUs where it left them.

Slots are the GPU indices NVML reports; a machine without GPUs has one slot (its CPU) unless the
development option `--simulate-gpus N` (alias `--dev-gpu-slots N`) declares N fake slots.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ..errors import GpusettleError
from .nvml import probe_gpus
from .state import WorkerState

__all__ = ["SlotScheduler", "detect_slots", "job_owner", "lease_owner"]

log = logging.getLogger("gpusettle.worker.slots")


def job_owner(job_id: int) -> str:
    """The slot owner name of a job."""
    return f"job:{job_id}"


def lease_owner(lease_id: int) -> str:
    """The slot owner name of a lease."""
    return f"lease:{lease_id}"


def detect_slots(dev_slots: int | None = None) -> tuple[tuple[int, ...], str, bool]:
    """(slot indices, what they are, whether they are real CUDA devices): NVML's GPUs; else
    `dev_slots` fake slots (development); else the one CPU slot (`CPU_SLOTS`)."""
    gpus, why = probe_gpus()
    if gpus:
        return tuple(g.index for g in gpus), f"{len(gpus)} GPU(s) via NVML", True
    if dev_slots:
        return tuple(range(dev_slots)), f"{dev_slots} simulated GPU slot(s) (development; {why})", False
    return CPU_SLOTS, f"one CPU slot ({why})", False


CPU_SLOTS = (0,)
"""The slots of a machine without GPUs or development slots: the CPU, shared by its work as before
(a CPU offer's "GPU" count only scales its price)."""


@dataclass
class SlotScheduler:
    """Disjoint GPU sets for jobs and leases, durable in the worker's state."""

    state: WorkerState
    slots: tuple[int, ...]
    real_gpus: bool = False
    """The slots are CUDA device indices (else fake slots or the CPU: no device is bound)."""
    cpu_only: bool = False
    """The one CPU slot: work takes one slot whatever GPU count it reserved, one at a time."""

    def __post_init__(self) -> None:
        if not self.slots or len(set(self.slots)) != len(self.slots):
            raise GpusettleError(
                f"the GPU slots {list(self.slots)} are empty or repeat an index",
                "give each GPU once (or --simulate-gpus N for N development slots)",
            )

    def need(self, count: int) -> int:
        """The slots work that reserved `count` GPUs takes here."""
        return 1 if self.cpu_only else max(count, 1)

    def fits(self, count: int) -> bool:
        """Whether work that reserved `count` GPUs can ever run here."""
        return self.need(count) <= self.capacity

    @property
    def capacity(self) -> int:
        """How many slots this machine has."""
        return len(self.slots)

    def acquire(self, owner: str, count: int) -> list[int] | None:
        """`count` free slots for `owner`, recorded before they are returned; the slots it already
        holds when it has some (a restart, a second call); None while not enough are free.
        GpusettleError when `count` exceeds the machine (the work can never run here)."""
        if count < 1 or count > self.capacity:
            raise GpusettleError(
                f"{owner} needs {count} GPU slot(s); this machine has {self.capacity}",
                "offer no more GPUs than the machine has (or start the worker with more slots)",
            )
        conn = self.state.immediate()
        try:
            rows = conn.execute("SELECT slot, owner FROM gpu_slots").fetchall()
            mine = sorted(int(s) for s, o in rows if o == owner)
            if mine:
                conn.execute("COMMIT")
                return mine
            busy = {int(s) for s, _ in rows}
            free = [s for s in self.slots if s not in busy]
            if len(free) < count:
                conn.execute("ROLLBACK")
                return None
            chosen = free[:count]
            now = time.time()
            conn.executemany(
                "INSERT INTO gpu_slots (slot, owner, assigned_at) VALUES (?, ?, ?)",
                [(s, owner, now) for s in chosen],
            )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        log.info("%s: GPU slot(s) %s", owner, ",".join(map(str, chosen)))
        return chosen

    def release(self, owner: str) -> list[int]:
        """Free `owner`'s slots; the slots freed."""
        freed = self.assigned(owner)
        self.state.execute("DELETE FROM gpu_slots WHERE owner = ?", (owner,))
        if freed:
            log.info("%s: released GPU slot(s) %s", owner, ",".join(map(str, freed)))
        return freed

    def assigned(self, owner: str) -> list[int]:
        """The slots `owner` holds (empty: none)."""
        rows = self.state.execute("SELECT slot FROM gpu_slots WHERE owner = ? ORDER BY slot", (owner,))
        return [int(r[0]) for r in rows]

    def assignment(self) -> dict[str, list[int]]:
        """Every owner with its slots."""
        out: dict[str, list[int]] = {}
        for slot, owner in self.state.execute("SELECT slot, owner FROM gpu_slots ORDER BY slot"):
            out.setdefault(str(owner), []).append(int(slot))
        return out

    def free(self) -> list[int]:
        """The slots nobody holds."""
        busy = {s for slots in self.assignment().values() for s in slots}
        return [s for s in self.slots if s not in busy]

    def reconcile(self, live: Callable[[str], bool]) -> list[str]:
        """After a restart: free the slots of owners whose work is over (`live(owner)` False)."""
        gone = [owner for owner in self.assignment() if not live(owner)]
        for owner in gone:
            self.release(owner)
        return gone

    @staticmethod
    def visible_devices(slots: Iterable[int]) -> str:
        """The CUDA_VISIBLE_DEVICES value of a workload on `slots`."""
        return ",".join(str(s) for s in sorted(slots))

    def env_for(self, slots: Sequence[int]) -> dict[str, str]:
        """The environment additions of a workload on `slots`."""
        return {"CUDA_VISIBLE_DEVICES": self.visible_devices(slots)}
