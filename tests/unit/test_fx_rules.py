"""FX rules, one case a line: what a new rate must pass, and when a rate is too old to price a trade."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from settlement import errors
from settlement.domain.fx import FxLimits, FxQuote, check_fresh, check_new_rate

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
LIMITS = FxLimits(clock_skew_max_s=60, age_max_s=3_600, jump_max_ratio=Decimal("0.10"))
HKD = FxQuote("HKD", Decimal("0.128"), "op", NOW - timedelta(minutes=5))


def quote(currency: str, rate: str, *, as_of: datetime = NOW, forced: bool = False) -> FxQuote:
    return FxQuote(currency, Decimal(rate), "op", as_of, forced)


@pytest.mark.parametrize(
    ("new", "previous", "error"),
    [
        (quote("HKD", "0.129"), HKD, None),  # a small move
        (quote("HKD", "0.129", as_of=NOW + timedelta(seconds=59)), HKD, None),  # within clock skew
        (quote("HKD", "0.129", as_of=NOW + timedelta(days=1500)), HKD, errors.InvalidFxRate),  # dated 2030
        (quote("USD", "1"), None, None),  # the peg
        (quote("USD", "1250.5"), None, errors.InvalidFxRate),  # the peg is 1 by definition
        (quote("HKD", "0.2"), HKD, errors.InvalidFxRate),  # a 56 % jump
        (quote("HKD", "0.2", forced=True), HKD, None),  # ... unless the operator forces it
        (quote("HKD", "0.2"), None, None),  # no previous rate: nothing to jump from
        (quote("HKD", "0"), None, errors.NonPositiveValue),
        (quote("HKD", "-1"), None, errors.NonPositiveValue),
    ],
)
def test_new_rate_rules(new: FxQuote, previous: FxQuote | None, error: type[Exception] | None) -> None:
    if error is None:
        check_new_rate(new, previous, NOW, LIMITS)
    else:
        with pytest.raises(error):
            check_new_rate(new, previous, NOW, LIMITS)


@pytest.mark.parametrize(
    ("age", "fresh"), [(timedelta(0), True), (timedelta(seconds=3_600), True), (timedelta(seconds=3_601), False)]
)
def test_a_trade_is_not_priced_on_a_stale_rate(age: timedelta, fresh: bool) -> None:
    rate = quote("HKD", "0.128", as_of=NOW - age)
    if fresh:
        check_fresh(rate, NOW, LIMITS)
    else:
        with pytest.raises(errors.StaleFxRate):
            check_fresh(rate, NOW, LIMITS)
