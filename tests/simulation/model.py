"""The simulation's own record of what brokers were told, kept apart from the service.

Every request the driver sends is written here with its answer: a 2xx is *acknowledged* (the
service promised it), anything else (a 4xx, a 503, a timeout, a dropped connection) is only
*attempted* (it may or may not have happened). The checks compare the chain and the service
with this record, so they never trust the service's own account of what it was asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class BrokerModel:
    id: str
    address: str
    api_key: str


@dataclass
class TradeModel:
    """One economic trade: a unique instrument, so the service may hold at most one trade for it."""

    name: str
    buyer: int
    seller: int
    submitter: str  # "buyer", "seller" or "operator"
    body: dict[str, str]
    idempotency_key: str
    trade_id: str | None = None
    ids_answered: set[str] = field(default_factory=set)
    settlement_base_units: int | None = None
    chain_trade_id: str | None = None
    acknowledged: bool = False
    match_attempted: bool = False
    match_acknowledged: bool = False
    confirm_attempted: bool = False
    confirm_acknowledged: bool = False
    cancels_acknowledged: set[str] = field(default_factory=set)
    cancels_attempted: set[str] = field(default_factory=set)

    @property
    def counterparty(self) -> str:
        return "seller" if self.submitter == "buyer" else "buyer"


@dataclass
class IssueModel:
    broker: int
    amount_base_units: int
    idempotency_key: str
    tx_hashes: set[str] = field(default_factory=set)

    @property
    def acknowledged(self) -> bool:
        return bool(self.tx_hashes)


@dataclass
class Model:
    brokers: list[BrokerModel] = field(default_factory=list)
    trades: list[TradeModel] = field(default_factory=list)
    issues: list[IssueModel] = field(default_factory=list)

    def acknowledged_trades(self) -> list[TradeModel]:
        return [t for t in self.trades if t.acknowledged]

    def trade_by_id(self) -> dict[str, TradeModel]:
        return {t.trade_id: t for t in self.trades if t.trade_id is not None}
