"""SQL reads and writes of net settlement windows, and the bulk moves of a window's trades.

Why its own module: the window-close race (mojaloop/project#2105) is decided here, in SQL. A
trade joins the open window by a conditional UPDATE of the window's row (`trade_count + n
WHERE status = 'OPEN'`), and a close is the same kind of UPDATE (`status = 'CLOSED' WHERE
status = 'OPEN'`). Both take the row's lock, so on PostgreSQL a close waits for every join in
flight and a join that comes after the close finds no row to update and goes to the next
window; SQLite has one writer at a time. Either way a trade is in exactly one window, and the
close sees every trade that joined before it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, bindparam, insert
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select, update

from settlement import errors
from settlement.domain.journal import OBLIGATION_PREFIX, EntryKind
from settlement.domain.trade import SettlementMode, TradeStatus, check_transition
from settlement.domain.window import WindowStatus, can_move
from settlement.ledger import repository as repo
from settlement.ledger.models import (
    JournalEntry,
    Posting,
    SettlementWindowRecord,
    Trade,
    TradeTransition,
    utcnow,
)

OPEN_SLOT = 1
JOIN_ATTEMPTS_MAX = 5  # a join that keeps meeting a closing window gives up (the caller's error)


def open_window(session: Session) -> SettlementWindowRecord:
    """The open window, created if there is none (a unique slot makes concurrent creators agree)."""
    for _ in range(JOIN_ATTEMPTS_MAX):
        row = session.exec(select(SettlementWindowRecord).where(SettlementWindowRecord.open_slot == OPEN_SLOT)).first()
        if row is not None:
            return row
        savepoint = session.begin_nested()
        try:
            row = SettlementWindowRecord(status=WindowStatus.OPEN, open_slot=OPEN_SLOT)
            session.add(row)
            session.flush()
            savepoint.commit()
            return row
        except IntegrityError:
            savepoint.rollback()  # another writer opened it first: read theirs
    raise errors.SettlementUnavailable("could not open a settlement window; retry")


def claim_open_window(session: Session, trade_count: int) -> int:
    """Count `trade_count` more trades into the open window by a conditional UPDATE (see the
    module docstring: the close race); returns its id."""
    for _ in range(JOIN_ATTEMPTS_MAX):
        window = open_window(session)
        claimed = session.exec(  # type: ignore[call-overload]
            update(SettlementWindowRecord)
            .where(col(SettlementWindowRecord.id) == window.id, col(SettlementWindowRecord.status) == WindowStatus.OPEN)
            .values(trade_count=SettlementWindowRecord.trade_count + trade_count)
        )
        if claimed.rowcount == 1:
            assert window.id is not None
            return window.id
        session.expire(window)  # closed meanwhile: the next one
    raise errors.SettlementUnavailable("the settlement window kept closing; retry")


def lock_exposure_of(session: Session, trades: Sequence[Trade]) -> None:
    """Lock the exposure rows of every party to `trades`, in participant order, before any of
    them moves. Every writer of exposure takes these rows first and in one order, then the
    window's row: intake's cover check does, so a step that updated them trade by trade, or after
    claiming the window, could hold a row intake waits for while waiting for one intake holds."""
    repo.net_exposure(session, sorted({p for t in trades for p in (t.buyer_id, t.seller_id)}))


def join(session: Session, trades: Sequence[Trade]) -> int:
    """Put confirmed net trades (PENDING) into the open window, IN_WINDOW; returns the window's id.
    The caller commits: the trades and the window's count commit together."""
    if not trades:
        raise ValueError("nothing to join")
    lock_exposure_of(session, trades)
    window_id = claim_open_window(session, len(trades))
    for trade in trades:
        trade.window_id = window_id
        repo.transition(session, trade, TradeStatus.IN_WINDOW)
    return window_id


def roll(session: Session, trades: Sequence[Trade], from_window_id: int) -> int:
    """Move windowed trades a defaulter held up into the open window (they stay IN_WINDOW)."""
    window_id = claim_open_window(session, len(trades))
    for trade in trades:
        trade.window_id = window_id
        trade.error_code = "rolled_to_next_window"
        trade.error_detail = f"a party could not cover window {from_window_id}"
        trade.updated_at = utcnow()
        session.add(trade)
    return window_id


def close(session: Session, window_id: int, close_block: int | None) -> bool:
    """OPEN -> CLOSED at `close_block` (the block the indexer had confirmed). False if not open."""
    closed = session.exec(  # type: ignore[call-overload]
        update(SettlementWindowRecord)
        .where(col(SettlementWindowRecord.id) == window_id, col(SettlementWindowRecord.status) == WindowStatus.OPEN)
        .values(status=WindowStatus.CLOSED, open_slot=None, closed_at=utcnow(), close_block=close_block)
    )
    return bool(closed.rowcount == 1)


