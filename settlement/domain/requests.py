"""What callers ask the engine to do, as plain data (the API maps JSON onto these)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class PermitSignature:
    """An EIP-2612 permit signed by the payer for the escrow: the non-custodial path."""

    value_base_units: int
    deadline: int
    v: int
    r: str
    s: str


@dataclass(frozen=True)
class TradeRequest:
    trade_ref: str
    buyer_id: str
    seller_id: str
    instrument: str
    quantity: Decimal
    price: Decimal
    currency: str
    deadline: datetime | None = None
    buyer_client_id: str | None = None
    seller_client_id: str | None = None
    permit: PermitSignature | None = None
    settlement_mode: str | None = None  # gross | net; None: the service's default (a setting)
    # The operator, as matching utility and depository, submits the trade with its delivery
    # confirmed: matched and confirmed at once (a net trade joins the open window).
    delivery_confirmed: bool = False
