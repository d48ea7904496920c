"""Is the owner using the GPUs? One look at them, as an `OwnerSample`.

On real GPUs (NVML): a compute or graphics process that neither the worker nor a workload it started
runs (ancestry, not sessions: a sandboxed workload has a session of its own below bubblewrap), or a
GPU no job or lease holds running above the utilisation threshold. On development slots a marker file
stands for a foreign GPU process, so the whole path can be tested on a machine without GPUs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["OwnerSample", "Sampler", "marker_sampler", "nvml_sampler", "owned_by"]

Sampler = Callable[[list[int], set[int], float], "OwnerSample"]
"""(slots jobs and leases hold, the process groups the worker started, utilisation threshold) -> sample."""


@dataclass(frozen=True)
class OwnerSample:
    """What one look at the GPUs found."""

    foreign: list[str] = field(default_factory=list)
    """GPU processes this worker did not start (a description each)."""
    busy: bool = False
    """A GPU no job or lease holds is above the utilisation threshold."""


def marker_sampler(marker: Path) -> Sampler:
    """Development slots: the file `marker` standing there is a foreign GPU process (its text, if any,
    describes it); there is no utilisation to read."""

    def sample(assigned: list[int], ours: set[int], threshold: float) -> OwnerSample:
        del assigned, ours, threshold
        if marker.exists():
            text = marker.read_text(errors="replace").strip()[:200]
            return OwnerSample(foreign=[text or f"owner-use marker {marker}"])
        return OwnerSample()

    return sample


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw.rpartition(")")[2].split()


def owned_by(pid: int, roots: set[int]) -> bool:
    """Whether `pid` is one of `roots`, in a process group of one, or descends from one: a sandboxed
    workload runs in a session of its own below bubblewrap, so only its ancestry ties it to the worker."""
    for _ in range(64):
        if pid in roots:
            return True
        fields = _stat(pid)
        if fields is None:
            return False
        parent, group = int(fields[1]), int(fields[2])
        if group in roots:
            return True
        if parent <= 1:
            return False
        pid = parent
    return False


def nvml_sampler(assigned: list[int], ours: set[int], threshold: float) -> OwnerSample:
    """NVML: compute and graphics processes that neither this worker nor a workload it started (the
    process groups in `ours`, and their descendants) runs, and utilisation above `threshold` on a GPU
    outside `assigned` (the slots jobs and leases hold)."""
    from .nvml import _nvml

    try:
        nvml = _nvml()
    except Exception:  # noqa: BLE001 - no NVML: nothing can be seen
        return OwnerSample()
    foreign: list[str] = []
    busy = False
    try:
        for index in range(int(nvml.nvmlDeviceGetCount())):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            procs: list[Any] = []
            for getter in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
                try:
                    procs += list(getattr(nvml, getter)(handle))
                except Exception:  # noqa: BLE001, S112 - a getter the driver lacks
                    continue
            for proc in procs:
                pid = int(proc.pid)
                if owned_by(pid, {*ours, os.getpid()}):
                    continue
                foreign.append(f"pid {pid} on GPU {index}")
            if index not in assigned:
                try:
                    busy = busy or float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu) > threshold
                except Exception:  # noqa: BLE001, S110 - a reading missing
                    pass
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:  # noqa: BLE001, S110
            pass
    return OwnerSample(foreign=foreign, busy=busy)
