"""Wire models for trades, their transitions and trade events."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

from pydantic import (
    BaseModel,
    Field,
)

from settlement.api.schemas.common import (
    TEXT_PATTERN,
    DecimalString,
    Id,
    Problem,
    RequestModel,
    UtcDatetime,
    coins,
    format_decimal,
    utc,
)
from settlement.domain.trade import SettlementMode, TradeStatus
from settlement.views import (
    TradeEvent,
    TradeView,
    TransitionView,
)

# --------------------------------------------------------------------------- trades


class PermitCreate(RequestModel):
    """EIP-2612 permit signed by the buyer for the escrow (non-custodial path)."""

    value: DecimalString = Field(description="Permitted amount in coins.")
    deadline: int = Field(strict=True, ge=0, le=2**63 - 1, description="Unix seconds.")
    v: int = Field(strict=True, ge=0, le=255)
    r: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$")
    s: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$")


class TradeCreate(RequestModel):
    trade_ref: str = Field(min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$", examples=["KBS-20250630-0001"])
    buyer_id: Id = Field(description="Buying broker: pays the seller.")
    seller_id: Id
    instrument: str = Field(min_length=1, max_length=64, pattern=TEXT_PATTERN, examples=["0700.HK"])
    quantity: DecimalString
    price: DecimalString = Field(description="Per unit, in `currency`.")
    currency: str = Field(pattern=r"^[A-Za-z]{3}$", examples=["HKD"])
    deadline: UtcDatetime | None = Field(
        default=None, description="Settlement deadline; after it an unreleased lock is refunded."
    )
    buyer_client_id: Id | None = None
    seller_client_id: Id | None = None
    permit: PermitCreate | None = None
    settlement_mode: SettlementMode | None = Field(
        default=None,
        description="gross: the trade's own escrow lock; net: settled in a window on net positions. "
        "Omitted: the service's default (SETTLEMENT_DEFAULT_SETTLEMENT_MODE, gross unless configured).",
    )
    delivery_confirmed: bool = Field(
        default=False,
        strict=True,
        description="Operator only: the trade is matched and its delivery confirmed at once "
        "(a net trade joins the open settlement window).",
    )


class TradeBatchCreate(RequestModel):
    trades: list[TradeCreate] = Field(min_length=1, max_length=1000)


class AffirmCreate(RequestModel):
    """The counterparty's agreement to an alleged trade, with its own reference for it."""

    trade_ref: str | None = Field(
        default=None, min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$", examples=["HSB-20250630-77"]
    )


class LockAuthorizationCreate(RequestModel):
    """The buyer's EIP-712 signature of this trade's LockIntent (see GET .../lock-intent)."""

    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$", description="65 bytes r||s||v, hex.")


class MismatchPublic(BaseModel):
    """A near match: the other side's instruction has the same parties and instrument, not these terms."""

    trade_id: str
    fields: list[str]


