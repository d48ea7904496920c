from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpusettle.bench import BENCHES, BenchOptions
from gpusettle.bench import verify as verify_bench
from gpusettle.bench.__main__ import main
from gpusettle.bench.report import BenchReport, format_table
from gpusettle.eip712 import ReceiptVerifier


def test_verify_bench_small_run(tmp_path: Path) -> None:
    report = verify_bench.run(BenchOptions(size=40, out_dir=tmp_path))
    assert report.ok
    assert report.data["fast"]["receipts"] == 40
    assert report.data["eth_account"]["receipts"] == 40  # the baseline subset is capped by the total
    assert report.data["fast"]["per_second"] > 0
    assert report.data["fast"]["all_correct"] and report.data["eth_account"]["all_correct"]


def test_signed_receipts_are_deterministic_and_verify() -> None:
    domain = ReceiptVerifier(verify_bench.CHAIN_ID, verify_bench.ESCROW).domain
    first = verify_bench.make_signed_receipts(10, seed=7, domain=domain)
    assert first == verify_bench.make_signed_receipts(10, seed=7, domain=domain)
    assert first != verify_bench.make_signed_receipts(10, seed=8, domain=domain)
    verifier = ReceiptVerifier(domain.chain_id, domain.verifying_contract)
    assert all(verifier.verify(receipt, sig) == signer for receipt, sig, signer in first)


def test_main_writes_json_and_prints_a_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert set(BENCHES) >= {"verify"}
    assert main(["--only", "verify", "--size", "25", "--out", str(tmp_path)]) == 0
    document = json.loads((tmp_path / "verify.json").read_text())
    assert document["bench"] == "verify" and document["receipts"] == 25 and document["ok"] is True
    out = capsys.readouterr().out
    assert "gpusettle ReceiptVerifier" in out and "verifications/s" in out


def test_wrong_recovery_fails_the_bench(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ReceiptVerifier, "verify", lambda self, receipt, sig: "0x" + "00" * 20)
    assert main(["--only", "verify", "--size", "5", "--out", str(tmp_path)]) == 1
    document = json.loads((tmp_path / "verify.json").read_text())
    assert document["ok"] is False and document["fast"]["all_correct"] is False


def test_unknown_bench_name_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--only", "nope"])
    assert "invalid choice" in capsys.readouterr().err


def test_format_table_aligns_columns() -> None:
    report = BenchReport(
        name="x",
        title="T",
        headers=["path", "n"],
        rows=[["a", "1"], ["longer", "1,000"]],
        data={},
        notes=["note"],
    )
    assert format_table(report).splitlines() == [
        "T",
        "path        n",
        "------  -----",
        "a           1",
        "longer  1,000",
        "note",
    ]
