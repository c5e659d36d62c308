"""Server-sent events: trade status changes as they happen, filtered to what the caller may see;
a client reconnecting with Last-Event-ID first gets the events it missed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse

from settlement.api.deps import ActorDep, ServiceDep
from settlement.api.events import EventHub
from settlement.api.problems import responses
from settlement.domain.access import Actor
from settlement.service import SettlementService
from settlement.views import TradeEvent

router = APIRouter(tags=["events"], responses=responses(401))

REPLAY_SCAN_EVENTS_MAX = 500  # recorded events read per database round trip while catching up
EXAMPLE = (
    "id: 7\nevent: trade.status\n"
    'data: {"trade_id":"…","status":"LOCKED","buyer_id":"…","seller_id":"…",'
    '"tx_hash":"0x…","error_code":null,"at":"2025-06-30T08:00:01Z"}\n\n'
)


async def missed_events(service: SettlementService, actor: Actor, last_event_id: int) -> AsyncIterator[TradeEvent]:
    """The recorded events after `last_event_id` that the actor may see, page by page until caught up."""
    cursor = last_event_id
    while True:
        events, scanned_to = await asyncio.to_thread(service.trade_events_after, actor, cursor, REPLAY_SCAN_EVENTS_MAX)
        for event in events:
            yield event
        if scanned_to == cursor:
            return
        cursor = scanned_to


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={200: {"description": "An event stream", "content": {"text/event-stream": {"example": EXAMPLE}}}},
    summary="Stream of trade status changes (text/event-stream)",
)
async def events(
    request: Request,
    service: ServiceDep,
    actor: ActorDep,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            max_length=20,
            description="Resume: the events after this id are sent first (browsers send it on reconnect).",
        ),
    ] = None,
) -> StreamingResponse:
    """Each event is `trade.status` with the trade's new status and transaction; its `id:` is durable
    and increasing. After a reconnect with `Last-Event-ID` the events missed since that id are
    sent first, then live ones. A comment line is sent every 15 s to keep proxies from closing
    the connection. `event: lagged` means this client fell too far behind and the stream ends:
    reconnect with the last id received."""
    hub: EventHub = request.app.state.events

    def visible(event: TradeEvent) -> bool:
        return service.may_see_event(actor, event)

    resume_from = int(last_event_id) if last_event_id and last_event_id.isdigit() else None
    missed = None if resume_from is None else missed_events(service, actor, resume_from)
    return StreamingResponse(
        hub.stream(visible, keepalive_s=request.app.state.keepalive_s, missed=missed),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
