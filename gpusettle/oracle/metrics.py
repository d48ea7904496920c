"""The oracle's Prometheus metrics, on a registry of their own (so several oracles can share a process
in tests)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["OracleMetrics"]


class _StatusCollector(Collector):
    def __init__(self, counts: Callable[[], dict[str, int]]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "gpusettle_oracle_receipts", "Receipts in the store by status", labels=["status"]
        )
        try:
            counts = self._counts()
        except Exception:  # noqa: BLE001 - a scrape must not fail because the store is busy
            counts = {}
        for status, count in sorted(counts.items()):
            family.add_metric([status], count)
        yield family


class OracleMetrics:
    """Counters, histograms and gauges the oracle updates as it works."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.intake = Counter(
            "gpusettle_oracle_intake_total", "Receipt submissions by result", ["result"], registry=r
        )
        self.intake_latency = Histogram(
            "gpusettle_oracle_intake_seconds",
            "Time from request to acknowledgement (durable commit included)",
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=r,
        )
        self.verified = Counter(
            "gpusettle_oracle_verifications_total",
            "Background verifications by verdict",
            ["verdict"],
            registry=r,
        )
        self.batches = Counter(
            "gpusettle_oracle_batches_total", "settleBatch transactions by outcome", ["outcome"], registry=r
        )
        self.settled = Counter("gpusettle_oracle_settled_total", "Receipts confirmed settled", registry=r)
        self.fee_bumps = Counter("gpusettle_oracle_fee_bumps_total", "Replacement transactions", registry=r)
        self.fee_cap_reached = Counter(
            "gpusettle_oracle_fee_cap_reached_total",
            "Batches still unmined with their fee at the configured cap (raise --max-fee-cap or wait)",
            registry=r,
        )
        self.reorgs = Counter(
            "gpusettle_oracle_reorged_total", "Mined batch transactions a reorganisation removed", registry=r
        )
        self.fraud_reports = Counter(
            "gpusettle_oracle_fraud_reports_total", "Fraud reports by outcome", ["outcome"], registry=r
        )
        self.gas_per_receipt = Histogram(
            "gpusettle_oracle_gas_per_receipt",
            "Gas used per settled receipt in a batch",
            buckets=(5_000, 10_000, 20_000, 30_000, 50_000, 75_000, 100_000, 200_000),
            registry=r,
        )
        self.store_errors = Counter(
            "gpusettle_oracle_store_errors_total", "Writes the store could not commit", registry=r
        )
        self.in_flight = Gauge(
            "gpusettle_oracle_batches_in_flight", "Batches sent and not yet confirmed", registry=r
        )

        self.heartbeats = Counter(
            "gpusettle_oracle_heartbeats_total",
            "Lease heartbeat submissions by result",
            ["result"],
            registry=r,
        )
        self.heartbeat_latency = Histogram(
            "gpusettle_oracle_heartbeat_seconds",
            "Time from heartbeat request to acknowledgement (durable commit included)",
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=r,
        )
        self.probes = Counter(
            "gpusettle_oracle_probes_total", "Lease probes by outcome", ["outcome"], registry=r
        )
        self.checkpoints = Counter(
            "gpusettle_oracle_checkpoints_total", "Lease checkpoints by outcome", ["outcome"], registry=r
        )
        self.hardware_checks = Counter(
            "gpusettle_oracle_hardware_checks_total",
            "Scheduled hardware checks by outcome (passed, failed, error: not run, the node could not serve it)",
            ["outcome"],
            registry=r,
        )
        self.hardware_checked_at = Gauge(
            "gpusettle_oracle_hardware_checked_at",
            "When this oracle's latest hardware check of an offer finished (unix seconds)",
            ["offer"],
            registry=r,
        )
        self.hardware_passed = Gauge(
            "gpusettle_oracle_hardware_passed",
            "Whether this oracle's latest hardware check of an offer passed (1) or failed (0)",
            ["offer"],
            registry=r,
        )
        self.hardware_records = Counter(
            "gpusettle_oracle_hardware_records_total",
            "Hardware verdicts sent to the registry by outcome (recorded, refused, expired)",
            ["outcome"],
            registry=r,
        )

    def watch_store(self, counts: Callable[[], dict[str, int]]) -> None:
        """Report receipts by status from the store at each scrape."""
        self.registry.register(_StatusCollector(counts))
