"""Exact conversion between human token amounts ("12.5") and integer base units, and of prices.

Floats never appear: 0.1 has no exact binary form, and a rounding error in a payment is a bug.

Prices follow one rule everywhere (offers, filters, matching): a price always carries its unit, tokens
per GPU-second (`0.001/s`, what the contracts store) or per GPU-hour (`3.6/h`, what people compare). A
bare number is refused, because the CLI once read it per GPU-second in some commands and per GPU-hour in
others, a factor of 3,600 between them.
"""

from __future__ import annotations

import re
from decimal import Decimal

from .errors import InvalidAmountError, InvalidPriceError

__all__ = [
    "MAX_OFFER_PRICE",
    "MAX_UINT256",
    "PRICE_UNITS",
    "format_price",
    "format_units",
    "parse_price",
    "to_base_units",
]

MAX_UINT256 = 2**256 - 1

# A uint256 has 78 decimal digits; decimals beyond that cannot describe any on-chain token.
_MAX_DECIMALS = 77

_AMOUNT = re.compile(r"(?P<whole>[0-9]*)(?:\.(?P<frac>[0-9]*))?")


def _check_decimals(decimals: int) -> None:
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= _MAX_DECIMALS:
        raise ValueError(f"decimals must be an integer from 0 to {_MAX_DECIMALS}, got {decimals!r}")


def to_base_units(amount: str | Decimal | int, decimals: int = 18) -> int:
    """Convert `amount` whole tokens to base units (`amount x 10**decimals`), exactly.

    Accepts a decimal string ("1", "0.25", ".5", "3."), a `Decimal` or an `int` of whole tokens.
    Raises InvalidAmountError for a negative amount, more fractional digits than the token has, a
    result above 2**256 - 1, a float, or anything that is not a plain decimal number.
    """
    _check_decimals(decimals)
    if isinstance(amount, bool):
        raise InvalidAmountError(amount, "a bool is not an amount")
    if isinstance(amount, float):
        raise InvalidAmountError(
            amount,
            "floats are not accepted because they cannot hold every decimal exactly",
            'pass the amount as a string such as "0.1" or as a Decimal',
        )
    if isinstance(amount, int):
        text = str(amount)
    elif isinstance(amount, Decimal):
        if not amount.is_finite():
            raise InvalidAmountError(amount, "it is not a finite number")
        # 'f' formatting of a Decimal is exact (no exponent, no rounding).
        text = "-" + format(-amount, "f") if amount.is_signed() else format(amount, "f")
    elif isinstance(amount, str):
        text = amount.strip()
    else:
        raise InvalidAmountError(amount, f"expected a string, Decimal or int, got {type(amount).__name__}")

    if text.startswith("-"):
        raise InvalidAmountError(amount, "it is negative", "amounts must be zero or more")
    text = text.removeprefix("+")
    match = _AMOUNT.fullmatch(text)
    if match is None or text in ("", "."):
        raise InvalidAmountError(amount, "it is not a decimal number (digits with at most one '.')")

    whole = match.group("whole") or "0"
    frac = (match.group("frac") or "").rstrip("0")
    if len(frac) > decimals:
        raise InvalidAmountError(
            amount,
            f"it has {len(frac)} decimal places but the token has only {decimals}",
            f"round it to at most {decimals} decimal places",
        )
    # Check the length first: int() of a huge digit string is slow and Python caps it anyway.
    if len(whole.lstrip("0")) + decimals > 78:
        raise InvalidAmountError(
            amount, "it is larger than the largest uint256 amount", "use a smaller amount"
        )
    scale: int = 10**decimals
    value = int(whole) * scale + int(frac.ljust(decimals, "0") or "0")
    if value > MAX_UINT256:
        raise InvalidAmountError(
            amount, "it is larger than the largest uint256 amount", "use a smaller amount"
        )
    return value


def format_units(value: int, decimals: int = 18) -> str:
    """Render `value` base units as whole tokens, exactly, without trailing zeros ("1.5", "0", "-2")."""
    _check_decimals(decimals)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"format_units takes an int number of base units, got {type(value).__name__}")
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), 10**decimals)
    if decimals == 0 or frac == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{str(frac).rjust(decimals, '0').rstrip('0')}"


MAX_OFFER_PRICE = 2**64 - 1
"""The highest price an offer can carry: ProviderStaking keeps it as uint64 base units per GPU-second."""

PRICE_UNITS = {"s": 1, "h": 3600}
"""A price's unit suffix (`0.001/s`, `3.6/h`) -> the GPU-seconds it covers."""


def parse_price(text: str, decimals: int = 18) -> int:
    """A price with its unit, `0.001/s` (tokens per GPU-second) or `3.6/h` (tokens per GPU-hour), as base
    units per GPU-second, the contracts' unit. A per-hour price that is not a whole number of base units
    per second is rounded down (never above what was written). InvalidPriceError for a bare number, an
    unknown unit or a bad amount."""
    number, sep, unit = text.strip().rpartition("/")
    unit = unit.strip().lower()
    if not sep:
        raise InvalidPriceError(
            text,
            "it has no unit",
            f"write {text.strip()}/s for tokens per GPU-second or {text.strip()}/h for tokens per GPU-hour "
            "(the two differ 3,600 times)",
        )
    if unit not in PRICE_UNITS:
        raise InvalidPriceError(text, f"its unit {unit!r} is neither s (per GPU-second) nor h (per GPU-hour)")
    try:
        base = to_base_units(number.strip(), decimals)
    except InvalidAmountError as exc:
        reason = exc.message.split(": ", 1)[-1]
        raise InvalidPriceError(text, reason, exc.hint if "decimal places" in reason else None) from None
    return base // PRICE_UNITS[unit]


def format_price(base_per_second: int, decimals: int = 18, symbol: str = "") -> str:
    """A price in base units per GPU-second, with its units: "0.001 GPUC/GPU-s (3.6 GPUC/GPU-h)"."""
    token = f" {symbol}" if symbol else ""
    per_second = format_units(base_per_second, decimals)
    per_hour = format_units(base_per_second * 3600, decimals)
    return f"{per_second}{token}/GPU-s ({per_hour}{token}/GPU-h)"
