"""What the parties ask for after intake: confirm delivery, cancel.

These only record an intent on the trade (domain/trade.py says when that is allowed); the
settlement cycle acts on it on chain. Both are idempotent, so a client retrying after a timeout
gets the trade back, not an error.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session

from settlement.domain.trade import cancel_is_noop, check_can_cancel, check_can_confirm, confirm_is_noop
from settlement.ledger import repository as repo
from settlement.ledger.models import Trade, utcnow


class PartyInstructions:
    def __init__(self, db: Engine) -> None:
        self.db = db

    def confirm_delivery(self, trade_id: str) -> Trade:
        """Delivery confirmed: release at the next cycle (or as soon as the lock lands)."""
        with Session(self.db, expire_on_commit=False) as session:
            trade = repo.get_trade(session, trade_id)
            if confirm_is_noop(trade):
                return trade
            check_can_confirm(trade)
            trade.release_requested = True
            trade.updated_at = utcnow()
            session.add(trade)
            session.commit()
            return trade

    def cancel(self, trade_id: str, *, by_operator: bool) -> Trade:
        """Cancel before release: refund if locked. After delivery is confirmed only the operator may."""
        with Session(self.db, expire_on_commit=False) as session:
            trade = repo.get_trade(session, trade_id)
            if cancel_is_noop(trade):
                return trade
            check_can_cancel(trade, by_operator=by_operator)
            trade.cancel_requested = True
            trade.release_requested = False
            trade.updated_at = utcnow()
            session.add(trade)
            session.commit()
            return trade
