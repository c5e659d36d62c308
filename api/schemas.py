"""Wire models: what the API accepts (XCreate) and returns (XPublic).

Conventions: snake_case fields; money as decimal strings in coin units (never JSON numbers, which
many clients parse into floats); timestamps ISO 8601 in UTC. Conversion to the domain's integer
base units happens here, at the edge, with settlement.money.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Path
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
)

from settlement.domain.fx import FxQuote
from settlement.domain.trade import TradeStatus
from settlement.engine import TradeEvent
from settlement.ledger.journal_store import JournalRecord
from settlement.ledger.models import ClientAccount, Participant, Trade, TradeTransition
from settlement.money import format_coins
from settlement.participants import ParticipantBalances
from settlement.reconcile import Break, ReconciliationReport

# No exponent: "1e400" is not a way to write money. Wide enough for absurd magnitudes to reach
# the domain's own checks (amount_too_large), narrow enough to fit the decimal columns.
DECIMAL_PATTERN = r"^-?[0-9]{1,30}(\.[0-9]{1,9})?$"
_DECIMAL_RE = re.compile(DECIMAL_PATTERN)
# Ids are UUIDs; the pattern only keeps junk (NUL bytes, 10 kB strings) away from the database.
ID_PATTERN = r"^[A-Za-z0-9_-]{1,36}$"
# Free text: printable, no control characters.
TEXT_PATTERN = r"^[^\x00-\x1f\x7f]+$"
UTC_EXAMPLE = "2025-06-30T08:00:00Z"

Id = Annotated[str, Field(pattern=ID_PATTERN, examples=["3f1c9a6e-5b7d-4e8a-9c2f-1a2b3c4d5e6f"])]
ParticipantIdPath = Annotated[str, Path(pattern=ID_PATTERN)]
TradeIdPath = Annotated[str, Path(pattern=ID_PATTERN)]
ClientIdPath = Annotated[str, Path(pattern=ID_PATTERN)]


def _parse_decimal(value: object) -> Decimal:
    """Accept only decimal strings: a JSON number may already have been through a float."""
    if isinstance(value, Decimal):
        return value
    if not isinstance(value, str) or not _DECIMAL_RE.fullmatch(value):
        raise ValueError('must be a decimal string such as "1250.50" (no exponent, no JSON number)')
    return Decimal(value)


def _format_decimal(value: Decimal) -> str:
    text = format(value.normalize(), "f") if value != 0 else "0"
    return text


DecimalString = Annotated[
    Decimal,
    PlainValidator(_parse_decimal),
    PlainSerializer(_format_decimal, return_type=str),
    WithJsonSchema({"type": "string", "pattern": DECIMAL_PATTERN, "examples": ["1250.50"]}),
]
"""A decimal number carried as a JSON string. The domain decides what range is valid."""


def _to_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _require_string(value: object) -> object:
    """A timestamp is an ISO 8601 string on the wire, not a number of seconds."""
    if not isinstance(value, str | datetime):
        raise ValueError("must be an ISO 8601 timestamp string with an offset, e.g. 2025-06-30T08:00:00Z")
    return value


UtcDatetime = Annotated[AwareDatetime, BeforeValidator(_require_string), AfterValidator(_to_utc)]
"""A timestamp with an explicit offset (ISO 8601), normalised to UTC."""


def utc(moment: datetime) -> datetime:
    """Stored timestamps are UTC; SQLite hands them back naive."""
    return _to_utc(moment)


def coins(base_units: int) -> str:
    return format_coins(base_units)


class _Model(BaseModel):
    """Request bodies: unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page; null on the last page.")


# --------------------------------------------------------------------------- problems


