"""Aligning trades with the escrow's real state: after a crash, or when an outcome is unknown.

`recover()` first settles the transaction journal (same bytes rebroadcast, never a second
signature), then asks the escrow what state each open trade is really in. Nothing is sent for a
trade before the chain has been asked, so nothing is locked or paid twice.
"""

from __future__ import annotations

import logging

from sqlalchemy.engine import Engine
from sqlmodel import Session

from settlement.chain.client import ChainClient, LockStatus, OnChainLock
from settlement.chain.custody import Custody
from settlement.chain.trade_ids import chain_trade_key
from settlement.domain.trade import TradeStatus
from settlement.ledger import repository as repo
from settlement.ledger.models import Trade
from settlement.processing.instructions import lock_order

OPEN_TRADES_PER_RECOVERY_MAX = 2_000
LOCK_MISMATCH = "lock_mismatch"
log = logging.getLogger(__name__)


def lock_differences(session: Session, trade: Trade, lock: OnChainLock) -> list[str]:
    """The lock terms (payer, payee, amount, deadline) on which the chain and the trade differ."""
    return lock_order(session, trade).differences(lock)


class Recovery:
    def __init__(self, db: Engine, chain: ChainClient, custody: Custody) -> None:
        self.db = db
        self.chain = chain
        self.custody = custody

    def recover(self) -> int:
        """Settle the tx journal, then align every open trade with the escrow. Returns how many moved."""
        self.custody.recover()
        changed = 0
        with Session(self.db, expire_on_commit=False) as session:
            open_trades = [
                *repo.trades_in_status(session, TradeStatus.PENDING, OPEN_TRADES_PER_RECOVERY_MAX),
                *repo.trades_in_status(session, TradeStatus.LOCKED, OPEN_TRADES_PER_RECOVERY_MAX),
            ]
            for trade in open_trades:
                before = trade.status
                self.adopt_chain_state(session, trade)
                changed += trade.status != before
            session.commit()
        return changed

    def adopt_chain_state(self, session: Session, trade: Trade) -> None:
        """Move the trade to what the escrow says, recording the transaction that did it.

        Only a lock whose payer, payee, amount and deadline are exactly the trade's is adopted.
        Anything else under the trade's id is a break: the trade fails with `lock_mismatch`, the
        operator is told (log, event) and reconcile lists it; the lock is never taken for ours."""
        trade_key = chain_trade_key(trade.chain_trade_id)
        on_chain = self.chain.get_lock(trade_key)
        status = TradeStatus(trade.status)
        if on_chain.status != LockStatus.NONE:
            differing = lock_differences(session, trade, on_chain)
            if differing:
                log.error(
                    "trade %s: the escrow holds a lock under its id with other %s; not adopted",
                    trade.id,
                    ", ".join(differing),
                )
                if status == TradeStatus.PENDING:
                    repo.transition(
                        session,
                        trade,
                        TradeStatus.FAILED,
                        error_code=LOCK_MISMATCH,
                        error_detail=f"a lock under this trade's id has other {', '.join(differing)}",
                    )
                return
        steps: list[tuple[TradeStatus, str]] = []
        if status == TradeStatus.PENDING and on_chain.status != LockStatus.NONE:
            steps.append((TradeStatus.LOCKED, "Locked"))
        if on_chain.status == LockStatus.RELEASED:
            steps.append((TradeStatus.RELEASED, "Released"))
        elif on_chain.status == LockStatus.REFUNDED:
            steps.append((TradeStatus.REFUNDED, "Refunded"))
        for target, event_name in steps:
            tx_hash, block = self.chain.last_escrow_event(event_name, trade_key)
            repo.transition(session, trade, target, tx_hash=tx_hash, block_number=block)
