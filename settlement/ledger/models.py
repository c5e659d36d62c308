"""Table models. Money columns hold integer token base units of any uint256 size (BaseUnits:
NUMERIC(78, 0) on PostgreSQL, decimal text on SQLite); decimals from the edge (quantity, price,
FX rate) are stored as their exact decimal strings, never as floats.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, Index, Integer, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from settlement.ledger.amounts import BaseUnits


def utcnow() -> datetime:
    return datetime.now(UTC)


class Participant(SQLModel, table=True):
    __tablename__ = "participant"

    id: str = Field(primary_key=True, max_length=36)
    name: str = Field(sa_column=Column(String(200), unique=True, nullable=False))
    jurisdiction: str = Field(max_length=8)
    address: str = Field(sa_column=Column(String(42), unique=True, nullable=False))
    api_key_hash: str | None = Field(default=None, max_length=64, index=True)
    created_at: datetime = Field(default_factory=utcnow)


class ClientAccount(SQLModel, table=True):
    """A broker's client. It exists only here: the chain sees the broker's omnibus wallet."""

    __tablename__ = "client_account"
    __table_args__ = (UniqueConstraint("participant_id", "name"),)

    id: str = Field(primary_key=True, max_length=36)
    participant_id: str = Field(foreign_key="participant.id", index=True, max_length=36)
    name: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


class FxRate(SQLModel, table=True):
    """USD per one unit of `currency`, with where and when it came from. Latest as_of wins."""

    __tablename__ = "fx_rate"

    id: int | None = Field(default=None, primary_key=True)
    currency: str = Field(max_length=3, index=True)
    rate_to_usd: str = Field(max_length=40)
    source: str = Field(max_length=100)
    as_of: datetime
    forced: bool = False  # recorded past the jump limit because the operator said so
    recorded_at: datetime = Field(default_factory=utcnow)


class Trade(SQLModel, table=True):
    """One economic trade. Each side keeps its own reference (buyer_ref, seller_ref), unique per
    party, so one economic trade cannot be booked twice by two submissions."""

    __tablename__ = "trade"
    __table_args__ = (
        UniqueConstraint("submitted_by", "trade_ref"),
        UniqueConstraint("buyer_id", "buyer_ref", name="uq_trade_buyer_ref"),
        UniqueConstraint("seller_id", "seller_ref", name="uq_trade_seller_ref"),
    )

    id: str = Field(primary_key=True, max_length=36)
    chain_trade_id: str = Field(sa_column=Column(String(66), unique=True, nullable=False))
    trade_ref: str = Field(max_length=100)
    submitted_by: str = Field(max_length=36)
    buyer_id: str = Field(foreign_key="participant.id", index=True, max_length=36)
    seller_id: str = Field(foreign_key="participant.id", index=True, max_length=36)
    buyer_client_id: str | None = Field(default=None, foreign_key="client_account.id", max_length=36)
    seller_client_id: str | None = Field(default=None, foreign_key="client_account.id", max_length=36)
    instrument: str = Field(max_length=64)
    quantity: str = Field(max_length=64)
    price: str = Field(max_length=64)
    currency: str = Field(max_length=3)
    fx_rate: str = Field(max_length=40)
    fx_source: str = Field(max_length=100)
    fx_as_of: datetime
    settlement_amount_base_units: int = Field(sa_column=Column(BaseUnits(), nullable=False))
    deadline: datetime
    status: str = Field(max_length=16, index=True)
    error_code: str | None = Field(default=None, max_length=64)
    error_detail: str | None = Field(default=None, sa_column=Column(Text))
    permit_json: str | None = Field(default=None, sa_column=Column(Text))
    buyer_ref: str | None = Field(default=None, max_length=100)
    seller_ref: str | None = Field(default=None, max_length=100)
    matched_by: str | None = Field(default=None, max_length=16)
    matched_at: datetime | None = None
    affirmed_by: str | None = Field(default=None, max_length=36)
    mismatch_json: str | None = Field(default=None, sa_column=Column(Text))
    delivered_at: datetime | None = None
    lock_signature: str | None = Field(default=None, sa_column=Column(Text))
    release_requested: bool = False
    cancel_requested: bool = False
    buyer_cancel_requested: bool = False
    seller_cancel_requested: bool = False
    lock_tx_hash: str | None = Field(default=None, max_length=66)
    lock_block: int | None = None
    release_tx_hash: str | None = Field(default=None, max_length=66)
    release_block: int | None = None
    refund_tx_hash: str | None = Field(default=None, max_length=66)
    refund_block: int | None = None
    created_at: datetime = Field(default_factory=utcnow, index=True)
    updated_at: datetime = Field(default_factory=utcnow)
    settlement_mode: str = Field(default="gross", max_length=8, index=True)  # gross | net
    window_id: int | None = Field(default=None, index=True)  # net: the window it settles in


class SettlementWindowRecord(SQLModel, table=True):
    """A net settlement window (settlement/processing/windows.py). `open_slot` is 1 while the window
    is OPEN and NULL after: its unique constraint makes "at most one open window" the database's
    rule, so two writers opening one at the same moment cannot both succeed."""

    __tablename__ = "settlement_window"

    id: int | None = Field(default=None, primary_key=True)
    status: str = Field(max_length=24, index=True)
    open_slot: int | None = Field(default=None, sa_column=Column(Integer, unique=True, nullable=True))
    trade_count: int = 0
    opened_at: datetime = Field(default_factory=utcnow)
    closed_at: datetime | None = None
    close_block: int | None = None
    trades_root: str | None = Field(default=None, max_length=66)
    positions_json: str | None = Field(default=None, sa_column=Column(Text))
    settlement_tx_hash: str | None = Field(default=None, max_length=66)
    settlement_block: int | None = None
    settled_at: datetime | None = None


class NetExposure(SQLModel, table=True):
    """A net-mode payer's running exposure against its net debit cap: what its matched and
    windowed net trades make it pay, less what its windowed ones make it receive."""

    __tablename__ = "net_exposure"

    participant_id: str = Field(foreign_key="participant.id", primary_key=True, max_length=36)
    exposure_base_units: int = Field(sa_column=Column(BaseUnits(), nullable=False))


class TradeTransition(SQLModel, table=True):
    """Every status change, with the transaction that caused it: the trade's own audit trail."""

    __tablename__ = "trade_transition"

    id: int | None = Field(default=None, primary_key=True)
    trade_id: str = Field(foreign_key="trade.id", index=True, max_length=36)
    from_status: str = Field(max_length=16)
    to_status: str = Field(max_length=16)
    tx_hash: str | None = Field(default=None, max_length=66)
    block_number: int | None = None
    error_code: str | None = Field(default=None, max_length=64)
    # Why the step was taken when it was not the service's own call's outcome: "realigned_from_chain".
    reason: str | None = Field(default=None, max_length=64)
    at: datetime = Field(default_factory=utcnow)


