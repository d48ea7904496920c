"""Per-network parameter overrides from a brownie project's brownie-config.yaml.

    gpusettle:
      networks:
        sepolia:
          confirmations: 3
          min_stake: "250"        # whole tokens
          dispute_window: 21600   # seconds

Both `gpusettle deploy` and `brownie run scripts/deploy.py` read this section, so they deploy the same thing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError

__all__ = ["CONFIG_FILE", "project_overrides"]

CONFIG_FILE = "brownie-config.yaml"


def project_overrides(network: str, project_dir: Path | None = None) -> dict[str, Any]:
    """The `gpusettle.networks.<network>` mapping of brownie-config.yaml ({} when there is none)."""
    path = (project_dir or Path.cwd()) / CONFIG_FILE
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}", "fix the YAML") from None
    section = data.get("gpusettle") if isinstance(data, dict) else None
    if section is None:
        return {}
    nets = section.get("networks") if isinstance(section, dict) else None
    if nets is None:
        return {}
    if not isinstance(nets, dict):
        raise ConfigError(f"{path}: gpusettle.networks must be a mapping", "see gpusettle/deploy/config.py")
    values = nets.get(network) or {}
    if not isinstance(values, dict):
        raise ConfigError(
            f"{path}: gpusettle.networks.{network} must be a mapping", "see gpusettle/deploy/config.py"
        )
    return dict(values)
