"""Server-sent events: trade status changes as they happen, filtered to what the caller may see."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from api.deps import ActorDep, ServiceDep
from api.events import EventHub
from api.problems import responses
from settlement.views import TradeEvent

router = APIRouter(tags=["events"], responses=responses(401))

EXAMPLE = (
    "id: 7\nevent: trade.status\n"
    'data: {"trade_id":"…","status":"LOCKED","buyer_id":"…","seller_id":"…",'
    '"tx_hash":"0x…","error_code":null,"at":"2025-06-30T08:00:01Z"}\n\n'
)


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={200: {"description": "An event stream", "content": {"text/event-stream": {"example": EXAMPLE}}}},
    summary="Stream of trade status changes (text/event-stream)",
)
async def events(request: Request, service: ServiceDep, actor: ActorDep) -> StreamingResponse:
    """Each event is `trade.status` with the trade's new status and transaction. A comment line is
    sent every 15 s to keep proxies from closing the connection. Events are not replayed: after a
    reconnect, read current state with GET /v1/trades. `event: lagged` means this client fell too
    far behind and the stream ends."""
    hub: EventHub = request.app.state.events

    def visible(event: TradeEvent) -> bool:
        return service.may_see_event(actor, event)

    return StreamingResponse(
        hub.stream(visible, keepalive_s=request.app.state.keepalive_s),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
