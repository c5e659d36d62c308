"""Matching: a trade settles only once both sides agreed to the same terms.

A party's instruction is *alleged* (UNMATCHED). The counterparty agrees either by affirming it
or by submitting its own instruction with the same terms, which matches the oldest open alleged
trade with those terms (CLS/DTCC: only matched instructions settle). An instruction with the same
parties and instrument but another quantity, price or currency is a *near match*: nothing is
matched and both trades say which terms differ. An alleged trade nobody affirms lapses; its
submitter may withdraw it before.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

from sqlmodel import Session

from settlement import errors
from settlement.domain.access import Actor
from settlement.domain.trade import (
    NEAR_MATCH_TERMS,
    MatchedBy,
    Side,
    TradeStatus,
    check_can_withdraw,
    differing_terms,
    is_matched,
)
from settlement.ledger import repository as repo
from settlement.ledger.models import Trade, utcnow
from settlement.processing.publisher import TradePublisher

LAPSED_PER_CYCLE_MAX = 2_000

PayerCheck = Callable[[Session, Trade], None]


def _terms_of(trade: Trade) -> dict[str, object]:
    return {
        "buyer_id": trade.buyer_id,
        "seller_id": trade.seller_id,
        "instrument": trade.instrument,
        "quantity": Decimal(trade.quantity),
        "price": Decimal(trade.price),
        "currency": trade.currency,
    }


class TradeMatching:
    def __init__(self, check_payer: PayerCheck, publisher: TradePublisher) -> None:
        self.check_payer = check_payer
        self.publisher = publisher

    def counterpart(
        self, session: Session, terms: dict[str, object], counterparty_id: str
    ) -> tuple[Trade | None, list[tuple[Trade, list[str]]]]:
        """The oldest open alleged trade by the counterparty with these exact terms, and the near matches."""
        near: list[tuple[Trade, list[str]]] = []
        for alleged in repo.alleged_trades(
            session,
            buyer_id=str(terms["buyer_id"]),
            seller_id=str(terms["seller_id"]),
            instrument=str(terms["instrument"]),
            submitted_by=counterparty_id,
        ):
            differing = differing_terms(_terms_of(alleged), terms)
            if not differing:
                return alleged, []
            if set(differing) <= set(NEAR_MATCH_TERMS):
                near.append((alleged, differing))
        return None, near

    def mark_near_matches(self, session: Session, trade: Trade, near: list[tuple[Trade, list[str]]]) -> list[Trade]:
        """Tell both sides which terms differ: recorded on both trades (shown by GET and events)."""
        touched = []
        for other, differing in near:
            other.mismatch_json = json.dumps({"trade_id": trade.id, "fields": differing})
            other.updated_at = utcnow()
            session.add(other)
            touched.append(other)
        if near:
            other, differing = near[0]
            trade.mismatch_json = json.dumps({"trade_id": other.id, "fields": differing})
            session.add(trade)
        return touched

    def match(
        self, session: Session, trade: Trade, side: Side, own_ref: str | None, how: MatchedBy, actor: Actor
    ) -> None:
        """The counterparty agrees: check the payer's funds, then take the trade from UNMATCHED to PENDING.

        The claim is a conditional UPDATE, so two concurrent agreements cannot both match it."""
        self.check_payer(session, trade)
        if not repo.claim_unmatched(session, trade.id):
            raise errors.InvalidTransition("the trade was matched, withdrawn or lapsed meanwhile")
        session.refresh(trade)
        if own_ref is not None:
            if side == Side.BUYER:
                trade.buyer_ref = own_ref
            else:
                trade.seller_ref = own_ref
        trade.matched_by, trade.matched_at = how, utcnow()
        trade.affirmed_by = actor.id if how == MatchedBy.AFFIRM else None
        trade.mismatch_json = None
        session.add(trade)
        repo.record_transition(session, trade, TradeStatus.UNMATCHED)

    def affirm(self, session: Session, trade: Trade, side: Side, own_ref: str | None, actor: Actor) -> bool:
        """The counterparty's affirmation. Returns False if it was already matched (a safe retry)."""
        status = TradeStatus(trade.status)
        if status != TradeStatus.UNMATCHED:
            if is_matched(status):
                return False
            raise errors.InvalidTransition(f"trade is {status}; it can no longer be affirmed")
        if own_ref is not None and repo.trade_by_party_ref(session, actor.id, own_ref) is not None:
            raise errors.DuplicateTrade(f"trade_ref {own_ref!r} is already used by this broker for another trade")
        self.match(session, trade, side, own_ref, MatchedBy.AFFIRM, actor)
        return True

    @staticmethod
    def withdraw(session: Session, trade: Trade) -> bool:
        """The submitter takes back an alleged trade. False if it was already withdrawn."""
        if trade.status == TradeStatus.WITHDRAWN:
            return False
        check_can_withdraw(TradeStatus(trade.status))
        repo.transition(session, trade, TradeStatus.WITHDRAWN, error_code="withdrawn")
        return True

    def lapse_expired(self, session: Session, match_window_s: int, now: datetime) -> list[Trade]:
        """Alleged trades older than the match window become LAPSED (final)."""
        lapsed = list(
            repo.trades_alleged_before(session, now - timedelta(seconds=match_window_s), LAPSED_PER_CYCLE_MAX)
        )
        for trade in lapsed:
            repo.transition(
                session,
                trade,
                TradeStatus.LAPSED,
                error_code="lapsed",
                error_detail="nobody affirmed it within the match window",
            )
        return lapsed
