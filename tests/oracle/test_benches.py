"""The oracle benchmarks run end to end at a small size and check their own results."""

from __future__ import annotations

import json
from pathlib import Path

from gpusettle.bench import BENCHES, BenchOptions
from gpusettle.bench.__main__ import main


def test_oracle_benches_are_registered() -> None:
    assert {"oracle_intake", "oracle_settle"} <= set(BENCHES)


def test_intake_bench_small(tmp_path: Path) -> None:
    assert main(["--only", "oracle_intake", "--size", "400", "--out", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / "oracle_intake.json").read_text())
    assert (
        doc["ok"] is True
        and doc["statuses"] == {"202": 400}
        and doc["stored"] == 400 + doc["warmup_receipts"]
    )
    assert doc["latency_ms"]["p99"] > 0 and doc["per_second"] > 0
    # The same receipts through two instances sharing a PostgreSQL server, measured in the same run.
    postgres = doc["postgres"]
    assert postgres["statuses"] == {"202": 400} and postgres["stored"] == 400 + doc["warmup_receipts"]
    assert doc["postgres_over_sqlite"] > 0 and doc["reference_recoveries_per_second"] > 0
    # Lease heartbeats in the same run, every one durable and acknowledged 202.
    beats = doc["heartbeats"]
    assert beats["statuses"] == {"202": 400} and beats["stored"] == 400 + doc["warmup_receipts"]
    assert beats["latency_ms"]["p99"] > 0 and doc["single_heartbeats_over_receipts"] > 0
    # And as workers send them, several to a request: each request 200, every heartbeat stored.
    batched = doc["heartbeat_batches"]
    assert batched["statuses"] == {"200": batched["requests"]} and 400 / 8 <= batched["requests"] <= 400
    assert batched["stored"] == 400 + doc["warmup_receipts"] and doc["heartbeats_over_receipts"] > 0


def test_settle_bench_small(tmp_path: Path) -> None:
    report = BENCHES["oracle_settle"](BenchOptions(size=20, out_dir=tmp_path))
    assert report.ok, report.notes
    assert report.data["settled"] == 20 and report.data["providers"] == 20
    assert report.data["blocks_used"] >= 1 and 10_000 < report.data["gas_per_job"] < 100_000
