"""Read-only queries behind the dashboard and the exports: counts, a payer's open locks, and
which trades and journal entries a transaction touched (to decide who may open it).

Kept apart from repository.py: these serve only read views, and nothing here writes.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from settlement.domain.trade import TradeStatus
from settlement.ledger.models import JournalEntry, Posting, Trade, TradeTransition

LOCKED_TRADES_READ_MAX = 1_000  # open locks read per payer for the escrow cross-check


def trade_counts(session: Session, party_id: str | None) -> dict[str, int]:
    """Trades per status, all of them or one party's (as buyer or seller)."""
    query = select(Trade.status, func.count()).group_by(col(Trade.status))
    if party_id is not None:
        query = query.where((Trade.buyer_id == party_id) | (Trade.seller_id == party_id))
    return {str(status): int(count) for status, count in session.exec(query)}


def locked_trades_of(session: Session, payer_id: str, limit: int = LOCKED_TRADES_READ_MAX) -> Sequence[Trade]:
    return session.exec(
        select(Trade)
        .where(Trade.buyer_id == payer_id, Trade.status == TradeStatus.LOCKED)
        .order_by(col(Trade.created_at), col(Trade.id))
        .limit(limit)
    ).all()


def trades_with_tx(session: Session, tx_hash: str, limit: int = 200) -> Sequence[Trade]:
    """Trades whose lock, release or refund, or any recorded transition, was this transaction."""
    tx_hash = tx_hash.lower()
    in_transitions = select(TradeTransition.trade_id).where(func.lower(TradeTransition.tx_hash) == tx_hash)
    return session.exec(
        select(Trade)
        .where(
            or_(
                func.lower(Trade.lock_tx_hash) == tx_hash,
                func.lower(Trade.release_tx_hash) == tx_hash,
                func.lower(Trade.refund_tx_hash) == tx_hash,
                col(Trade.id).in_(in_transitions),
            )
        )
        .limit(limit)
    ).all()


def accounts_moved_by_tx(session: Session, tx_hash: str, limit: int = 1_000) -> set[str]:
    """The ledger accounts the journal entries of this transaction posted to."""
    seqs = select(JournalEntry.seq).where(func.lower(JournalEntry.tx_hash) == tx_hash.lower())
    rows = session.exec(select(Posting.account).where(col(Posting.entry_seq).in_(seqs)).limit(limit))
    return {str(account).lower() for account in rows}
