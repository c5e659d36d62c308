"""Money at the edges: Decimal coin amounts and FX conversion into integer token base units.

Rounding rule (documented in the README): the settlement amount is
    quantity x price (trade currency) x rate_to_usd (USD per 1 unit of trade currency),
the coin being pegged 1:1 to USD, rounded to the token's 6 decimals with ROUND_HALF_EVEN
(banker's rounding: no systematic bias over many trades). The result must be at least one
base unit and at most TRADE_AMOUNT_MAX_BASE_UNITS. Floats never appear: every input is a Decimal or str.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation, localcontext

from settlement import errors

TOKEN_DECIMALS = 6
BASE_UNITS_PER_COIN = 10**TOKEN_DECIMALS
# One trillion coins per trade: a business limit. Balances and sums are not bounded by it: the
# ledger stores any uint256 (settlement/ledger/amounts.py).
TRADE_AMOUNT_MAX_BASE_UNITS = 10**18
# Wide enough that no realistic product of quantity x price x rate is rounded before the final
# step, and that any uint256 amount (78 digits) converts to coins with its 6 decimals exactly.
_CONTEXT = Context(prec=100)

SUPPORTED_CURRENCIES = frozenset({"USD", "HKD", "CNH", "CNY", "SGD", "EUR", "GBP", "JPY"})


def supported_currency(currency: str) -> str:
    """The currency code in upper case, or UnknownCurrency: one check for trades and FX rates."""
    code = currency.upper()
    if code not in SUPPORTED_CURRENCIES:
        raise errors.UnknownCurrency(f"currency {currency!r} is not supported")
    return code


def to_decimal(value: Decimal | str | int) -> Decimal:
    """Accept Decimal, int or a decimal string; reject floats (they cannot represent money)."""
    if isinstance(value, float):  # type: ignore[unreachable]
        raise TypeError("floats are not accepted for money; pass a Decimal or a string")
    try:
        result = Decimal(value)
    except (InvalidOperation, ValueError) as exc:
        raise errors.ValidationFailed(f"not a decimal number: {value!r}") from exc
    if not result.is_finite():
        raise errors.ValidationFailed(f"not a finite number: {value!r}")
    return result


def coins_to_base_units(coins: Decimal | str | int) -> int:
    """Exact conversion; more than 6 decimals is an error, not a silent rounding."""
    amount = to_decimal(coins)
    with localcontext(_CONTEXT):
        scaled = amount * BASE_UNITS_PER_COIN
    if scaled != scaled.to_integral_value():
        raise errors.ValidationFailed(f"{coins} has more than {TOKEN_DECIMALS} decimal places")
    return int(scaled)


def base_units_to_coins(base_units: int) -> Decimal:
    with localcontext(_CONTEXT):
        coins: Decimal = (Decimal(base_units) / BASE_UNITS_PER_COIN).quantize(Decimal(1).scaleb(-TOKEN_DECIMALS))
    return coins


def canonical_decimal(value: Decimal) -> str:
    """The exact value without trailing zeros ("100", "380.2"): how trade terms are stored and
    compared. normalize() under the default 28-digit context would round long inputs."""
    with localcontext(_CONTEXT):
        text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def format_coins(base_units: int) -> str:
    """Decimal string in coin units, as the API shows money (trailing zeros trimmed). Integer
    arithmetic: exact for any uint256, and the indexer formats one per journal entry."""
    whole, fraction = divmod(abs(base_units), BASE_UNITS_PER_COIN)
    text = f"{whole}.{fraction:0{TOKEN_DECIMALS}d}".rstrip("0").rstrip(".")
    return "-" + text if base_units < 0 else text


def settlement_base_units(quantity: Decimal, price: Decimal, rate_to_usd: Decimal) -> int:
    """Trade notional converted to coin base units under the documented rounding rule."""
    for name, value in (("quantity", quantity), ("price", price)):
        if value <= 0:
            raise errors.NonPositiveValue(f"{name} must be greater than zero, got {value}")
    if rate_to_usd <= 0:
        raise errors.ValidationFailed(f"FX rate must be greater than zero, got {rate_to_usd}")
    with localcontext(_CONTEXT):
        coins = quantity * price * rate_to_usd
        if coins.adjusted() > 30:
            raise errors.AmountTooLarge(f"settlement amount {coins:.6E} is beyond what the token can hold")
        base_units = int((coins * BASE_UNITS_PER_COIN).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
    if base_units == 0:
        raise errors.ZeroSettlementAmount(f"{quantity} x {price} at {rate_to_usd} USD rounds to zero base units")
    if base_units > TRADE_AMOUNT_MAX_BASE_UNITS:
        raise errors.AmountTooLarge(
            f"settlement amount {format_coins(base_units)} exceeds the per-trade limit "
            f"{format_coins(TRADE_AMOUNT_MAX_BASE_UNITS)}"
        )
    return base_units
