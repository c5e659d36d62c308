"""Aligning trades with the escrow's real state: after a crash, an unknown outcome, a revert
that says the chain already moved, or a reorg.

`recover()` first settles the transaction journal (same bytes rebroadcast, never a second
signature), then asks the escrow what state each open trade is really in. Nothing is sent for a
trade before the chain has been asked, so nothing is locked or paid twice. `realign()` does the
asking for any set of trades, in batched reads, and moves each to what the escrow says: a trade
is never left in a state from which no action of the service can move it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy.engine import Engine
from sqlmodel import Session

from settlement.chain.client import ChainClient, LockStatus, OnChainLock
from settlement.chain.custody import Custody
from settlement.chain.trade_ids import chain_trade_key
from settlement.domain.trade import SettlementMode, TradeStatus, is_expired, realignment_path
from settlement.ledger import repository as repo
from settlement.ledger.models import Trade
from settlement.processing.instructions import lock_order
from settlement.processing.publisher import TradePublisher

OPEN_TRADES_PER_RECOVERY_MAX = 2_000
LOCK_MISMATCH = "lock_mismatch"
LOCK_DROPPED = "lock_dropped"
log = logging.getLogger(__name__)

# The status a trade has when its escrow lock is in this state (no lock: not locked yet).
TRADE_STATUS_OF_LOCK = {
    LockStatus.NONE: TradeStatus.PENDING,
    LockStatus.LOCKED: TradeStatus.LOCKED,
    LockStatus.RELEASED: TradeStatus.RELEASED,
    LockStatus.REFUNDED: TradeStatus.REFUNDED,
    LockStatus.RECOVERED: TradeStatus.RECOVERED,
}
# The escrow event whose transaction put a trade in this status.
_EVENT_OF_STATUS = {
    TradeStatus.LOCKED: "Locked",
    TradeStatus.RELEASED: "Released",
    TradeStatus.REFUNDED: "Refunded",
    TradeStatus.RECOVERED: "Recovered",
}


def lock_differences(session: Session, trade: Trade, lock: OnChainLock) -> list[str]:
    """The lock terms (payer, payee, amount, deadline) on which the chain and the trade differ."""
    return lock_order(session, trade).differences(lock)


class Recovery:
    def __init__(
        self, db: Engine, chain: ChainClient, custody: Custody, publisher: TradePublisher | None = None
    ) -> None:
        self.db = db
        self.chain = chain
        self.custody = custody
        self.publisher = publisher

    def recover(self) -> int:
        """Settle the tx journal, then align every open trade with the escrow. Returns how many moved."""
        self.custody.recover()
        with Session(self.db, expire_on_commit=False) as session:
            open_trades = [
                *repo.trades_in_status(
                    session, TradeStatus.PENDING, OPEN_TRADES_PER_RECOVERY_MAX, SettlementMode.GROSS
                ),
                *repo.trades_in_status(session, TradeStatus.LOCKED, OPEN_TRADES_PER_RECOVERY_MAX),
            ]
            moved = self.realign_trades(session, open_trades)
            session.commit()
        self._publish(moved)
        return len(moved)

    def realign(self, trade_ids: Sequence[str]) -> list[Trade]:
        """Re-read these trades' locks (batched) and move each to what the escrow says; returns the moved."""
        if not trade_ids:
            return []
        with Session(self.db, expire_on_commit=False) as session:
            trades = [repo.get_trade(session, trade_id) for trade_id in dict.fromkeys(trade_ids)]
            moved = self.realign_trades(session, trades)
            session.commit()
        self._publish(moved)
        return moved

    def realign_trades(self, session: Session, trades: Sequence[Trade]) -> list[Trade]:
        """realign() inside the caller's session (it commits and publishes): one batched read.
        Net trades are never escrowed, so the escrow has nothing to say about them."""
        trades = [t for t in trades if t.settlement_mode == SettlementMode.GROSS]
        locks = self.chain.get_locks([chain_trade_key(t.chain_trade_id) for t in trades])
        return [trade for trade, lock in zip(trades, locks, strict=True) if self._adopt(session, trade, lock)]

    def adopt_chain_state(self, session: Session, trade: Trade) -> None:
        """Move one trade to what the escrow says (the caller commits and publishes)."""
        self._adopt(session, trade, self.chain.get_lock(chain_trade_key(trade.chain_trade_id)))

    def _adopt(self, session: Session, trade: Trade, on_chain: OnChainLock) -> bool:
        """Move the trade to what the escrow says, recording each step as realigned from the chain
        with the transaction that did it. True if the trade moved.

        Only a lock whose payer, payee, amount and deadline are exactly the trade's is adopted.
        Anything else under the trade's id is a break: the trade fails with `lock_mismatch`, the
        operator is told (log, event) and reconcile lists it; the lock is never taken for ours."""
        trade_key = chain_trade_key(trade.chain_trade_id)
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
                    return True
                return False
        steps = realignment_path(status, TRADE_STATUS_OF_LOCK[on_chain.status])
        for target in steps:
            event_name = _EVENT_OF_STATUS.get(target)
            tx_hash, block = self.chain.last_escrow_event(event_name, trade_key) if event_name else (None, None)
            repo.transition(session, trade, target, tx_hash=tx_hash, block_number=block, realigned=True)
        if steps and trade.status == TradeStatus.PENDING and is_expired(trade.deadline, self.chain.latest_timestamp()):
            repo.transition(
                session,
                trade,
                TradeStatus.FAILED,
                error_code=LOCK_DROPPED,
                error_detail="a reorg undid the lock and its deadline has passed: the escrow takes no lock now",
            )
        if steps:
            log.warning(
                "trade %s realigned from the chain: %s -> %s (escrow: %s)",
                trade.id,
                status,
                trade.status,
                on_chain.status.name,
            )
        return bool(steps)

    def _publish(self, trades: Sequence[Trade]) -> None:
        if self.publisher is not None:
            for trade in trades:
                self.publisher.publish(trade)
