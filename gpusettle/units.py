"""Exact conversion between human token amounts ("12.5") and integer base units.

Floats never appear: 0.1 has no exact binary form, and a rounding error in a payment is a bug.
"""

from __future__ import annotations

import re
from decimal import Decimal

from .errors import InvalidAmountError

__all__ = ["MAX_UINT256", "format_units", "to_base_units"]

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