def due_to_close(session: Session, now: datetime, length_s: float, trades_max: int) -> list[int]:
    """The open window, if it holds trades and is old enough or full."""
    row = session.exec(select(SettlementWindowRecord).where(SettlementWindowRecord.open_slot == OPEN_SLOT)).first()
    if row is None or row.id is None or row.trade_count == 0:
        return []
    if row.trade_count >= trades_max or repo.as_utc(row.opened_at) + timedelta(seconds=length_s) <= now:
        return [row.id]
    return []


def get(session: Session, window_id: int) -> SettlementWindowRecord:
    row = session.get(SettlementWindowRecord, window_id)
    if row is None:
        raise errors.NotFound(f"no settlement window {window_id}")
    return row


def ids_in_status(session: Session, status: WindowStatus, limit: int) -> list[int]:
    """Oldest first."""
    rows = session.exec(
        select(SettlementWindowRecord.id)
        .where(SettlementWindowRecord.status == status)
        .order_by(col(SettlementWindowRecord.id))
        .limit(limit)
    ).all()
    return [int(window_id) for window_id in rows if window_id is not None]


def newest(session: Session, status: WindowStatus | None, limit: int) -> Sequence[SettlementWindowRecord]:
    query = select(SettlementWindowRecord)
    if status is not None:
        query = query.where(SettlementWindowRecord.status == status)
    return session.exec(query.order_by(col(SettlementWindowRecord.id).desc()).limit(limit)).all()


@dataclass(frozen=True)
class WindowTrade:
    """What settling a window reads of each of its trades (columns, not ORM objects: a window
    holds thousands, and loading full rows cost more than settling them)."""

    id: str
    chain_trade_id: str
    buyer_id: str
    seller_id: str
    settlement_amount_base_units: int
    deadline: datetime
    status: str
    settlement_mode: str


WINDOW_TRADE_COLUMNS = tuple(f.name for f in fields(WindowTrade))  # read by name from the trade table


def trades_of(session: Session, window_id: int, statuses: Sequence[TradeStatus]) -> list[WindowTrade]:
    table = cast(Table, Trade.__table__)  # type: ignore[attr-defined]
    rows = (
        session.connection()
        .execute(
            sa_select(*[table.c[name] for name in WINDOW_TRADE_COLUMNS])
            .where(table.c.window_id == window_id, table.c.status.in_(list(statuses)))
            .order_by(table.c.chain_trade_id)
        )
        .all()
    )
    return [WindowTrade(*row) for row in rows]


def any_unconfirmed_net_trade(session: Session) -> bool:
    """Whether some net trade is matched but not confirmed yet (so may have been cancelled or expired)."""
    query = select(Trade.id).where(Trade.settlement_mode == SettlementMode.NET, Trade.status == TradeStatus.PENDING)
    return session.exec(query.limit(1)).first() is not None


def net_trades_to_drop(session: Session, chain_now: datetime, limit: int) -> Sequence[Trade]:
    """Net trades matched but not confirmed that were cancelled or whose deadline passed."""
    return session.exec(
        select(Trade)
        .where(
            Trade.settlement_mode == SettlementMode.NET,
            Trade.status == TradeStatus.PENDING,
            col(Trade.cancel_requested) | (col(Trade.deadline) < chain_now),
        )
        .order_by(col(Trade.created_at), col(Trade.id))
        .limit(limit)
    ).all()


def record_figures(session: Session, window: SettlementWindowRecord, figures: dict[str, object]) -> None:
    window.positions_json = json.dumps(figures, sort_keys=True)
    session.add(window)


def move(session: Session, window: SettlementWindowRecord, target: WindowStatus) -> None:
    """Move a window along its lifecycle (domain/window.py's transitions), in the caller's session."""
    current = WindowStatus(window.status)
    if not can_move(current, target):
        raise errors.InvalidTransition(f"window {window.id} cannot go from {current} to {target}")
    window.status = target
    session.add(window)


