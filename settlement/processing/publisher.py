"""Trade status events, published to listeners after the change is committed."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from settlement.ledger.models import Trade, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TradeEvent:
    """A status change, as listeners (the event stream, webhooks) receive it."""

    trade_id: str
    status: str
    buyer_id: str
    seller_id: str
    tx_hash: str | None
    error_code: str | None
    at: datetime
    kind: str = "trade.status"  # or trade.delivered, trade.cancel_requested, trade.mismatch
    event_id: int | None = None  # the durable id, once recorded (the event stream's `id:`)


TradeListener = Callable[[TradeEvent], None]
EventRecorder = Callable[[TradeEvent], TradeEvent]
BatchRecorder = Callable[[list[TradeEvent]], list[TradeEvent]]


class TradePublisher:
    """Fans trade events out to listeners; a broken listener never stops settlement."""

    def __init__(self) -> None:
        self.listeners: list[TradeListener] = []
        self.recorder: EventRecorder | None = None  # stores the event before listeners see it
        self.batch_recorder: BatchRecorder | None = None  # the same, for many events in one transaction
        self._order = threading.Lock()  # one event at a time: recorded and heard in the same order

    def subscribe(self, listener: TradeListener) -> None:
        self.listeners.append(listener)

    def unsubscribe(self, listener: TradeListener) -> None:
        if listener in self.listeners:
            self.listeners.remove(listener)

    def publish_many(self, trades: list[Trade], kind: str = "trade.status") -> None:
        """publish() for a batch of trades (a batch submission, a settled window): recorded together."""
        events = [self._event(trade, kind) for trade in trades]
        with self._order:
            if self.batch_recorder is not None and events:
                try:
                    events = self.batch_recorder(events)
                except Exception:
                    log.exception("recording the trade events failed")
            for event in events:
                self._tell(event)

    def publish(self, trade: Trade, kind: str = "trade.status") -> None:
        event = self._event(trade, kind)
        with self._order:
            if self.recorder is not None:
                try:
                    event = self.recorder(event)
                except Exception:  # the change is committed already: report it, tell listeners anyway
                    log.exception("recording the trade event failed")
            self._tell(event)

    def _tell(self, event: TradeEvent) -> None:
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception:  # a broken subscriber must not stop settlement
                log.exception("trade event listener failed")

    @staticmethod
    def _event(trade: Trade, kind: str) -> TradeEvent:
        return TradeEvent(
            trade_id=trade.id,
            status=trade.status,
            buyer_id=trade.buyer_id,
            seller_id=trade.seller_id,
            tx_hash=trade.release_tx_hash or trade.refund_tx_hash or trade.lock_tx_hash,
            error_code=trade.error_code,
            at=utcnow(),
            kind=kind,
        )
