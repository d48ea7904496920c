"""What a benchmark returns, and how it is printed and saved."""

from __future__ import annotations

import json
import os
import platform
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..atomicfile import write_atomic

__all__ = ["BenchOptions", "BenchReport", "format_table", "machine_info", "write_report"]


@dataclass(frozen=True)
class BenchOptions:
    """Settings every benchmark understands."""

    size: int | None = None
    """Override the benchmark's main size (for verify: the number of receipts)."""
    seed: int = 1
    """Seed for generated inputs, so runs are comparable."""
    out_dir: Path = Path("bench-results")
    """Where `<name>.json` is written."""


@dataclass
class BenchReport:
    """A benchmark's result: a table for people and a JSON document for tools and CI."""

    name: str
    title: str
    headers: list[str]
    rows: list[list[str]]
    data: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    ok: bool = True
    """False when the benchmark saw a wrong result (not merely a slow one)."""


def format_table(report: BenchReport) -> str:
    """The report as an aligned text table under its title, with its notes below."""
    widths = [len(h) for h in report.headers]
    for row in report.rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: list[str]) -> str:
        # First column left-aligned (a label), the rest right-aligned (numbers).
        parts = [cells[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join(parts).rstrip()

    out = [report.title, line(report.headers), line(["-" * w for w in widths])]
    out += [line(row) for row in report.rows]
    out += report.notes
    return "\n".join(out)


def machine_info() -> dict[str, Any]:
    """Where the numbers were measured."""
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for row in cpuinfo:
                if row.startswith("model name"):
                    return row.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def write_report(report: BenchReport, out_dir: Path) -> Path:
    """Write `<out_dir>/<name>.json` atomically and return its path."""
    path = out_dir / f"{report.name}.json"
    document = {"bench": report.name, **report.data, "notes": report.notes, "ok": report.ok}
    write_atomic(path, (json.dumps(document, indent=2) + "\n").encode("utf-8"), mode=0o644)
    return path
