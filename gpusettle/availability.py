"""Availability classes of offers and leases, and the durations their notices are written in.

Shared by the chain client, the index and the CLI (no I/O, light to import).
"""

from __future__ import annotations

import re

from .errors import ConfigError

__all__ = ["CLASSES", "class_name", "class_value", "parse_duration"]

CLASSES: tuple[str, ...] = ("dedicated", "reclaimable", "interruptible")
"""By value: 0 dedicated (never reclaimed), 1 reclaimable (with a notice), 2 interruptible (no notice)."""

_PART = re.compile(r"(\d+)([smhdw])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def class_name(value: int) -> str:
    """0 -> dedicated, 1 -> reclaimable, 2 -> interruptible (another value as its number)."""
    return CLASSES[value] if 0 <= value < len(CLASSES) else str(value)


def class_value(text: str) -> int:
    """A class by name, unique prefix or number -> 0-2; ConfigError otherwise."""
    t = text.strip().lower()
    if t.isdigit() and int(t) < len(CLASSES):
        return int(t)
    found = [n for n, name in enumerate(CLASSES) if t and name.startswith(t)]
    if len(found) != 1:
        raise ConfigError(f"{text!r} is not an availability class", f"use one of {', '.join(CLASSES)}")
    return found[0]


def parse_duration(text: str, what: str = "duration") -> int:
    """'90s', '10m', '2h', '1d', '1w', '1h30m' or bare seconds -> seconds; ConfigError otherwise."""
    t = text.strip().lower().replace(" ", "")
    if t.isdigit():
        return int(t)
    parts = _PART.findall(t)
    if not parts or "".join(n + u for n, u in parts) != t:
        raise ConfigError(
            f"{what} {text!r} is not a duration",
            "write it as 90s, 10m, 2h, 1d, 1w or 1h30m (or whole seconds)",
        )
    return sum(int(n) * _UNIT[u] for n, u in parts)
