"""Webhook deliveries, as the operator lists and replays them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from settlement.api.schemas.common import utc
from settlement.api.schemas.trades import TradeEventPublic
from settlement.views import DeliveryStatus, DeliveryView


class WebhookDeliveryPublic(BaseModel):
    id: str = Field(description="The `webhook-id` header: the same on every attempt and replay.")
    event_id: int = Field(description="The event's id in the event log (the event stream's `id:`).")
    status: DeliveryStatus = Field(description="pending (being retried), delivered, or parked (retries gave up).")
    attempts: int
    queued_at: datetime = Field(description="When it was queued or last replayed: the retry period counts from here.")
    next_attempt_at: datetime | None = Field(description="When a pending delivery is tried next; null otherwise.")
    last_error: str | None
    delivered_at: datetime | None
    event: TradeEventPublic

    @classmethod
    def of(cls, delivery: DeliveryView) -> WebhookDeliveryPublic:
        assert delivery.event.event_id is not None  # a delivery is always of a recorded event
        pending = delivery.status is DeliveryStatus.PENDING
        return cls(
            id=delivery.id,
            event_id=delivery.event.event_id,
            status=delivery.status,
            attempts=delivery.attempts,
            queued_at=utc(delivery.queued_at),
            next_attempt_at=utc(delivery.next_attempt_at) if pending else None,
            last_error=delivery.last_error,
            delivered_at=utc(delivery.delivered_at) if delivery.delivered_at else None,
            event=TradeEventPublic.of(delivery.event),
        )