class IdempotencyRecord(SQLModel, table=True):
    __tablename__ = "idempotency_record"

    caller: str = Field(primary_key=True, max_length=36)
    key: str = Field(primary_key=True, max_length=200)
    request_hash: str = Field(max_length=64)
    trade_id: str = Field(max_length=36)
    created_at: datetime = Field(default_factory=utcnow)


class IdempotentOperation(SQLModel, table=True):
    """One Idempotency-Key of one caller for one kind of money-moving request (settlement/idempotency.py).

    Written as in_progress before the work starts, so a concurrent or later retry can never
    start it again; done rows keep the first response to replay. Rows expire after
    SETTLEMENT_IDEMPOTENCY_KEY_TTL_S and are purged.
    """

    __tablename__ = "idempotent_operation"

    caller: str = Field(primary_key=True, max_length=36)
    operation: str = Field(primary_key=True, max_length=40)
    key: str = Field(primary_key=True, max_length=200)
    request_hash: str = Field(max_length=64)
    claim_id: str = Field(max_length=36)  # which attempt holds the row: only it may finish or release it
    status: str = Field(max_length=16)  # in_progress | done
    response_status: int | None = None
    response_json: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow, index=True)


class JournalEntry(SQLModel, table=True):
    """Append-only. Each entry's hash covers its fields, postings and the previous entry's hash."""

    __tablename__ = "journal_entry"

    seq: int = Field(primary_key=True)
    prev_hash: str = Field(max_length=64)
    entry_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    kind: str = Field(max_length=16)
    description: str = Field(default="", sa_column=Column(Text, nullable=False))
    trade_id: str | None = Field(default=None, max_length=36, index=True)
    chain_id: int | None = None
    block_number: int | None = Field(default=None, index=True)
    block_hash: str | None = Field(default=None, max_length=66)
    tx_hash: str | None = Field(default=None, max_length=66)
    log_index: int | None = None
    reverses_seq: int | None = None
    created_at: str = Field(max_length=40)


