"""FX rates: USD per one unit of a currency, with provenance. The coin is pegged 1:1 to USD."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

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
