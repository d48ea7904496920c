"""Matching for `job create --match`: the cheapest offers that fit what the client needs.

First come, first served: the index may be a few blocks behind and another client may take an offer's
capacity first, so the caller re-checks each candidate on-chain and moves to the next when it lost the
race (a bounded number of times).
"""

from __future__ import annotations

from pydantic import ValidationError

from ..availability import CLASSES, class_value, parse_duration
from ..errors import ConfigError, InvalidPriceError
from ..units import MAX_OFFER_PRICE, parse_price
from .apply import gpu_family
from .queries import OfferQuery, OfferRow
from .source import MarketSource

__all__ = [
    "CLASSES",
    "LOST_RACE_ERRORS",
    "MatchNeed",
    "candidates",
    "chain_mismatch",
    "class_value",
    "notice_seconds",
    "parse_match",
    "price_per_second",
]

LOST_RACE_ERRORS = frozenset(
    {
        "ProviderStakingOfferInactive",
        "ProviderStakingUnknownOffer",
        "JobEscrowInsufficientFreeStake",
        "JobEscrowProviderJailed",
        "JobEscrowBelowMinimumStake",
        "ProviderStakingJailed",
        "ProviderStakingBelowMinimum",
        # Capacity and leases (issue 11): the GPUs went to someone else, or the offer was paused or
        # changed its class since the index saw it.
        "ProviderStakingCapacityExceeded",
        "ProviderStakingOfferPaused",
        "LeaseEscrowInsufficientFreeStake",
        "LeaseEscrowProviderJailed",
        "LeaseEscrowBelowMinimumStake",
        "LeaseEscrowOfferPaused",
        "LeaseEscrowClassNotAccepted",
        "LeaseEscrowNoticeTooShort",
        "LeaseEscrowPriceAboveLimit",
        "JobEscrowPriceAboveLimit",
        "JobEscrowOfferPaused",
    }
)
"""Revert reasons that mean "this offer cannot take the job now": try the next match."""

_KEYS = {"gpu", "gpus", "free", "min-vram", "max-price", "min-completed", "class", "min-notice", "verified"}
_YES = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}


class MatchNeed(OfferQuery):
    """What the client needs (an OfferQuery sorted by price)."""


def chain_mismatch(need: OfferQuery, gpu_model: str, vram_gb: int, gpu_count: int, price: int) -> str | None:
    """Why an offer, as the chain has it, does not fit `need`; None when it does. The index that found it may be
    a remote one, and a lying or stale one must not choose the hardware or the price the client pays."""
    if need.max_price is not None and price > need.max_price:
        return f"its price on-chain ({price} base units per GPU-second) is above max-price ({need.max_price})"
    if need.min_vram is not None and vram_gb < need.min_vram:
        return f"it has {vram_gb} GB of VRAM on-chain, below min-vram {need.min_vram}"
    if need.min_gpus is not None and gpu_count < need.min_gpus:
        return f"it has {gpu_count} GPUs on-chain, fewer than gpus={need.min_gpus}"
    if (
        need.gpu
        and need.gpu.lower() not in gpu_model.lower()
        and gpu_family(gpu_model).upper() != need.gpu.upper()
    ):
        return f"its GPU on-chain is {gpu_model!r}, not {need.gpu}"
    return None


def price_per_second(text: str, decimals: int) -> int:
    """A price limit with its unit, '3.5/h' (tokens per GPU-hour) or '0.001/s' (per GPU-second), as base
    units per GPU-second (rounded down: never above the limit; a limit above any possible price is that
    highest price); a bare number is refused (units.parse_price)."""
    return min(parse_price(text, decimals), MAX_OFFER_PRICE)


def parse_match(text: str, decimals: int) -> MatchNeed:
    """`gpu=H100,gpus=4,min-vram=80,max-price=3.5/h,min-completed=10` -> MatchNeed (empty: any offer).
    Lease keys: `free=2` (GPUs free now), `class=reclaimable` (the worst class accepted), `min-notice=10m`.
    `verified=yes`: only offers whose latest hardware check passed and still covers their terms."""
    fields: dict[str, object] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if not sep or key not in _KEYS:
            raise ConfigError(
                f"--match {part!r} is not a filter",
                f"use KEY=VALUE pairs separated by commas; keys: {', '.join(sorted(_KEYS))}",
            )
        value = value.strip()
        try:
            if key == "gpu":
                fields["gpu"] = value
            elif key == "gpus":
                fields["min_gpus"] = int(value)
            elif key == "min-vram":
                fields["min_vram"] = int(value)
            elif key == "min-completed":
                fields["min_completed"] = int(value)
            elif key == "free":
                fields["min_free"] = int(value)
            elif key == "class":
                fields["max_class"] = class_value(value)
            elif key == "min-notice":
                fields["min_notice"] = notice_seconds(value)
            elif key == "verified":
                if value.lower() not in _YES:
                    raise ConfigError(f"--match verified={value!r} is not yes or no", "e.g. verified=yes")
                fields["verified"] = _YES[value.lower()]
            else:
                fields["max_price"] = price_per_second(value, decimals)
        except InvalidPriceError as exc:
            raise ConfigError(f"--match max-price: {exc.message}", exc.hint) from None
        except ValueError:
            raise ConfigError(f"--match {key}={value!r} is not a whole number", "e.g. gpus=4") from None
    try:
        return MatchNeed(sort="price", limit=20, **fields)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(
            f"--match: {first['loc'][0]} {first['msg'].lower()}", "see `gpusettle job create --help`"
        ) from None


def notice_seconds(text: str) -> int:
    """A notice such as 90s, 10m, 2h or bare seconds -> seconds (ConfigError otherwise)."""
    return parse_duration(text, "notice")


def candidates(source: MarketSource, need: MatchNeed, limit: int) -> list[OfferRow]:
    """The `limit` cheapest active offers that fit."""
    page = source.search_offers(need.model_copy(update={"limit": max(1, limit), "sort": "price"}))
    # A remote index may answer more than asked: never try more than `limit`.
    return page.offers[: max(1, limit)]
