"""Exports for auditors: the journal, the trades, a reconciliation and a participant's statement,
each stamped with where it was taken (block number and hash, journal head seq and hash).

Why a stamp: a file kept for years must be checkable later. The block pins the chain's state
(anyone can re-read balances at that block) and the journal head pins the ledger's (its hash
commits to every entry before it; `python -m settlement verify` recomputes it). The service
takes the stamp while holding the cycle lock, right after indexing to the head, and everything
here reads the journal only up to the stamp's seq, so later entries never leak into an export.

Rows are plain dicts of strings (money as exact decimal coin strings): the API renders them as
CSV or JSON without knowing what they mean.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from settlement import errors
from settlement.ledger.journal_store import JournalRecord, JournalStore
from settlement.money import format_coins
from settlement.reconcile import ReconciliationReport

if TYPE_CHECKING:  # views re-exports this module's shapes
    from settlement.views import TradeView

EXPORT_ENTRIES_MAX = 100_000  # journal entries in one export: a bigger one must name a period
EXPORT_TRADES_MAX = 100_000
READ_PAGE_ENTRIES = 5_000

JOURNAL_COLUMNS = (
    "seq",
    "created_at",
    "kind",
    "description",
    "trade_id",
    "block_number",
    "tx_hash",
    "log_index",
    "reverses_seq",
    "account",
    "amount",
    "prev_hash",
    "entry_hash",
)
TRADE_COLUMNS = (
    "id",
    "trade_ref",
    "status",
    "submitted_by",
    "buyer_id",
    "seller_id",
    "buyer_client_id",
    "seller_client_id",
    "instrument",
    "quantity",
    "price",
    "currency",
    "fx_rate",
    "fx_source",
    "fx_as_of",
    "settlement_amount",
    "deadline",
    "chain_trade_id",
    "matched_by",
    "affirmed_by",
    "matched_at",
    "delivered_at",
    "lock_tx_hash",
    "lock_block",
    "release_tx_hash",
    "release_block",
    "refund_tx_hash",
    "refund_block",
    "error_code",
    "created_at",
    "updated_at",
)
RECONCILIATION_COLUMNS = ("kind", "account", "on_chain", "ledger", "difference", "detail")
STATEMENT_COLUMNS = ("account", "seq", "created_at", "kind", "description", "trade_id", "tx_hash", "amount", "balance")


@dataclass(frozen=True)
class ExportStamp:
    chain_id: int
    block_number: int
    block_hash: str
    journal_seq: int
    journal_head_hash: str
    taken_at: datetime


@dataclass(frozen=True)
class Period:
    """[start, end) on the journal entries' time; None is open-ended."""

    start: datetime | None = None
    end: datetime | None = None

    def __post_init__(self) -> None:
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise errors.ValidationFailed("the period's from must be before its to")

    def before(self, moment: datetime) -> bool:
        return self.start is not None and moment < self.start

    def contains(self, moment: datetime) -> bool:
        return not self.before(moment) and (self.end is None or moment < self.end)


@dataclass(frozen=True)
class Export:
    kind: str
    stamp: ExportStamp
    columns: tuple[str, ...]
    rows: list[dict[str, str]]
    summary: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AccountStatement:
    account: str
    opening_base_units: int
    closing_base_units: int
    movements: list[JournalRecord]


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def entry_time(record: JournalRecord) -> datetime:
    return datetime.fromisoformat(record.created_at)


def records_up_to(journal: JournalStore, head_seq: int, accounts: Iterable[str] | None) -> Iterator[JournalRecord]:
    """Entries with seq <= head_seq in seq order: all, or those touching any of `accounts`."""
    wanted = None if accounts is None else sorted({a.lower() if a.startswith("wallet:") else a for a in accounts})
    if wanted is None:
        streams: list[Iterator[JournalRecord]] = [_pages(journal, None, head_seq)]
    else:
        streams = [_pages(journal, account, head_seq) for account in wanted]
    seen: set[int] = set()
    merged = sorted((r for stream in streams for r in stream), key=lambda r: r.seq) if len(streams) > 1 else None
    for record in merged if merged is not None else streams[0]:
        if record.seq in seen:
            continue
        seen.add(record.seq)
        if len(seen) > EXPORT_ENTRIES_MAX:
            raise errors.ValidationFailed(
                f"more than {EXPORT_ENTRIES_MAX} journal entries: export one account or a shorter period"
            )
        yield record


def _pages(journal: JournalStore, account: str | None, head_seq: int) -> Iterator[JournalRecord]:
    after: int | None = None
    while True:
        batch = journal.entries(account=account, after_seq=after, limit=READ_PAGE_ENTRIES)
        for record in batch:
            if record.seq > head_seq:
                return
            yield record
        if len(batch) < READ_PAGE_ENTRIES:
            return
        after = batch[-1].seq


