"""The lease checkpoint benchmark (`make bench`) is registered and, run small, checkpoints every lease it
opened on anvil and reports the gas and blocks it took."""

from __future__ import annotations

from pathlib import Path

from gpusettle.bench import BENCHES, BenchOptions


def test_lease_checkpoint_bench_small(tmp_path: Path) -> None:
    report = BENCHES["lease_checkpoints"](BenchOptions(size=10, out_dir=tmp_path))
    assert report.ok, report.notes
    assert report.data["checkpointed"] == 10 and report.data["batches"] == 1
    assert 0 < report.data["gas_per_lease"] < 100_000
    assert report.data["blocks_used"] >= 1
    assert any(note.startswith("reference: ") for note in report.notes)
