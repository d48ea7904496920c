"""How long a `gpusettle` command takes to start, wall clock, as a person types it.

Measured: `gpusettle --version`, `gpusettle --help` (no command module is imported) and
`gpusettle job status 1` against a local anvil with the suite deployed and one job open (imports web3,
connects, reads the job). The reference beside them is this machine's bare interpreter start-up
(`python -c pass`) and `import click`, so a slow machine shows as slow references too.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .report import BenchOptions, BenchReport, machine_info

__all__ = ["run"]

RUNS = 7
TARGETS = {"--version": 0.3, "--help": 0.3, "job status": 1.0}
"""Seconds (median) each command should start and finish within."""


def _time(argv: list[str], env: dict[str, str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        res = subprocess.run(argv, env=env, capture_output=True, check=False, stdin=subprocess.DEVNULL)
        out.append(time.perf_counter() - t0)
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {res.stderr.decode(errors='replace')[-2000:]}")
    return out


def _gpusettle() -> list[str]:
    script = Path(sys.executable).parent / "gpusettle"
    return [str(script)] if script.exists() else [sys.executable, "-m", "gpusettle.cli"]


def _local_job(workdir: Path) -> tuple[Any, dict[str, str]]:
    """anvil with the suite deployed and one job open; the environment that points the CLI at it."""
    from eth_account import Account

    from ..devnet import Anvil, DevNet

    anvil = Anvil(log_path=workdir / "anvil.log").start()
    try:
        net = DevNet(anvil, workdir)
        keys = net.new_accounts(["provider", "client"], eth=10)
        net.deploy([Account.create().address])
        net.fund_tokens({keys["provider"].address: 1_000 * 10**18, keys["client"].address: 100 * 10**18})
        offer = net.setup_provider(
            keys["provider"],
            keys["provider"].address,
            stake=1_000 * 10**18,
            gpu_model="bench",
            gpu_count=1,
            vram_gb=1,
            price=10**12,
        )
        net.open_jobs(keys["client"], offer, 1, max_gpu_seconds=10, spec_hash=b"\x01" * 32)
    except BaseException:
        anvil.stop()
        raise
    assert net.record_path is not None
    env = {
        "GPUSETTLE_DEV_RPC_URL": anvil.url,
        "GPUSETTLE_DEPLOYMENT": str(net.record_path),
        "GPUSETTLE_HOME": str(workdir / "home"),
    }
    return anvil, env


def run(options: BenchOptions) -> BenchReport:
    """Median wall time of each command over RUNS runs, beside the interpreter's own start-up."""
    runs = options.size or RUNS
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPUSETTLE_")}
    gs = _gpusettle()
    measured: dict[str, list[float]] = {
        "python -c pass (reference)": _time([sys.executable, "-c", "pass"], env, runs),
        "python -c 'import click' (reference)": _time([sys.executable, "-c", "import click"], env, runs),
        "--version": _time([*gs, "--version"], env, runs),
        "--help": _time([*gs, "--help"], env, runs),
    }
    with tempfile.TemporaryDirectory(prefix="gpusettle-bench-startup-") as tmp:
        anvil, chain_env = _local_job(Path(tmp))
        try:
            measured["job status"] = _time([*gs, "job", "status", "1"], {**env, **chain_env}, runs)
        finally:
            anvil.stop()
    rows = []
    data: dict[str, Any] = {"runs": runs, "command": gs, "commands": {}, "machine": machine_info()}
    notes = []
    for name, times in measured.items():
        median = statistics.median(times)
        target = TARGETS.get(name)
        label = name if "reference" in name else f"gpusettle {name}"
        verdict = "" if target is None else ("met" if median <= target else "MISSED")
        rows.append(
            [
                label,
                f"{median * 1000:,.0f}",
                f"{min(times) * 1000:,.0f}",
                f"{target * 1000:,.0f}" if target else "",
                verdict,
            ]
        )
        data["commands"][name] = {
            "median_s": median,
            "min_s": min(times),
            "all_s": times,
            "target_s": target,
            "meets_target": None if target is None else median <= target,
        }
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    notes.append(
        f"wall clock per command, median of {runs} runs; load average {load:.2f} on "
        f"{os.cpu_count()} CPU(s) while measuring"
    )
    return BenchReport(
        name="startup",
        title="Command start-up time (ms)",
        headers=["command", "median", "min", "target", ""],
        rows=rows,
        data=data,
        notes=notes,
    )
