"""GPU evidence from NVIDIA's NVML (nvidia-ml-py, imported as `pynvml`): names, UUIDs and utilisation.

Everything here degrades to "no evidence" with a stated reason when there is no driver, no GPU or no
pynvml: a CPU-only worker is a normal configuration, not an error.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["GpuInfo", "GpuMonitor", "probe_gpus"]

log = logging.getLogger("gpusettle.worker.nvml")


@dataclass(frozen=True)
class GpuInfo:
    """One GPU as the driver describes it."""

    index: int
    name: str
    uuid: str
    memory_gb: int


def _nvml() -> Any:
    import pynvml

    pynvml.nvmlInit()
    return pynvml


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def probe_gpus() -> tuple[list[GpuInfo], str | None]:
    """The GPUs NVML sees, or ([], why not)."""
    try:
        nvml = _nvml()
    except ImportError:
        return [], "nvidia-ml-py (pynvml) is not installed"
    except Exception as exc:  # noqa: BLE001 - NVMLError_LibraryNotFound, DriverNotLoaded, ...
        return [], f"NVML is not available ({type(exc).__name__}: {exc})"
    try:
        gpus = []
        for index in range(int(nvml.nvmlDeviceGetCount())):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            gpus.append(
                GpuInfo(
                    index=index,
                    name=_text(nvml.nvmlDeviceGetName(handle)),
                    uuid=_text(nvml.nvmlDeviceGetUUID(handle)),
                    memory_gb=max(1, round(int(memory.total) / 2**30)),
                )
            )
        return gpus, None if gpus else "NVML found no GPU"
    except Exception as exc:  # noqa: BLE001
        return [], f"NVML failed ({type(exc).__name__}: {exc})"
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:  # noqa: BLE001, S110 - shutting down a library that failed
            pass


@dataclass
class GpuMonitor:
    """Samples the utilisation of a job's GPUs (`indices`, else the first `count`) while it runs."""

    count: int
    indices: list[int] | None = None
    """The NVML indices of the work's own GPUs (its slots); None: the first `count`."""
    interval: float = 0.5
    gpus: list[GpuInfo] = field(default_factory=list)
    reason: str | None = None
    samples: list[float] = field(default_factory=list)
    on_sample: Callable[[int, float, int], None] | None = None
    """Called per GPU and sample with (index, utilisation %, memory used in bytes): the worker's /metrics."""
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> GpuMonitor:
        """Probe the GPUs and start sampling (nothing happens without NVML)."""
        found, self.reason = probe_gpus()
        if self.indices is not None:
            self.gpus = [g for g in found if g.index in self.indices]
        else:
            self.gpus = found[: self.count]
        if not self.gpus:
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, name="nvml-sampler", daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        try:
            nvml = _nvml()
        except Exception as exc:  # noqa: BLE001
            self.reason = f"NVML stopped working ({exc})"
            return
        try:
            handles = [nvml.nvmlDeviceGetHandleByIndex(g.index) for g in self.gpus]
            while not self._stop.is_set():
                try:
                    rates = [float(nvml.nvmlDeviceGetUtilizationRates(h).gpu) for h in handles]
                    self.samples.append(sum(rates) / len(rates))
                    if self.on_sample is not None:
                        for gpu, handle, rate in zip(self.gpus, handles, rates, strict=True):
                            used = int(nvml.nvmlDeviceGetMemoryInfo(handle).used)
                            self.on_sample(gpu.index, rate, used)
                except Exception as exc:  # noqa: BLE001 - one failed sample is not fatal
                    log.debug("NVML sample failed: %s", exc)
                self._stop.wait(self.interval)
        finally:
            try:
                nvml.nvmlShutdown()
            except Exception:  # noqa: BLE001, S110
                pass

    def stop(self) -> dict[str, Any]:
        """Stop sampling; ReceiptEvidence fields (gpu_names, gpu_uuids, mean_utilisation)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        out: dict[str, Any] = {
            "gpu_names": [g.name for g in self.gpus],
            "gpu_uuids": [g.uuid for g in self.gpus],
        }
        if self.samples:
            out["mean_utilisation"] = min(100.0, max(0.0, sum(self.samples) / len(self.samples)))
        return out
