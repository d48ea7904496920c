"""The other processes of the oracle benchmarks: `python -m gpusettle.bench.oracle_procs serve|load`.

Kept apart from oracle_intake (which the benchmark registry imports) so that running it as a module
does not import it twice.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .oracle_intake import CONCURRENCY, load, serve

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """`serve`: the oracle's HTTP intake with a static chain view; `load`: replay receipts against it."""
    parser = argparse.ArgumentParser(prog="python -m gpusettle.bench.oracle_procs")
    sub = parser.add_subparsers(dest="role", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--data-dir", type=Path, required=True)
    s.add_argument("--workers", type=Path, required=True)
    s.add_argument("--synchronous", default="FULL")
    s.add_argument("--store", default=None, help="a postgresql:// DSN (default: SQLite in --data-dir)")
    s.add_argument("--leases", type=Path, default=None, help="lease id -> provider (JSON): take heartbeats")
    ld = sub.add_parser("load")
    ld.add_argument("--port", type=int, action="append", required=True, help="repeat for several servers")
    ld.add_argument("--bodies", type=Path, required=True)
    ld.add_argument("--out", type=Path, required=True)
    ld.add_argument("--concurrency", type=int, default=CONCURRENCY)
    ld.add_argument("--warmup", type=int, default=0)
    ld.add_argument("--path", default="/v1/receipts", help="/v1/receipts or /v1/heartbeats")
    args = parser.parse_args(argv)
    if args.role == "serve":
        serve(args.port, args.data_dir, args.workers, args.synchronous, args.store, args.leases)
    else:
        load(args.port, args.bodies, args.out, args.concurrency, args.warmup, args.path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
