"""The webhook outbox, for the operator: what was delivered, what is being retried, what was
parked after the retry period; a parked (or delivered) one can be sent again."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from settlement.api.deps import OperatorDep, ServiceDep
from settlement.api.problems import responses
from settlement.api.schemas import ID_PATTERN, Page, WebhookDeliveryPublic, sequence_cursor
from settlement.views import DeliveryStatus

router = APIRouter(prefix="/webhooks", tags=["webhooks"], responses=responses(401, 403, 422))

PAGE_ITEMS_MAX = 500
DeliveryIdPath = Annotated[str, Path(pattern=ID_PATTERN)]


@router.get(
    "/deliveries",
    response_model=Page[WebhookDeliveryPublic],
    summary="Webhook deliveries in event order, optionally of one status (operator)",
)
def list_deliveries(
    service: ServiceDep,
    actor: OperatorDep,
    status: DeliveryStatus | None = None,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_ITEMS_MAX)] = 100,
) -> Page[WebhookDeliveryPublic]:
    after = sequence_cursor(cursor)
    rows = service.webhook_deliveries(actor, status=status, after_event_id=after, limit=limit + 1)
    page, more = rows[:limit], len(rows) > limit
    return Page[WebhookDeliveryPublic](
        items=[WebhookDeliveryPublic.of(d) for d in page],
        next_cursor=str(page[-1].event.event_id) if more else None,
    )


@router.post(
    "/deliveries/{delivery_id}/replay",
    status_code=202,
    response_model=WebhookDeliveryPublic,
    responses=responses(404, 409),
    summary="Send a parked or delivered webhook again, with a fresh retry period (operator)",
)
def replay_delivery(
    request: Request, delivery_id: DeliveryIdPath, service: ServiceDep, actor: OperatorDep
) -> WebhookDeliveryPublic:
    replayed = service.replay_webhook_delivery(actor, delivery_id)
    dispatcher = request.app.state.webhooks
    if dispatcher is not None:
        dispatcher.wake()  # send it now rather than at the next poll
    return WebhookDeliveryPublic.of(replayed)
