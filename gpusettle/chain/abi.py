"""Contract artifacts: ABIs, bytecode and compiler version of the three gpusettle contracts.

Two sources, in this order:
1. brownie's compiled artifacts, `build/contracts/<Name>.json`, in the project directory
   ($GPUSETTLE_PROJECT, else the current directory, else the checkout this package lives in);
2. the copy shipped inside the package, `gpusettle/abi/<Name>.json`, for a pip-installed gpusettle
   without a build/ folder. `python -m gpusettle.chain.export_abi` refreshes that copy from build/.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = [
    "CONTRACT_NAMES",
    "PACKAGE_ABI_DIR",
    "PROJECT_ENV",
    "Artifact",
    "build_dir_candidates",
    "load_artifact",
    "load_artifacts",
]

CONTRACT_NAMES: tuple[str, ...] = (
    "ComputeToken",
    "ProviderStaking",
    "JobEscrow",
    "LeaseEscrow",
    "HardwareRegistry",
)
"""The contracts of the suite, in deployment order."""

PROJECT_ENV = "GPUSETTLE_PROJECT"
"""Environment variable naming the brownie project directory whose build/ holds the artifacts."""

PACKAGE_ABI_DIR = Path(__file__).resolve().parent.parent / "abi"
"""Where the packaged copy of the artifacts lives."""

_CHECKOUT_ROOT = Path(__file__).resolve().parent.parent.parent


@dataclass(frozen=True)
class Artifact:
    """What gpusettle needs from one compiled contract."""

    name: str
    abi: list[dict[str, Any]] = field(repr=False)
    bytecode: str = field(repr=False)
    """Creation bytecode, 0x-prefixed hex (empty for an ABI-only copy)."""
    deployed_bytecode: str = field(repr=False)
    """Runtime bytecode, 0x-prefixed hex (empty for an ABI-only copy)."""
    compiler_version: str
    """solc version that produced it, e.g. 0.8.28+commit.7893614a."""
    source: str
    """The file it was read from."""


def build_dir_candidates() -> list[Path]:
    """Directories searched for brownie artifacts, most specific first."""
    out: list[Path] = []
    env = os.environ.get(PROJECT_ENV, "").strip()
    if env:
        out.append(Path(env).expanduser() / "build" / "contracts")
    out.append(Path.cwd() / "build" / "contracts")
    out.append(_CHECKOUT_ROOT / "build" / "contracts")
    seen: set[Path] = set()
    unique = []
    for p in out:
        if p not in seen:
            seen.add(p)
            unique.append(p)
    return unique


def _hex(value: Any) -> str:
    if not isinstance(value, str) or not value:
        return ""
    return value if value.startswith("0x") else "0x" + value


def _parse(name: str, path: Path) -> Artifact:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(
            f"cannot read the contract artifact {path}: {exc}", "run `brownie compile` to rebuild it"
        ) from None
    abi = data.get("abi") if isinstance(data, dict) else None
    if not isinstance(abi, list):
        raise ConfigError(f"{path} has no ABI", "run `brownie compile` to rebuild it")
    compiler = data.get("compiler") or {}
    version = compiler.get("version") if isinstance(compiler, dict) else None
    return Artifact(
        name=name,
        abi=abi,
        bytecode=_hex(data.get("bytecode")),
        deployed_bytecode=_hex(data.get("deployedBytecode")),
        compiler_version=str(version or data.get("compiler_version") or "unknown"),
        source=str(path),
    )


@lru_cache(maxsize=32)
def _load_cached(name: str, build_dirs: tuple[Path, ...], mtimes: tuple[float, ...]) -> Artifact:
    del mtimes  # part of the cache key only: a recompile invalidates the cache
    for directory in build_dirs:
        path = directory / f"{name}.json"
        if path.is_file():
            return _parse(name, path)
    packaged = PACKAGE_ABI_DIR / f"{name}.json"
    if packaged.is_file():
        return _parse(name, packaged)
    raise ConfigError(
        f"no compiled artifact for {name} (looked in {', '.join(str(d) for d in build_dirs)} and {PACKAGE_ABI_DIR})",
        "run `brownie compile` in the project, or set GPUSETTLE_PROJECT to the project directory",
    )


def load_artifact(name: str, *, prefer_build: bool = True) -> Artifact:
    """The artifact of contract `name` (one of CONTRACT_NAMES), from build/ when present, else the package."""
    dirs = tuple(build_dir_candidates()) if prefer_build else ()
    mtimes = tuple(
        (d / f"{name}.json").stat().st_mtime if (d / f"{name}.json").is_file() else 0.0 for d in dirs
    )
    return _load_cached(name, dirs, mtimes)


def load_artifacts(*, prefer_build: bool = True) -> dict[str, Artifact]:
    """Every contract of the suite by name."""
    return {name: load_artifact(name, prefer_build=prefer_build) for name in CONTRACT_NAMES}