class Problem(BaseModel):
    """RFC 9457 problem details, with a stable machine-readable `code`."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["urn:settlement:problem:not_found"])
    title: str
    status: int
    detail: str
    code: str = Field(examples=["not_found"])
    instance: str = Field(examples=["/v1/trades/9b1d..."])
    errors: list[dict[str, Any]] | None = Field(default=None, description="Field errors (validation only).")


# --------------------------------------------------------------------------- health


class HealthPublic(BaseModel):
    status: str = Field(description='"ok", or "degraded" when the chain, database or worker has a problem.')
    chain_id: int
    latest_block: int | None
    indexer_head: int | None
    indexer_lag: int | None
    database_ok: bool
    worker_last_cycle_at: datetime | None
    worker_error: str | None


# --------------------------------------------------------------------------- participants


class ParticipantCreate(_Model):
    name: str = Field(min_length=1, max_length=200, pattern=TEXT_PATTERN, examples=["Kowloon Bay Securities Ltd"])
    jurisdiction: str = Field(pattern=r"^[A-Za-z]{2}$", examples=["HK"])
    address: str | None = Field(
        default=None,
        pattern=r"^0x[0-9a-fA-F]{40}$",
        description="Omnibus wallet. On the devnet, omit it to be given a fresh devnet account.",
    )


class ParticipantPublic(BaseModel):
    id: str
    name: str
    jurisdiction: str
    address: str
    created_at: datetime

    @classmethod
    def of(cls, participant: Participant) -> ParticipantPublic:
        return cls(
            id=participant.id,
            name=participant.name,
            jurisdiction=participant.jurisdiction,
            address=participant.address,
            created_at=utc(participant.created_at),
        )


class ParticipantCreated(ParticipantPublic):
    api_key: str = Field(description="Shown once: only its hash is stored.")


class IssueCreate(_Model):
    amount: DecimalString = Field(description="Coins to mint to the participant's wallet.")


class IssuePublic(BaseModel):
    participant_id: str
    amount: str
    tx_hash: str


class ClientCreate(_Model):
    name: str = Field(min_length=1, max_length=200, pattern=TEXT_PATTERN, examples=["Chan Family Office"])


class ClientPublic(BaseModel):
    id: str
    participant_id: str
    name: str
    created_at: datetime

    @classmethod
    def of(cls, client: ClientAccount) -> ClientPublic:
        return cls(
            id=client.id, participant_id=client.participant_id, name=client.name, created_at=utc(client.created_at)
        )


class AllocationCreate(_Model):
    amount: DecimalString = Field(description="Coins moved from the broker's unallocated balance to the client.")


class AllocationPublic(BaseModel):
    participant_id: str
    client_id: str
    amount: str
    client_balance: str = Field(description="The client's ledger balance after the allocation.")


class ClientBalancePublic(BaseModel):
    client_id: str
    name: str
    balance: str


class BalancesPublic(BaseModel):
    participant_id: str
    address: str
    on_chain: str = Field(description="Token balance of the omnibus wallet, read from the chain.")
    ledger: str = Field(description="Unallocated plus every client's balance, from the journal.")
    unallocated: str
    locked_as_payer: str = Field(description="Held by the escrow for this broker's open trades as buyer.")
    clients: list[ClientBalancePublic]

    @classmethod
    def of(cls, b: ParticipantBalances) -> BalancesPublic:
        return cls(
            participant_id=b.participant_id,
            address=b.address,
            on_chain=coins(b.on_chain_base_units),
            ledger=coins(b.ledger_base_units),
            unallocated=coins(b.unallocated_base_units),
            locked_as_payer=coins(b.locked_as_payer_base_units),
            clients=[
                ClientBalancePublic(client_id=c.client_id, name=c.name, balance=coins(c.balance_base_units))
                for c in b.clients
            ],
        )


# --------------------------------------------------------------------------- FX


class FxRateCreate(_Model):
    currency: str = Field(pattern=r"^[A-Za-z]{3}$", examples=["HKD"])
    rate_to_usd: DecimalString = Field(description="USD per one unit of `currency`.")
    as_of: UtcDatetime | None = Field(default=None, examples=[UTC_EXAMPLE])


class FxRatePublic(BaseModel):
    currency: str
    rate_to_usd: str
    source: str
    as_of: datetime

    @classmethod
    def of(cls, quote: FxQuote) -> FxRatePublic:
        return cls(
            currency=quote.currency,
            rate_to_usd=_format_decimal(quote.rate_to_usd),
            source=quote.source,
            as_of=utc(quote.as_of),
        )


# --------------------------------------------------------------------------- trades


class PermitCreate(_Model):
    """EIP-2612 permit signed by the buyer for the escrow (non-custodial path)."""

    value: DecimalString = Field(description="Permitted amount in coins.")
    deadline: int = Field(strict=True, ge=0, le=2**63 - 1, description="Unix seconds.")
    v: int = Field(strict=True, ge=0, le=255)
    r: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$")
    s: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$")


class TradeCreate(_Model):
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
    release_requested: bool
    cancel_requested: bool
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

    @classmethod
    def of(cls, trade: Trade) -> TradePublic:
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
            quantity=_format_decimal(Decimal(trade.quantity)),
            price=_format_decimal(Decimal(trade.price)),
            currency=trade.currency,
            fx_rate=_format_decimal(Decimal(trade.fx_rate)),
            fx_source=trade.fx_source,
            fx_as_of=utc(trade.fx_as_of),
            settlement_amount=coins(trade.settlement_amount_base_units),
            deadline=utc(trade.deadline),
            chain_trade_id=trade.chain_trade_id,
            release_requested=trade.release_requested,
            cancel_requested=trade.cancel_requested,
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
        )


class TransitionPublic(BaseModel):
    from_status: TradeStatus | None
    to_status: TradeStatus
    tx_hash: str | None
    block_number: int | None
    error_code: str | None
    at: datetime

    @classmethod
    def of(cls, row: TradeTransition) -> TransitionPublic:
        return cls(
            from_status=TradeStatus(row.from_status) if row.from_status else None,
            to_status=TradeStatus(row.to_status),
            tx_hash=row.tx_hash,
            block_number=row.block_number,
            error_code=row.error_code,
            at=utc(row.at),
        )


# --------------------------------------------------------------------------- ledger and audit


class PostingPublic(BaseModel):
    account: str
    amount: str = Field(description="Signed coins: positive adds to the account.")


class JournalEntryPublic(BaseModel):
    seq: int
    kind: str
    description: str
    trade_id: str | None
    chain_id: int | None
    block_number: int | None
    tx_hash: str | None
    log_index: int | None
    reverses_seq: int | None
    created_at: str
    prev_hash: str
    entry_hash: str
    postings: list[PostingPublic]

    @classmethod
    def of(cls, r: JournalRecord) -> JournalEntryPublic:
        return cls(
            seq=r.seq,
            kind=r.kind,
            description=r.description,
            trade_id=r.trade_id,
            chain_id=r.chain_id,
            block_number=r.block_number,
            tx_hash=r.tx_hash,
            log_index=r.log_index,
            reverses_seq=r.reverses_seq,
            created_at=r.created_at,
            prev_hash=r.prev_hash,
            entry_hash=r.entry_hash,
            postings=[PostingPublic(account=p.account, amount=coins(p.amount_base_units)) for p in r.postings],
        )


class VerifyProblemPublic(BaseModel):
    seq: int
    problem: str


class VerifyPublic(BaseModel):
    ok: bool
    entries: int
    head_hash: str
    problems: list[VerifyProblemPublic]


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


class ReconciliationBreakPublic(BaseModel):
    kind: str = Field(
        examples=["omnibus"], description="What was compared (omnibus, wallet, escrow_locked, lock, ...)."
    )
    account: str
    on_chain: str | None = Field(description="Coins on chain; null where the figure exists only in the ledger.")
    ledger: str
    difference: str | None = Field(description="ledger - on_chain, in coins.")
    detail: str

    @classmethod
    def of(cls, b: Break) -> ReconciliationBreakPublic:
        return cls(
            kind=b.kind,
            account=b.account,
            on_chain=None if b.on_chain is None else coins(b.on_chain),
            ledger=coins(b.ledger),
            difference=None if b.difference is None else coins(b.difference),
            detail=b.detail,
        )


class ReconciliationPublic(BaseModel):
    balanced: bool
    block_number: int = Field(description="The one height at which chain and ledger were both read.")
    checks: int = Field(description="How many figures were compared.")
    breaks: list[ReconciliationBreakPublic]

    @classmethod
    def of(cls, report: ReconciliationReport) -> ReconciliationPublic:
        return cls(
            balanced=report.balanced,
            block_number=report.block_number,
            checks=report.checks,
            breaks=[ReconciliationBreakPublic.of(b) for b in report.breaks],
        )
