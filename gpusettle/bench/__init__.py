"""gpusettle's benchmarks: `python -m gpusettle.bench [--only NAME]`.

To add one, write a module with `run(options: BenchOptions) -> BenchReport` and list it in BENCHES.
"""

from __future__ import annotations

from collections.abc import Callable

from . import index_catchup, lease_checkpoints, oracle_intake, oracle_settle, sandbox, startup, verify
from .report import BenchOptions, BenchReport

__all__ = ["BENCHES", "BenchOptions", "BenchReport"]

BENCHES: dict[str, Callable[[BenchOptions], BenchReport]] = {
    "verify": verify.run,
    "oracle_intake": oracle_intake.run,
    "oracle_settle": oracle_settle.run,
    "lease_checkpoints": lease_checkpoints.run,
    "sandbox": sandbox.run,
    "startup": startup.run,
    "index": index_catchup.run,
}
"""Every benchmark by name, in the order `python -m gpusettle.bench` runs them."""
