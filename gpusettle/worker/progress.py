"""Progress while a job runs: a bar on a terminal, log lines otherwise."""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

__all__ = ["Progress"]

log = logging.getLogger("gpusettle.worker")


class Progress:
    """Call `update(fraction, message)` as the job advances and `close()` at the end."""

    def __init__(
        self, label: str, stream: TextIO | None = None, width: int = 30, every: float = 10.0
    ) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.every = every
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.started = time.monotonic()
        self._last_log = 0.0
        self._last_decile = -1
        self._drawn = False

    def update(self, fraction: float, message: str = "") -> None:
        """Report how far the job is (0 to 1)."""
        fraction = min(max(fraction, 0.0), 1.0)
        elapsed = time.monotonic() - self.started
        if self.tty:
            filled = round(fraction * self.width)
            bar = "#" * filled + "." * (self.width - filled)
            self.stream.write(
                f"\r{self.label} [{bar}] {fraction * 100:5.1f}% {elapsed:6.1f}s {message[:40]:<40}"
            )
            self.stream.flush()
            self._drawn = True
            return
        decile = int(fraction * 10)
        now = time.monotonic()
        if decile > self._last_decile or now - self._last_log >= self.every:
            self._last_decile = decile
            self._last_log = now
            log.info("%s: %.0f%% after %.1f s %s", self.label, fraction * 100, elapsed, message)

    def close(self, message: str = "done") -> None:
        """Finish the bar (or log the end)."""
        elapsed = time.monotonic() - self.started
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
        log.info("%s: %s after %.1f s", self.label, message, elapsed)


class WorkloadMetrics:
    """The running workload's resource use, for the progress line and the worker's /metrics."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Gauge

        self.registry = CollectorRegistry()
        labels = ["job"]
        self.cpu = Gauge(
            "gpusettle_worker_job_cpu_seconds", "CPU seconds used by the job", labels, registry=self.registry
        )
        self.memory = Gauge(
            "gpusettle_worker_job_memory_bytes",
            "Resident memory of the job's processes",
            labels,
            registry=self.registry,
        )
        self.processes = Gauge(
            "gpusettle_worker_job_processes", "Processes of the job", labels, registry=self.registry
        )
        self.disk = Gauge(
            "gpusettle_worker_job_disk_bytes",
            "Size of the job's work directory",
            labels,
            registry=self.registry,
        )
        self.gpu_util = Gauge(
            "gpusettle_worker_job_gpu_utilization",
            "GPU utilisation (NVML, percent)",
            [*labels, "gpu"],
            registry=self.registry,
        )
        self.gpu_memory = Gauge(
            "gpusettle_worker_job_gpu_memory_bytes",
            "GPU memory in use (NVML)",
            [*labels, "gpu"],
            registry=self.registry,
        )
        self.latest: dict[int, dict[str, float]] = {}

    def observe(
        self, job_id: int, cpu_seconds: float, rss_bytes: int, processes: int, disk_bytes: int
    ) -> None:
        """Record one sample of a job's use."""
        job = str(job_id)
        self.cpu.labels(job).set(cpu_seconds)
        self.memory.labels(job).set(rss_bytes)
        self.processes.labels(job).set(processes)
        self.disk.labels(job).set(disk_bytes)
        self.latest[job_id] = {
            "cpu_seconds": cpu_seconds,
            "rss_bytes": rss_bytes,
            "processes": processes,
            "disk_bytes": disk_bytes,
        }

    def observe_gpu(self, job_id: int, gpu: int, utilization: float, memory_bytes: int) -> None:
        """Record NVML's view of one of the job's GPUs."""
        self.gpu_util.labels(str(job_id), str(gpu)).set(utilization)
        self.gpu_memory.labels(str(job_id), str(gpu)).set(memory_bytes)

    def done(self, job_id: int) -> None:
        """The job ended: its series go away."""
        job = str(job_id)
        for gauge in (self.cpu, self.memory, self.processes, self.disk):
            try:
                gauge.remove(job)
            except KeyError:
                pass
        self.latest.pop(job_id, None)

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Serve /metrics (Prometheus text) on `host:port` from a daemon thread."""
        from prometheus_client import start_http_server

        start_http_server(port, addr=host, registry=self.registry)
