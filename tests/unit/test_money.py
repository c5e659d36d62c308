"""FX conversion and rounding into token base units: exact, documented, and never float."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from settlement import errors
from settlement.money import (
    TRADE_AMOUNT_MAX_BASE_UNITS,
    base_units_to_coins,
    canonical_decimal,
    coins_to_base_units,
    format_coins,
    settlement_base_units,
    to_decimal,
)

D = Decimal


@pytest.mark.parametrize(
    ("quantity", "price", "rate", "expected_base_units"),
    [
        (D("100"), D("10"), D("1"), 1_000_000_000),  # 1,000 USD
        (D("1000"), D("38.45"), D("0.128205"), 4_929_482_250),  # HKD 38,450 -> 4,929.48225 USD
        (D("1"), D("0.0000005"), D("1"), 0),  # half a base unit rounds to even (0) -> rejected below
        (D("1"), D("0.0000015"), D("1"), 2),  # 1.5 base units -> 2 (half to even)
        (D("1"), D("0.0000025"), D("1"), 2),  # 2.5 base units -> 2 (half to even)
        (D("3"), D("0.3333333"), D("1"), 1_000_000),  # 0.9999999 -> 1.000000
        (D("1"), D("1"), D("0.138504"), 138_504),
    ],
)
def test_settlement_amount_rounding(quantity: Decimal, price: Decimal, rate: Decimal, expected_base_units: int) -> None:
    if expected_base_units == 0:
        with pytest.raises(errors.ZeroSettlementAmount):
            settlement_base_units(quantity, price, rate)
    else:
        assert settlement_base_units(quantity, price, rate) == expected_base_units


@pytest.mark.parametrize(
    ("quantity", "price", "rate", "error"),
    [
        (D("0"), D("1"), D("1"), errors.NonPositiveValue),
        (D("-1"), D("1"), D("1"), errors.NonPositiveValue),
        (D("1"), D("0"), D("1"), errors.NonPositiveValue),
        (D("1"), D("-5"), D("1"), errors.NonPositiveValue),
        (D("1"), D("1"), D("0"), errors.ValidationFailed),
        (D("1"), D("0.0000001"), D("1"), errors.ZeroSettlementAmount),
        (D("1e12"), D("1e12"), D("1"), errors.AmountTooLarge),
        (D("1e40"), D("1e40"), D("1"), errors.AmountTooLarge),
        (D("1000000000001"), D("1"), D("1"), errors.AmountTooLarge),
    ],
)
def test_settlement_amount_rejects(quantity: Decimal, price: Decimal, rate: Decimal, error: type[Exception]) -> None:
    with pytest.raises(error):
        settlement_base_units(quantity, price, rate)


def test_limit_is_inclusive() -> None:
    assert settlement_base_units(D("1000000000000"), D("1"), D("1")) == TRADE_AMOUNT_MAX_BASE_UNITS


def test_floats_are_refused() -> None:
    with pytest.raises(TypeError):
        to_decimal(1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["abc", "NaN", "Infinity", ""])
def test_non_numbers_are_refused(text: str) -> None:
    with pytest.raises(errors.ValidationFailed):
        to_decimal(text)


def test_coins_with_more_than_six_decimals_are_refused_not_rounded() -> None:
    with pytest.raises(errors.ValidationFailed):
        coins_to_base_units("1.0000001")


@given(st.integers(min_value=0, max_value=TRADE_AMOUNT_MAX_BASE_UNITS))
def test_base_units_round_trip_through_coin_strings(base_units: int) -> None:
    assert coins_to_base_units(format_coins(base_units)) == base_units
    assert coins_to_base_units(base_units_to_coins(base_units)) == base_units


@given(
    st.decimals(min_value=D("0.01"), max_value=D("1000000"), places=4),
    st.decimals(min_value=D("0.01"), max_value=D("10000"), places=4),
    st.decimals(min_value=D("0.001"), max_value=D("10"), places=6),
)
def test_rounding_error_is_at_most_half_a_base_unit(quantity: Decimal, price: Decimal, rate: Decimal) -> None:
    exact = quantity * price * rate * 10**6
    assume(exact > D("0.5"))
    result = settlement_base_units(quantity, price, rate)
    assert abs(Decimal(result) - exact) <= D("0.5")


def test_format_coins() -> None:
    assert format_coins(1_000_000) == "1"
    assert format_coins(1_500_000) == "1.5"
    assert format_coins(1) == "0.000001"
    assert format_coins(0) == "0"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("100", "100"),
        ("380.20", "380.2"),
        ("0.000", "0"),
        ("123456789012345678901234567890.123456789", "123456789012345678901234567890.123456789"),  # 39 digits kept
        ("1E+3", "1000"),
    ],
)
def test_trade_terms_are_stored_exactly_without_trailing_zeros(value: str, text: str) -> None:
    assert canonical_decimal(Decimal(value)) == text