def journal_export(
    stamp: ExportStamp, records: Iterable[JournalRecord], period: Period, accounts: set[str] | None
) -> Export:
    """One row per posting, so a spreadsheet sums any account by filtering a column."""
    rows: list[dict[str, str]] = []
    entries = 0
    for record in records:
        if not period.contains(entry_time(record)):
            continue
        entries += 1
        for posting in record.postings:
            if accounts is not None and posting.account.lower() not in accounts:
                continue
            rows.append(
                {
                    "seq": str(record.seq),
                    "created_at": record.created_at,
                    "kind": record.kind,
                    "description": record.description,
                    "trade_id": _text(record.trade_id),
                    "block_number": _text(record.block_number),
                    "tx_hash": _text(record.tx_hash),
                    "log_index": _text(record.log_index),
                    "reverses_seq": _text(record.reverses_seq),
                    "account": posting.account,
                    "amount": format_coins(posting.amount_base_units),
                    "prev_hash": record.prev_hash,
                    "entry_hash": record.entry_hash,
                }
            )
    return Export("journal", stamp, JOURNAL_COLUMNS, rows, {"entries": str(entries), "postings": str(len(rows))})


def trades_export(stamp: ExportStamp, trades: Iterable[TradeView]) -> Export:
    rows = []
    for trade in trades:
        row = {name: _text(getattr(trade, name, None)) for name in TRADE_COLUMNS if name != "settlement_amount"}
        row["settlement_amount"] = format_coins(trade.settlement_amount_base_units)
        rows.append({name: row[name] for name in TRADE_COLUMNS})
    return Export("trades", stamp, TRADE_COLUMNS, rows, {"trades": str(len(rows))})


def reconciliation_export(stamp: ExportStamp, report: ReconciliationReport) -> Export:
    rows = [
        {
            "kind": b.kind,
            "account": b.account,
            "on_chain": "" if b.on_chain is None else format_coins(b.on_chain),
            "ledger": format_coins(b.ledger),
            "difference": "" if b.difference is None else format_coins(b.difference),
            "detail": b.detail,
        }
        for b in report.breaks
    ]
    summary = {
        "balanced": "true" if report.balanced else "false",
        "reconciled_at_block": str(report.block_number),
        "checks": str(report.checks),
        "breaks": str(len(report.breaks)),
    }
    return Export("reconciliation", stamp, RECONCILIATION_COLUMNS, rows, summary)


def account_statements(records: Iterable[JournalRecord], accounts: list[str], period: Period) -> list[AccountStatement]:
    """Per account: the balance before the period, the entries in it, the balance at its end."""
    wanted = {a.lower() for a in accounts}
    opening = dict.fromkeys(wanted, 0)
    movement = dict.fromkeys(wanted, 0)
    moves: dict[str, list[JournalRecord]] = {a: [] for a in wanted}
    for record in records:
        moment = entry_time(record)
        before, inside = period.before(moment), period.contains(moment)
        for posting in record.postings:
            account = posting.account.lower()
            if account not in wanted:
                continue
            if before:
                opening[account] += posting.amount_base_units
            elif inside:
                movement[account] += posting.amount_base_units
                if not moves[account] or moves[account][-1].seq != record.seq:
                    moves[account].append(record)
    return [
        AccountStatement(a.lower(), opening[a.lower()], opening[a.lower()] + movement[a.lower()], moves[a.lower()])
        for a in accounts
    ]


def statement_export(
    stamp: ExportStamp, participant_id: str, statements: list[AccountStatement], period: Period
) -> Export:
    """Opening line, one line per entry with the running balance, closing line, per account."""
    rows: list[dict[str, str]] = []
    for statement in statements:
        balance = statement.opening_base_units
        blank = dict.fromkeys(STATEMENT_COLUMNS, "")
        rows.append({**blank, "account": statement.account, "kind": "OPENING", "balance": format_coins(balance)})
        for record in statement.movements:
            amount = sum(p.amount_base_units for p in record.postings if p.account.lower() == statement.account)
            balance += amount
            rows.append(
                {
                    "account": statement.account,
                    "seq": str(record.seq),
                    "created_at": record.created_at,
                    "kind": record.kind,
                    "description": record.description,
                    "trade_id": _text(record.trade_id),
                    "tx_hash": _text(record.tx_hash),
                    "amount": format_coins(amount),
                    "balance": format_coins(balance),
                }
            )
        rows.append({**blank, "account": statement.account, "kind": "CLOSING", "balance": format_coins(balance)})
    summary = {
        "participant_id": participant_id,
        "period_from": _text(period.start),
        "period_to": _text(period.end),
        "opening": format_coins(sum(s.opening_base_units for s in statements)),
        "closing": format_coins(sum(s.closing_base_units for s in statements)),
    }
    return Export("statement", stamp, STATEMENT_COLUMNS, rows, summary)
