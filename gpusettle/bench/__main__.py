"""Run the benchmarks, print their tables and write bench-results/<name>.json."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from . import BENCHES
from .report import BenchOptions, format_table, write_report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gpusettle.bench", description=__doc__)
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(BENCHES),
        metavar="NAME",
        help=f"run only this benchmark (repeatable); one of: {', '.join(BENCHES)}",
    )
    parser.add_argument("--size", type=int, help="override each benchmark's main size (verify: receipts)")
    parser.add_argument("--seed", type=int, default=1, help="seed for generated inputs (default 1)")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("bench-results"),
        help="directory for the JSON results (default bench-results)",
    )
    args = parser.parse_args(argv)
    options = BenchOptions(size=args.size, seed=args.seed, out_dir=args.out)

    ok = True
    for name in args.only or list(BENCHES):
        report = BENCHES[name](options)
        print(format_table(report))
        print(f"wrote {write_report(report, options.out_dir)}\n")
        ok = ok and report.ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
