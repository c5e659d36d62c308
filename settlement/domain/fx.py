"""FX rates: USD per one unit of a currency, with provenance. The coin is pegged 1:1 to USD.

The rules a rate must pass live here, so the API, the CLI and the intake apply the same ones:
no rate from the future (a rate dated 2030 would otherwise pin its currency for good), the peg
currency's rate is 1, a jump beyond a limit needs the operator to force it, and a trade is not
priced on a stale rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from settlement import errors

PEG_CURRENCY = "USD"

# Devnet defaults so the demo needs no configuration. Real deployments post rates via the API.
DEVNET_FX_SOURCE = "devnet-default"
DEVNET_FX_RATES: dict[str, Decimal] = {
    "USD": Decimal("1"),
    "HKD": Decimal("0.128205"),
    "CNH": Decimal("0.138504"),
    "SGD": Decimal("0.745156"),
}


@dataclass(frozen=True)
class FxQuote:
    currency: str
    rate_to_usd: Decimal
    source: str
    as_of: datetime
    forced: bool = False  # the operator accepted a jump beyond the limit, on the record


@dataclass(frozen=True)
class FxLimits:
    clock_skew_max_s: int
    age_max_s: int
    jump_max_ratio: Decimal


def check_new_rate(quote: FxQuote, previous: FxQuote | None, now: datetime, limits: FxLimits) -> None:
    """Refuse a rate from the future, a peg other than 1, or an unforced jump beyond the limit."""
    if not quote.rate_to_usd.is_finite() or quote.rate_to_usd <= 0:
        raise errors.NonPositiveValue("rate_to_usd must be greater than zero")
    if quote.as_of > now + timedelta(seconds=limits.clock_skew_max_s):
        raise errors.InvalidFxRate(f"as_of {quote.as_of.isoformat()} is in the future")
    if quote.currency == PEG_CURRENCY and quote.rate_to_usd != 1:
        raise errors.InvalidFxRate(f"{PEG_CURRENCY} is the peg: its rate is 1 by definition")
    if previous is None or quote.forced:
        return
    jump = abs(quote.rate_to_usd - previous.rate_to_usd) / previous.rate_to_usd
    if jump > limits.jump_max_ratio:
        raise errors.InvalidFxRate(
            f"{quote.currency} moves {jump:.1%} from {previous.rate_to_usd}, beyond the "
            f"{limits.jump_max_ratio:.0%} limit; send force=true to record it anyway"
        )


def check_fresh(quote: FxQuote, now: datetime, limits: FxLimits) -> None:
    """A trade is not priced on a rate older than the limit."""
    if now - quote.as_of > timedelta(seconds=limits.age_max_s):
        raise errors.StaleFxRate(
            f"the latest {quote.currency} rate is from {quote.as_of.isoformat()}, older than {limits.age_max_s} s"
        )