class Posting(SQLModel, table=True):
    __tablename__ = "posting"
    __table_args__ = (Index("ix_posting_account_entry", "account", "entry_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    entry_seq: int = Field(foreign_key="journal_entry.seq", index=True)
    account: str = Field(max_length=120)
    amount_base_units: int = Field(sa_column=Column(BaseUnits(), nullable=False))


class JournalHead(SQLModel, table=True):
    """One row per journal: the last seq and hash. Appends update it, which serialises writers."""

    __tablename__ = "journal_head"

    id: int = Field(default=1, primary_key=True)
    seq: int = 0
    entry_hash: str = Field(max_length=64)


class ProcessedLog(SQLModel, table=True):
    """Each chain log is applied once: the unique constraint is the last defence against replays."""

    __tablename__ = "processed_log"
    __table_args__ = (UniqueConstraint("chain_id", "tx_hash", "log_index"),)

    id: int | None = Field(default=None, primary_key=True)
    chain_id: int
    tx_hash: str = Field(max_length=66)
    log_index: int
    block_number: int = Field(index=True)
    block_hash: str = Field(max_length=66)
    entry_seq: int | None = None


class IndexedBlock(SQLModel, table=True):
    """Block hashes the indexer has seen, to notice when one stops being canonical (a reorg)."""

    __tablename__ = "indexed_block"

    chain_id: int = Field(primary_key=True)
    block_number: int = Field(primary_key=True)
    block_hash: str = Field(max_length=66)


class IndexerCursor(SQLModel, table=True):
    __tablename__ = "indexer_cursor"

    chain_id: int = Field(primary_key=True)
    last_block: int
    last_block_hash: str = Field(max_length=66)
    updated_at: datetime = Field(default_factory=utcnow)


class SentTransaction(SQLModel, table=True):
    """The nonce journal: every signed tx recorded before it is broadcast (see chain/sender.py)."""

    __tablename__ = "sent_transaction"
    __table_args__ = (Index("ix_sent_tx_sender_nonce", "chain_id", "sender", "nonce"),)

    tx_hash: str = Field(primary_key=True, max_length=66)
    chain_id: int
    sender: str = Field(max_length=42)
    nonce: int
    raw_tx: str = Field(sa_column=Column(Text, nullable=False))
    purpose: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(max_length=16, index=True)
    block_number: int | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class LedgerIdentity(SQLModel, table=True):
    """Which chain and deployment this ledger mirrors. A ledger pointed at another one (a devnet
    reset, a wrong RPC URL) must refuse to run rather than mix two chains' histories."""

    __tablename__ = "ledger_identity"

    id: int = Field(default=1, primary_key=True)
    chain_id: int
    escrow_address: str = Field(max_length=42)
    deploy_block: int
    deploy_block_hash: str = Field(max_length=66)
    recorded_at: datetime = Field(default_factory=utcnow)


class WorkerLeaseRecord(SQLModel, table=True):
    """Who runs this ledger's settlement worker, and its heartbeat (settlement/ledger/worker_lease.py).

    One row. On SQLite it is the lease itself (taken when free or expired); on PostgreSQL an
    advisory lock is, and the row only lets every API server see whether some worker is alive.
    """

    __tablename__ = "worker_lease"

    id: int = Field(default=1, primary_key=True)
    holder: str | None = Field(default=None, max_length=100)
    heartbeat_at: datetime
    expires_at: datetime
    worker_error: str | None = Field(default=None, max_length=100)  # the class of the last cycle's error


# --- hardening: durable trade events and the webhook outbox (migration 0003) ------------------


class TradeEventRecord(SQLModel, table=True):
    """Every trade event, in the order it was recorded. The id is what the event stream sends as
    `id:`, so a client reconnecting with Last-Event-ID gets what it missed from here."""

    __tablename__ = "trade_event_log"

    id: int | None = Field(default=None, primary_key=True)
    payload: str = Field(sa_column=Column(Text, nullable=False))  # the TradeEvent's fields as JSON
    at: datetime = Field(default_factory=utcnow)


class WebhookDelivery(SQLModel, table=True):
    """One event to POST to the webhook URL: retried with backoff until delivered or parked.

    The id is the `webhook-id` receivers deduplicate on; it stays the same across retries and
    replays. `attempts` counts attempts started (a claim increments it), so two dispatchers never
    send the same attempt.
    """

    __tablename__ = "webhook_delivery"
    __table_args__ = (Index("ix_webhook_delivery_status_next_attempt", "status", "next_attempt_at"),)

    id: str = Field(primary_key=True, max_length=36)
    event_id: int = Field(foreign_key="trade_event_log.id", index=True)
    status: str = Field(max_length=16)
    attempts: int = 0
    queued_at: datetime  # when it was queued (or replayed): the retry period counts from here
    next_attempt_at: datetime
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    delivered_at: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)


# --- reliability: each payer's reservation as a running figure (migration 0007) -------------------

PAYER_TOTAL = ""  # client_id of the row that holds the payer's whole reservation


class PayerReservation(SQLModel, table=True):
    """Coins promised by a payer's PENDING trades (matched, not yet locked): one row for the payer
    (client_id "") and one per client whose trades reserve. Kept up to date in the transaction
    that moves a trade into or out of PENDING (repository.py), so intake reads one row instead of
    summing every pending trade on each submission."""

    __tablename__ = "payer_reservation"

    participant_id: str = Field(foreign_key="participant.id", primary_key=True, max_length=36)
    client_id: str = Field(default=PAYER_TOTAL, primary_key=True, max_length=36)
    reserved_base_units: int = Field(sa_column=Column(BaseUnits(), nullable=False))


class NetDebitCap(SQLModel, table=True):
    """A broker's net debit cap set by the operator, below its settlement balance (net mode).

    A table of its own rather than a participant column: most brokers have none (their cap is
    their settlement balance), and clearing a cap is deleting its row.
    """

    __tablename__ = "net_debit_cap"

    participant_id: str = Field(foreign_key="participant.id", primary_key=True, max_length=36)
    cap_base_units: int = Field(sa_column=Column(BaseUnits(), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow)
