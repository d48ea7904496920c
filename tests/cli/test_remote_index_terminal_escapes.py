"""Attack review of 2026-12-03 (failing at 499f7f0, passing from the commit that adds this file): strings a remote explorer (`--index URL`) answers reach the terminal raw. The CLI strips control
characters from the chain's strings (`shown`), but an OfferRow's gpu_class and provider, a ProviderRow's address,
and Stats' family names, status names and token symbol come from the explorer, are typed only `str`, and are
printed as given. A hostile explorer can send ESC sequences: `ESC[8m` conceals everything printed after it (in
`lease open --match` the offer's gpu_class is printed just before the lease's terms and the "Send this
transaction?" prompt), `ESC[2J` clears the screen, OSC retitles the terminal.

No chain and no server: the explorer's answers are served through `request_bounded`; the runner keeps colour
codes, as a terminal would (click strips them only when stdout is not a terminal)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from gpusettle.cli.main import cli
from gpusettle.index import source

ESC = "\x1b[8m"  # SGR 8: conceal every character printed after it

OFFER = {
    "offer_id": 7, "provider": "0x" + "ab" * 20, "gpu_model": "NVIDIA H100", "gpu_family": "H100", "gpu_count": 4,
    "vram_gb": 80, "price_per_gpu_second": "1000", "price_per_gb": "12", "metadata_uri": "", "active": True,
    "gpu_class": ESC + "dedicated", "verified": None, "jobs_running": 0, "jobs_total": 0, "jobs_completed": 0,
    "jobs_failed": 0, "jobs_timed_out": 0, "disputes_lost": 0, "bonded": "1", "jailed": False,
}  # fmt: skip
STATS = {
    "last_block": 1, "offers_active": 1, "gpus_offered": 4, "providers": 1, "jobs": 1,
    "jobs_by_status": {ESC + "Open": 1}, "gpu_hours_settled": 0.0, "value_settled": "0", "fees": "0",
    "gpu_hours_by_day": [], "value_by_day": [],
    "price_by_family": [{"family": ESC + "H100", "offers": 1, "min_price": "1", "mean_price": "1", "max_price": "1"}],
    "gas_per_settled_job": None, "settlement_txs": 0, "token_decimals": 18, "token_symbol": "TOK" + ESC,
}  # fmt: skip
PROVIDER = {
    "address": "0x" + "ab" * 20 + ESC, "worker": None, "bonded": "1", "unbonding": "0", "locked": "0", "jailed": False,
    "jobs_completed": 0, "jobs_failed": 0, "jobs_timed_out": 0, "disputes_lost": 0, "gpu_seconds_served": 0,
    "earned": "0", "withdrawn": "0", "slashed": "0", "offers": 1, "since": 0,
}  # fmt: skip


@pytest.fixture(autouse=True)
def isolation() -> None:
    """No chain."""


@pytest.fixture(autouse=True)
def hostile_explorer(monkeypatch: pytest.MonkeyPatch) -> None:
    def answer(_client: Any, _method: str, url: str, **_kw: Any) -> tuple[int, bytes]:
        path = url.split("explorer.test", 1)[1]
        body = {"/api/offers": {"total": 1, "offers": [OFFER]}, "/api/stats": STATS,
                "/api/providers": {"providers": [PROVIDER]}}[path]  # fmt: skip
        return 200, json.dumps(body).encode()

    monkeypatch.setattr(source, "request_bounded", answer)


@pytest.mark.parametrize("command", [["market", "offers"], ["market", "providers"], ["market", "stats"]])
def test_a_remote_explorers_strings_reach_the_terminal_without_escape_sequences(
    command: list[str], tmp_path: Any
) -> None:
    r = CliRunner().invoke(
        cli, [*command, "--index", "http://explorer.test"], env={"GPUSETTLE_HOME": str(tmp_path)}, color=True
    )
    assert r.exit_code == 0, r.output
    assert "\x1b" not in r.output, f"escape sequence from the explorer printed raw: {r.output!r}"
