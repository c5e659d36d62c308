"""What the service returns to its callers (the API, the CLI, the dashboard).

Read-only shapes: callers read these and map them to their own wire formats; they never import
the SQL rows or the components behind the service. The stored rows satisfy the protocols
structurally, so no copy is made on the way out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from settlement.chain.merkle import TradeProof
from settlement.chain.tx_decoder import DecodedEvent, DecodedTransaction, DecodedValue
from settlement.domain.anchors import AnchoredHead
from settlement.domain.delivery import DeliveryStatus
from settlement.domain.fx import FxQuote
from settlement.event_log import DeliveryView
from settlement.exports import Export, ExportStamp, Period
from settlement.idempotency import IdempotentResponse
from settlement.ledger.journal_store import JournalRecord, VerifyResult
from settlement.liquidity import SettlementBalance
from settlement.overview import BrokerPosition, Overview
from settlement.participants import ClientBalance, ParticipantBalances
from settlement.processing.batch_intake import BatchItemResult
from settlement.processing.publisher import TradeEvent, TradeListener
from settlement.reconcile import Break, ReconciliationReport

__all__ = [
    "AnchoredHead",
    "BatchItemResult",
    "Break",
    "BrokerPosition",
    "ClientBalance",
    "ClientView",
    "DecodedEvent",
    "DecodedTransaction",
    "DecodedValue",
    "DeliveryStatus",
    "DeliveryView",
    "Export",
    "ExportStamp",
    "FxQuote",
    "IdempotentResponse",
    "JournalRecord",
    "Overview",
    "ParticipantBalances",
    "ParticipantView",
    "Period",
    "ReconciliationReport",
    "SettlementBalance",
    "TradeEvent",
    "TradeListener",
    "TradeProof",
    "TradeView",
    "TransitionView",
    "VerifyResult",
]


class ParticipantView(Protocol):
    id: str
    name: str
    jurisdiction: str
    address: str
    created_at: datetime


class ClientView(Protocol):
    id: str
    participant_id: str
    name: str
    created_at: datetime


class TradeView(Protocol):
    id: str
    trade_ref: str
    status: str
    submitted_by: str
    buyer_id: str
    seller_id: str
    buyer_client_id: str | None
    seller_client_id: str | None
    instrument: str
    quantity: str
    price: str
    currency: str
    fx_rate: str
    fx_source: str
    fx_as_of: datetime
    settlement_amount_base_units: int
    deadline: datetime
    chain_trade_id: str
    buyer_ref: str | None
    seller_ref: str | None
    matched_by: str | None
    matched_at: datetime | None
    affirmed_by: str | None
    mismatch_json: str | None
    delivered_at: datetime | None
    lock_signature: str | None
    release_requested: bool
    cancel_requested: bool
    buyer_cancel_requested: bool
    seller_cancel_requested: bool
    error_code: str | None
    error_detail: str | None
    lock_tx_hash: str | None
    lock_block: int | None
    release_tx_hash: str | None
    release_block: int | None
    refund_tx_hash: str | None
    refund_block: int | None
    created_at: datetime
    updated_at: datetime
    settlement_mode: str
    window_id: int | None


class TransitionView(Protocol):
    from_status: str
    to_status: str
    tx_hash: str | None
    block_number: int | None
    error_code: str | None
    reason: str | None
    at: datetime


@dataclass(frozen=True)
class WindowPositionView:
    """One broker's part of a window: gross pays and receives, and the net (positive: receives)."""

    participant_id: str
    name: str
    address: str
    pays_base_units: int
    receives_base_units: int
    net_base_units: int


@dataclass(frozen=True)
class WindowView:
    """A settlement window as callers see it. For a broker, `positions` holds only its own row and
    the totals are None: other brokers' figures are theirs."""

    id: int
    status: str
    opened_at: datetime
    closed_at: datetime | None
    close_block: int | None
    trade_count: int
    gross_total_base_units: int | None
    net_total_base_units: int | None
    liquidity_saved_ratio: Decimal | None
    trades_root: str | None
    settlement_tx_hash: str | None
    settlement_block: int | None
    settled_at: datetime | None
    positions: list[WindowPositionView]
