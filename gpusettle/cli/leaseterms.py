"""What `lease open` and `lease top-up` work out before they send: durations, deposits, runway.

Pure functions (no chain), so the arithmetic the plan shows is tested on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..availability import parse_duration
from ..errors import ConfigError

__all__ = ["LeasePlan", "deposit_for", "fmt_span", "parse_duration", "per_hour"]


def deposit_for(rate_per_second: int, seconds: int) -> int:
    """The deposit that keeps a lease of `rate_per_second` running for `seconds`."""
    return rate_per_second * seconds


def per_hour(rate_per_second: int, decimals: int) -> str:
    """Base units per second -> tokens per hour, as text."""
    return f"{rate_per_second * 3600 / 10**decimals:.6g}"


def fmt_span(seconds: int) -> str:
    """Seconds as '2 h 5 min', '3 d 4 h', '45 s'."""
    seconds = max(0, int(seconds))
    d, rest = divmod(seconds, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    if d:
        return f"{d} d {h} h" if h else f"{d} d"
    if h:
        return f"{h} h {m} min" if m else f"{h} h"
    if m:
        return f"{m} min {s} s" if s else f"{m} min"
    return f"{s} s"


@dataclass(frozen=True)
class LeasePlan:
    """The terms `lease open` shows and sends."""

    offer_id: int
    gpu_count: int
    price_per_gpu_second: int
    """The offer's price now; also the client's on-chain limit unless --max-price is higher."""
    max_price: int
    """The most per GPU-second the client accepts (passed on-chain)."""
    max_class: int
    min_notice: int
    deposit: int
    end_time: int

    @property
    def rate(self) -> int:
        """Per second for all the GPUs at the offer's price."""
        return self.gpu_count * self.price_per_gpu_second

    @property
    def runway_seconds(self) -> int:
        """How long the deposit lasts at the rate (billing stops there unless topped up)."""
        return self.deposit // self.rate if self.rate else 0

    def check(self) -> None:
        """ConfigError for terms that cannot open a lease (before any transaction)."""
        if self.deposit <= 0:
            raise ConfigError(
                "the deposit is zero", "give --deposit AMOUNT or --for DURATION (e.g. --for 2h)"
            )
        if self.rate and self.deposit < self.rate:
            raise ConfigError(
                f"the deposit ({self.deposit} base units) pays for less than one second at the rate "
                f"({self.rate} per second)",
                "give a larger --deposit or a longer --for",
            )
