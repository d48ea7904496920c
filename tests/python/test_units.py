from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpusettle.errors import GpusettleError, InvalidAmountError, InvalidPriceError
from gpusettle.units import MAX_UINT256, format_price, format_units, parse_price, to_base_units


@pytest.mark.parametrize(
    ("amount", "decimals", "expected"),
    [
        ("1", 18, 10**18),
        ("0.5", 18, 5 * 10**17),
        (".5", 6, 500_000),
        ("3.", 6, 3_000_000),
        ("  42 ", 0, 42),
        ("0.000000000000000001", 18, 1),
        ("1.500000000000000000000", 18, 15 * 10**17),  # trailing zeros lose nothing
        (Decimal("12.25"), 2, 1225),
        (Decimal("1E-18"), 18, 1),
        (7, 18, 7 * 10**18),
        ("0", 18, 0),
    ],
)
def test_to_base_units_exact(amount: str | Decimal | int, decimals: int, expected: int) -> None:
    assert to_base_units(amount, decimals) == expected


def test_too_many_decimals_names_the_limit() -> None:
    with pytest.raises(InvalidAmountError, match="19 decimal places but the token has only 18"):
        to_base_units("1.0000000000000000001")
    with pytest.raises(InvalidAmountError, match="only 6"):
        to_base_units("0.1234567", 6)


@pytest.mark.parametrize("amount", ["-1", "-0.5", Decimal(-3), -2, Decimal("-0")])
def test_negative_rejected(amount: str | Decimal | int) -> None:
    with pytest.raises(InvalidAmountError, match="negative"):
        to_base_units(amount)


@pytest.mark.parametrize("amount", ["", ".", "abc", "1.2.3", "1e5", "0x10", "1,5", "1 000", "NaN"])
def test_garbage_rejected(amount: str) -> None:
    with pytest.raises(InvalidAmountError, match="not a decimal number"):
        to_base_units(amount)


def test_float_and_bool_rejected() -> None:
    with pytest.raises(InvalidAmountError, match="floats are not accepted"):
        to_base_units(0.1)  # type: ignore[arg-type]
    with pytest.raises(InvalidAmountError, match="bool"):
        to_base_units(True)
    with pytest.raises(InvalidAmountError, match="finite"):
        to_base_units(Decimal("Infinity"))


def test_huge_amounts_rejected() -> None:
    with pytest.raises(InvalidAmountError, match="uint256"):
        to_base_units("1" + "0" * 60)
    with pytest.raises(InvalidAmountError, match="uint256"):
        to_base_units("9" * 5000)  # longer than Python's int() digit limit
    # The largest representable amount still converts.
    assert to_base_units(str(MAX_UINT256), 0) == MAX_UINT256
    with pytest.raises(InvalidAmountError, match="uint256"):
        to_base_units(str(MAX_UINT256 + 1), 0)


def test_invalid_amount_is_a_gpusettle_error_with_a_hint() -> None:
    with pytest.raises(GpusettleError) as info:
        to_base_units("lots")
    assert "'lots'" in str(info.value)
    assert info.value.hint


@pytest.mark.parametrize(
    ("value", "decimals", "expected"),
    [
        (0, 18, "0"),
        (1, 18, "0.000000000000000001"),
        (15 * 10**17, 18, "1.5"),
        (10**18, 18, "1"),
        (-25 * 10**16, 18, "-0.25"),
        (123, 0, "123"),
        (MAX_UINT256, 18, "115792089237316195423570985008687907853269984665640564039457.584007913129639935"),
    ],
)
def test_format_units(value: int, decimals: int, expected: str) -> None:
    assert format_units(value, decimals) == expected


def test_bad_decimals_rejected() -> None:
    with pytest.raises(ValueError, match="decimals"):
        format_units(1, -1)
    with pytest.raises(ValueError, match="decimals"):
        to_base_units("1", 78)


@given(st.integers(min_value=0, max_value=MAX_UINT256), st.integers(min_value=0, max_value=30))
def test_round_trip(value: int, decimals: int) -> None:
    assert to_base_units(format_units(value, decimals), decimals) == value


# -- prices: one rule everywhere, the unit is part of the price ------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.001/s", 10**15),
        ("3.6/h", 10**15),  # the same price per GPU-hour
        (" 3.6 / H ", 10**15),
        ("3.3/h", 916_666_666_666_666),  # rounded down: never above what was written
        ("1/h", 277_777_777_777_777),
        ("0/s", 0),
        ("0.000000000000000001/s", 1),
    ],
)
def test_a_price_with_its_unit_is_base_units_per_gpu_second(text: str, expected: int) -> None:
    assert parse_price(text, 18) == expected


def test_per_hour_and_per_second_agree_whenever_exact() -> None:
    for base in (0, 1, 10**15, 123_456_789 * 10**9):
        per_hour = format_units(base * 3600, 18)
        assert parse_price(f"{per_hour}/h") == base == parse_price(f"{format_units(base, 18)}/s")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("0.001", "it has no unit"),
        ("3.5", "it has no unit"),
        ("1/m", "its unit 'm' is neither s (per GPU-second) nor h (per GPU-hour)"),
        ("cheap/h", "it is not a decimal number (digits with at most one '.')"),
        ("/s", "it is not a decimal number (digits with at most one '.')"),
        ("-1/s", "it is negative"),
        ("0.0000001/s", "it has 7 decimal places but the token has only 6"),
    ],
)
def test_a_bare_number_or_bad_price_is_refused_with_a_hint(text: str, reason: str) -> None:
    with pytest.raises(InvalidPriceError) as caught:
        parse_price(text, 6)
    assert caught.value.message == f"invalid price {text!r}: {reason}"
    assert caught.value.hint
    assert isinstance(caught.value, GpusettleError)


def test_a_bare_number_hint_spells_both_readings() -> None:
    with pytest.raises(InvalidPriceError) as caught:
        parse_price("0.001")
    assert caught.value.hint is not None
    assert "0.001/s" in caught.value.hint and "0.001/h" in caught.value.hint


def test_a_price_is_printed_with_both_units() -> None:
    assert format_price(10**15, 18, "GPUC") == "0.001 GPUC/GPU-s (3.6 GPUC/GPU-h)"
    assert format_price(5, 0) == "5/GPU-s (18000/GPU-h)"
