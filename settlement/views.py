"""What the service returns to its callers (the API, the CLI, the dashboard).

Read-only shapes: callers read these and map them to their own wire formats; they never import
the SQL rows or the components behind the service. The stored rows satisfy the protocols
structurally, so no copy is made on the way out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

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
from settlement.processing.publisher import TradeEvent, TradeListener
from settlement.reconcile import Break, ReconciliationReport

__all__ = [
    "AnchoredHead",
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


class TransitionView(Protocol):
    from_status: str
    to_status: str
    tx_hash: str | None
    block_number: int | None
    error_code: str | None
    reason: str | None
    at: datetime