class TradePublic(BaseModel):
    id: str
    trade_ref: str
    status: TradeStatus
    submitted_by: str
    buyer_id: str
    seller_id: str
    buyer_client_id: str | None
    seller_client_id: str | None
    instrument: str
    quantity: str
    price: str
    currency: str
    fx_rate: str = Field(description="USD per one unit of `currency`, as used for this trade.")
    fx_source: str
    fx_as_of: datetime
    settlement_amount: str = Field(description="Coins the buyer pays the seller.")
    deadline: datetime
    chain_trade_id: str
    buyer_ref: str | None = Field(description="The buyer's own reference for this trade.")
    seller_ref: str | None = Field(description="The seller's own reference for this trade.")
    matched_by: str | None = Field(description="affirm, instruction (both sides submitted) or operator.")
    matched_at: datetime | None
    affirmed_by: str | None
    mismatch: MismatchPublic | None = Field(description="Set while a near-matching instruction differs.")
    delivered_at: datetime | None = Field(description="When the seller reported delivery.")
    lock_authorized: bool = Field(description="The buyer's lock signature is on file (custodial buyers sign at lock).")
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
    settlement_mode: SettlementMode
    window_id: int | None = Field(description="Net mode: the settlement window the trade is in.")

    @classmethod
    def of(cls, trade: TradeView) -> TradePublic:
        return cls(
            id=trade.id,
            trade_ref=trade.trade_ref,
            status=TradeStatus(trade.status),
            submitted_by=trade.submitted_by,
            buyer_id=trade.buyer_id,
            seller_id=trade.seller_id,
            buyer_client_id=trade.buyer_client_id,
            seller_client_id=trade.seller_client_id,
            instrument=trade.instrument,
            quantity=format_decimal(Decimal(trade.quantity)),
            price=format_decimal(Decimal(trade.price)),
            currency=trade.currency,
            fx_rate=format_decimal(Decimal(trade.fx_rate)),
            fx_source=trade.fx_source,
            fx_as_of=utc(trade.fx_as_of),
            settlement_amount=coins(trade.settlement_amount_base_units),
            deadline=utc(trade.deadline),
            chain_trade_id=trade.chain_trade_id,
            buyer_ref=trade.buyer_ref,
            seller_ref=trade.seller_ref,
            matched_by=trade.matched_by,
            matched_at=utc(trade.matched_at) if trade.matched_at else None,
            affirmed_by=trade.affirmed_by,
            mismatch=MismatchPublic(**json.loads(trade.mismatch_json)) if trade.mismatch_json else None,
            delivered_at=utc(trade.delivered_at) if trade.delivered_at else None,
            lock_authorized=trade.lock_signature is not None,
            release_requested=trade.release_requested,
            cancel_requested=trade.cancel_requested,
            buyer_cancel_requested=trade.buyer_cancel_requested,
            seller_cancel_requested=trade.seller_cancel_requested,
            error_code=trade.error_code,
            error_detail=trade.error_detail,
            lock_tx_hash=trade.lock_tx_hash,
            lock_block=trade.lock_block,
            release_tx_hash=trade.release_tx_hash,
            release_block=trade.release_block,
            refund_tx_hash=trade.refund_tx_hash,
            refund_block=trade.refund_block,
            created_at=utc(trade.created_at),
            updated_at=utc(trade.updated_at),
            settlement_mode=SettlementMode(trade.settlement_mode),
            window_id=trade.window_id,
        )


class BatchItemPublic(BaseModel):
    """One trade of a batch: accepted (new or replayed) or refused with its problem."""

    index: int
    ok: bool
    trade_id: str | None
    status: TradeStatus | None
    window_id: int | None
    replayed: bool
    problem: Problem | None


class TradeBatchPublic(BaseModel):
    results: list[BatchItemPublic]


class TradeProofPublic(BaseModel):
    """What `python -m settlement verify-proof` reads, plus where to check it."""

    window_id: int
    chain_trade_id: str
    payer: str
    payee: str
    amount_base_units: str
    proof: list[str]
    root: str
    contract: str = Field(description="The SettlementNet contract that recorded the window's root.")
    chain_id: int


class TransitionPublic(BaseModel):
    from_status: TradeStatus | None
    to_status: TradeStatus
    tx_hash: str | None
    block_number: int | None
    error_code: str | None
    reason: str | None = Field(
        default=None,
        description="`realigned_from_chain` when the escrow was read and said so (a lost receipt, a reorg, "
        "an admin recovery), rather than the outcome of the service's own call.",
    )
    at: datetime

    @classmethod
    def of(cls, row: TransitionView) -> TransitionPublic:
        return cls(
            from_status=TradeStatus(row.from_status) if row.from_status else None,
            to_status=TradeStatus(row.to_status),
            tx_hash=row.tx_hash,
            block_number=row.block_number,
            error_code=row.error_code,
            reason=row.reason,
            at=utc(row.at),
        )


# --------------------------------------------------------------------------- events


class TradeEventPublic(BaseModel):
    """One trade status change, as sent on the event stream and to webhooks."""

    trade_id: str
    status: TradeStatus
    buyer_id: str
    seller_id: str
    tx_hash: str | None
    error_code: str | None
    at: datetime

    @classmethod
    def of(cls, event: TradeEvent) -> TradeEventPublic:
        return cls(
            trade_id=event.trade_id,
            status=TradeStatus(event.status),
            buyer_id=event.buyer_id,
            seller_id=event.seller_id,
            tx_hash=event.tx_hash,
            error_code=event.error_code,
            at=utc(event.at),
        )