def settle_trades(
    session: Session, window_id: int, trades: Sequence[WindowTrade], tx_hash: str, block_number: int
) -> None:
    """IN_WINDOW -> SETTLED for a whole window in bulk statements (a window holds thousands of
    trades: one ORM flush per trade would dominate the settlement), with each trade's transition
    row and the exposure its payer and payee held released in one update each. `trades` must be
    every trade still in the window (the defaulters' have left it): one UPDATE moves them all."""
    exposure: dict[str, int] = defaultdict(int)
    for trade in trades:
        if trade.status != TradeStatus.IN_WINDOW or trade.settlement_mode != SettlementMode.NET:
            raise errors.InvalidTransition(f"trade {trade.id} is {trade.status}; only windowed net trades settle")
        payer, payee = repo.net_exposure_share(TradeStatus.IN_WINDOW, trade.settlement_amount_base_units)
        exposure[trade.buyer_id] -= payer
        exposure[trade.seller_id] -= payee
    _move_all(
        session,
        window_id,
        trades,
        (TradeStatus.IN_WINDOW, TradeStatus.SETTLED),
        trade_values={"error_code": None, "error_detail": None},
        transition_values={"tx_hash": tx_hash, "block_number": block_number},
    )
    repo.add_net_exposure(session, dict(exposure))


def _move_all(
    session: Session,
    window_id: int,
    trades: Sequence[WindowTrade],
    step: tuple[TradeStatus, TradeStatus],
    trade_values: dict[str, object],
    transition_values: dict[str, object],
) -> None:
    """Every trade of the window in step's first status moved to its second by one UPDATE, which
    must move exactly `trades` (else the window changed meanwhile and nothing commits), and their
    transition rows written by one executemany."""
    before, after = step
    now = utcnow()
    moved = session.exec(  # type: ignore[call-overload]
        update(Trade)
        .where(col(Trade.window_id) == window_id, col(Trade.status) == before)
        .values(status=after, updated_at=now, **trade_values)
    )
    if moved.rowcount != len(trades):
        raise errors.InvalidTransition(
            f"window {window_id} holds {moved.rowcount} {before} trades, not the {len(trades)} to move: "
            "it changed meanwhile"
        )
    if not trades:
        return
    transitions = cast(Table, TradeTransition.__table__)  # type: ignore[attr-defined]
    session.connection().execute(
        insert(transitions).values(
            trade_id=bindparam("trade_id"), from_status=before.value, to_status=after.value, at=now, **transition_values
        ),
        [{"trade_id": trade.id} for trade in trades],
    )


def settled_above(session: Session, block_number: int, after_id: int, limit: int) -> list[int]:
    """SETTLED windows whose settlement was seen mined above `block_number` (a reorg's fork), by
    id after `after_id`: a page of the read-back (a window read back keeps its status, so paging
    by block alone would read the same page for ever)."""
    rows = session.exec(
        select(SettlementWindowRecord.id)
        .where(
            SettlementWindowRecord.status == WindowStatus.SETTLED,
            col(SettlementWindowRecord.settlement_block) > block_number,
            col(SettlementWindowRecord.id) > after_id,
        )
        .order_by(col(SettlementWindowRecord.id))
        .limit(limit)
    ).all()
    return [int(window_id) for window_id in rows if window_id is not None]


def unsettle_trades(session: Session, window_id: int, trades: Sequence[WindowTrade]) -> None:
    """SETTLED -> IN_WINDOW for a window whose settlement a reorg undid (settle_trades undone, in
    the same bulk statements): each step recorded as realigned from the chain, and the exposure
    its payer and payee held taken up again. `trades` must be every SETTLED trade of the window."""
    exposure: dict[str, int] = defaultdict(int)
    for trade in trades:
        check_transition(TradeStatus(trade.status), TradeStatus.IN_WINDOW, realigned=True)
        payer, payee = repo.net_exposure_share(TradeStatus.IN_WINDOW, trade.settlement_amount_base_units)
        exposure[trade.buyer_id] += payer
        exposure[trade.seller_id] += payee
    _move_all(
        session,
        window_id,
        trades,
        (TradeStatus.SETTLED, TradeStatus.IN_WINDOW),
        trade_values={},
        transition_values={"reason": repo.REALIGNED_FROM_CHAIN},
    )
    repo.add_net_exposure(session, dict(exposure))


def unreversed_obligations(session: Session, window_id: int) -> list[int]:
    """Seqs of the window's obligation entries no reversal has undone yet, newest first (the
    window's obligation accounts name it: obligation:<window id>:<address>)."""
    reversed_seqs = select(JournalEntry.reverses_seq).where(col(JournalEntry.reverses_seq).is_not(None))
    in_window = select(Posting.entry_seq).where(col(Posting.account).startswith(f"{OBLIGATION_PREFIX}{window_id}:"))
    rows = session.exec(
        select(JournalEntry.seq)
        .where(
            JournalEntry.kind == EntryKind.OBLIGATION,
            col(JournalEntry.seq).in_(in_window),
            col(JournalEntry.seq).not_in(reversed_seqs),
        )
        .order_by(col(JournalEntry.seq).desc())
    ).all()
    return [int(seq) for seq in rows]
