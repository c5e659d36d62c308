"""What the parties ask for after intake: affirm, withdraw, confirm delivery, report delivery,
cancel, authorise the lock.

These record an intent or an agreement on the trade (domain/trade.py says when that is allowed);
the settlement cycle acts on it on chain. All are idempotent, so a client retrying after a
timeout gets the trade back, not an error. Who may ask for what is decided by the service's
policy (domain/access.py) before these are called.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session

from settlement import errors
from settlement.chain.client import ChainClient
from settlement.chain.contract_calls import LockOrder
from settlement.chain.lock_intents import lock_intent_signer
from settlement.domain.access import Actor
from settlement.domain.trade import (
    SettlementMode,
    Side,
    TradeStatus,
    cancel_is_noop,
    cancel_takes_effect,
    check_can_cancel,
    check_can_confirm,
    confirm_is_noop,
    is_matched,
)
from settlement.ledger import repository as repo
from settlement.ledger import window_store
from settlement.ledger.models import Trade, utcnow
from settlement.processing.matching import TradeMatching
from settlement.processing.publisher import TradePublisher


def lock_order(session: Session, trade: Trade) -> LockOrder:
    """The lock the escrow will be asked for: exactly what the payer's signature must cover."""
    buyer = repo.get_participant(session, trade.buyer_id)
    seller = repo.get_participant(session, trade.seller_id)
    return LockOrder.for_trade(
        trade.chain_trade_id, buyer.address, seller.address, trade.settlement_amount_base_units, trade.deadline
    )


class PartyInstructions:
    def __init__(self, db: Engine, chain: ChainClient, matching: TradeMatching, publisher: TradePublisher) -> None:
        self.db = db
        self.chain = chain
        self.matching = matching
        self.publisher = publisher

    def affirm(self, trade_id: str, side: Side, own_ref: str | None, actor: Actor) -> Trade:
        """The counterparty agrees to an alleged trade: it becomes matched (PENDING)."""
        with Session(self.db, expire_on_commit=False) as session:
            trade = repo.get_trade(session, trade_id)
            changed = self.matching.affirm(session, trade, side, own_ref, actor)
            session.commit()
        if changed:
            self.publisher.publish(trade)
        return trade

    def withdraw(self, trade_id: str) -> Trade:
        """The submitter takes back its alleged trade before anyone agreed to it."""
        with Session(self.db, expire_on_commit=False) as session:
            trade = repo.get_trade(session, trade_id)
            changed = self.matching.withdraw(session, trade)
            session.commit()
        if changed:
            self.publisher.publish(trade)
        return trade

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
            if trade.settlement_mode == SettlementMode.NET:  # joins the open window (settled with it)
                window_store.join(session, [trade])
            session.commit()
            return trade

    def report_delivery(self, trade_id: str) -> Trade:
        """The seller says the securities were delivered: the buyer is told; nothing is released."""
        with Session(self.db, expire_on_commit=False) as session:
            trade = repo.get_trade(session, trade_id)
            status = TradeStatus(trade.status)
            if not is_matched(status) or status not in (TradeStatus.PENDING, TradeStatus.LOCKED):
                raise errors.InvalidTransition(f"trade is {status}; delivery can only be reported on an open trade")
            if trade.delivered_at is None:
                trade.delivered_at = utcnow()
                trade.updated_at = utcnow()
                session.add(trade)
                session.commit()
        self.publisher.publish(trade, kind="trade.delivered")
        return trade

    def cancel(self, trade_id: str, side: Side) -> Trade:
        """Cancel a matched trade before release: both parties (the second triggers it) or the operator."""
        with Session(self.db, expire_on_commit=False) as session:
            trade = repo.get_trade(session, trade_id)
            if cancel_is_noop(trade, side):
                return trade
            check_can_cancel(trade, side)
            if side == Side.BUYER:
                trade.buyer_cancel_requested = True
            elif side == Side.SELLER:
                trade.seller_cancel_requested = True
            if cancel_takes_effect(trade.buyer_cancel_requested, trade.seller_cancel_requested, side):
                trade.cancel_requested = True
                trade.release_requested = False
            trade.updated_at = utcnow()
            session.add(trade)
            session.commit()
        self.publisher.publish(trade, kind="trade.cancel_requested")
        return trade

    def authorize_lock(self, trade_id: str, signature: bytes) -> Trade:
        """Store the buyer's EIP-712 signature of this trade's lock, after checking who signed what."""
        with Session(self.db, expire_on_commit=False) as session:
            trade = repo.get_trade(session, trade_id)
            if TradeStatus(trade.status) not in (TradeStatus.UNMATCHED, TradeStatus.PENDING):
                raise errors.InvalidTransition(f"trade is {trade.status}; its lock can no longer be authorised")
            order = lock_order(session, trade)
            if lock_intent_signer(self.chain, order, signature) != order.payer.lower():
                raise errors.InvalidLockAuthorization(
                    "the signature is not the buyer's EIP-712 LockIntent for this trade's id, payee, amount and deadline"
                )
            trade.lock_signature = "0x" + signature.hex()
            trade.updated_at = utcnow()
            session.add(trade)
            session.commit()
            return trade

    def lock_intent(self, trade_id: str) -> LockOrder:
        with Session(self.db) as session:
            return lock_order(session, repo.get_trade(session, trade_id))
