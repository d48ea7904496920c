"""Refresh the packaged contract artifacts (`gpusettle/abi/*.json`) from brownie's build/contracts.

Usage: `python -m gpusettle.chain.export_abi [--check [--strict]]`. With --check nothing is written and
the exit status is 1 when the packaged ABIs differ from build/ (a stale copy after an interface change);
--strict compares the bytecode too (which also changes with comments, through the metadata hash).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .abi import CONTRACT_NAMES, PACKAGE_ABI_DIR, build_dir_candidates

__all__ = ["exported", "main"]


def _find_build(name: str) -> Path:
    for directory in build_dir_candidates():
        path = directory / f"{name}.json"
        if path.is_file():
            return path
    raise SystemExit(f"no build/contracts/{name}.json found: run `brownie compile` first")


def exported(name: str) -> dict[str, Any]:
    """The packaged form of contract `name`: ABI, creation and runtime bytecode, compiler version."""
    data = json.loads(_find_build(name).read_text(encoding="utf-8"))
    return {
        "contractName": name,
        "compiler": {"version": data["compiler"]["version"]},
        "abi": data["abi"],
        "bytecode": data["bytecode"],
        "deployedBytecode": data["deployedBytecode"],
    }


def _render(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check, compare) every packaged artifact; returns the exit status."""
    args = sys.argv[1:] if argv is None else argv
    check = "--check" in args
    strict = "--strict" in args
    stale = []
    for name in CONTRACT_NAMES:
        fresh = exported(name)
        text = _render(fresh)
        target = PACKAGE_ABI_DIR / f"{name}.json"
        current = target.read_text(encoding="utf-8") if target.is_file() else None
        if current == text:
            continue
        if check and not strict and current is not None:
            old = json.loads(current)
            if old.get("abi") == fresh["abi"] and old.get("compiler") == fresh["compiler"]:
                continue
        stale.append(name)
        if not check:
            PACKAGE_ABI_DIR.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            print(f"wrote {target}")
    if check and stale:
        print(f"stale packaged artifacts: {', '.join(stale)}; run `python -m gpusettle.chain.export_abi`")
        return 1
    if not stale:
        print("packaged artifacts are up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
