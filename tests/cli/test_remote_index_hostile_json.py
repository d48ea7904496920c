"""Attack review of 2026-12-03 (failing at 499f7f0, passing from the commit that adds this file): a remote explorer (`--index URL`) answering hostile JSON.

- Wrong shapes (a list where an object belongs, a row missing fields) surface as "unexpected TypeError /
  ValidationError ... this is a bug in gpusettle; report it" instead of an error naming the explorer (as an HTTP
  error or a non-JSON answer already do): the user is told to report a bug in the CLI for someone else's server.
- `token_decimals` is an unbounded int: an answer of 1,000,000,000 makes `market offers` compute 10**decimals
  (a 415 MB integer) and hang for a very long time at 100% CPU instead of refusing the answer.

No chain and no server: answers are served through `request_bounded`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gpusettle.cli.main import cli
from gpusettle.index import source

ROOT = Path(__file__).resolve().parents[2]

STATS: dict[str, Any] = {
    "last_block": 1, "offers_active": 1, "gpus_offered": 4, "providers": 1, "jobs": 0, "jobs_by_status": {},
    "gpu_hours_settled": 0.0, "value_settled": "0", "fees": "0", "gpu_hours_by_day": [], "value_by_day": [],
    "price_by_family": [], "gas_per_settled_job": None, "settlement_txs": 0, "token_decimals": 18,
    "token_symbol": "TOK",
}  # fmt: skip


@pytest.fixture(autouse=True)
def isolation() -> None:
    """No chain."""


def _serve(monkeypatch: pytest.MonkeyPatch, answers: dict[str, Any]) -> None:
    def answer(_client: Any, _method: str, url: str, **_kw: Any) -> tuple[int, bytes]:
        return 200, json.dumps(answers[url.split("explorer.test", 1)[1]]).encode()

    monkeypatch.setattr(source, "request_bounded", answer)


@pytest.mark.parametrize(
    ("command", "answers"),
    [
        (["market", "providers"], {"/api/stats": STATS, "/api/providers": [1, 2]}),
        (["market", "offers"], {"/api/stats": STATS, "/api/offers": {"total": 1, "offers": [{"offer_id": 1}]}}),
        (["market", "stats"], {"/api/stats": []}),
    ],
)
def test_a_malformed_answer_is_blamed_on_the_explorer_not_reported_as_a_cli_bug(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, command: list[str], answers: dict[str, Any]
) -> None:
    _serve(monkeypatch, answers)
    r = CliRunner().invoke(cli, [*command, "--index", "http://explorer.test"], env={"GPUSETTLE_HOME": str(tmp_path)})
    assert r.exit_code == 1
    assert "bug in gpusettle" not in r.output, r.output
    assert "explorer.test" in r.output, r.output


_HANG = """
import json, sys
import gpusettle.index.source as source
from click.testing import CliRunner
from gpusettle.cli.main import cli
stats = json.loads(sys.argv[1])
offers = {"total": 1, "offers": [json.loads(sys.argv[3])]}
source.request_bounded = lambda _c, _m, url, **_k: (200, json.dumps(offers if url.endswith("/api/offers") else stats).encode())
r = CliRunner().invoke(cli, ["market", "offers", "--index", "http://explorer.test"], env={"GPUSETTLE_HOME": sys.argv[2]})
print(r.exit_code)
"""


def test_an_absurd_token_decimals_is_refused_not_computed(tmp_path: Path) -> None:
    stats = {**STATS, "token_decimals": 10**9}
    # One offer on the page: its per-GPU-hour price divides by 10**decimals. Killed after 30 s.
    try:
        done = subprocess.run(
            [sys.executable, "-c", _HANG, json.dumps(stats), str(tmp_path), json.dumps(_offer())],
            cwd=ROOT, capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail("`market offers` still computing 10**token_decimals after 30 s (the explorer said 10**9)")
    assert done.returncode == 0 and done.stdout.strip() == "1", done.stdout + done.stderr


def _offer() -> dict[str, Any]:
    return {
        "offer_id": 7, "provider": "0x" + "ab" * 20, "gpu_model": "H100", "gpu_family": "H100", "gpu_count": 4,
        "vram_gb": 80, "price_per_gpu_second": "1000", "price_per_gb": "12", "metadata_uri": "", "active": True,
        "gpu_class": "dedicated", "verified": None, "jobs_running": 0, "jobs_total": 0, "jobs_completed": 0,
        "jobs_failed": 0, "jobs_timed_out": 0, "disputes_lost": 0, "bonded": "1", "jailed": False,
    }  # fmt: skip
