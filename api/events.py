"""Fan-out of trade status changes to server-sent-event subscribers.

The engine publishes from its worker thread (and from request threads); each subscriber reads
from its own bounded asyncio queue on the server's event loop. A subscriber that falls too far
behind is told so (`event: lagged`) and its stream ends, so one slow client can never make the
server buffer without bound; it reconnects with Last-Event-ID and is sent what it missed.

Each event's `id:` is its durable id in the service's event log. A stream that resumes first
subscribes (so nothing published from then on is lost), then sends the recorded events after
the client's last id, then the live ones, skipping any it has just sent from the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from settlement.api.schemas import TradeEventPublic
from settlement.views import TradeEvent

log = logging.getLogger(__name__)

DEFAULT_QUEUE_SIZE = 256
KEEPALIVE_S = 15.0


@dataclass(eq=False)
class Subscriber:
    visible: Callable[[TradeEvent], bool]
    queue: asyncio.Queue[TradeEvent | None]
    lagged: bool = False


class EventHub:
    def __init__(self, loop: asyncio.AbstractEventLoop, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        self._loop = loop
        self._queue_size = queue_size
        self._subscribers: set[Subscriber] = set()
        self._closed = False

    # -- any thread

    def publish(self, event: TradeEvent) -> None:
        """Engine listener: hand the event to the loop thread; never blocks the caller."""
        if self._closed:
            return
        with contextlib.suppress(RuntimeError):  # the loop has already stopped
            self._loop.call_soon_threadsafe(self._fan_out, event)

    def close(self) -> None:
        """End every open stream (server shutdown), so it does not wait on them."""
        self._closed = True
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._end_all)

    # -- loop thread

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def subscribe(self, visible: Callable[[TradeEvent], bool]) -> Subscriber:
        subscriber = Subscriber(visible, asyncio.Queue(self._queue_size))
        if self._closed:
            subscriber.queue.put_nowait(None)
        self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    def _fan_out(self, event: TradeEvent) -> None:
        for subscriber in list(self._subscribers):
            if subscriber.lagged or not subscriber.visible(event):
                continue
            try:
                subscriber.queue.put_nowait(event)
            except asyncio.QueueFull:
                subscriber.lagged = True
                log.warning("event subscriber fell %d events behind; ending its stream", self._queue_size)

    def _end_all(self) -> None:
        for subscriber in list(self._subscribers):
            while True:
                try:
                    subscriber.queue.put_nowait(None)
                    break
                except asyncio.QueueFull:
                    subscriber.queue.get_nowait()

    async def stream(
        self,
        visible: Callable[[TradeEvent], bool],
        keepalive_s: float = KEEPALIVE_S,
        missed: AsyncIterator[TradeEvent] | None = None,
    ) -> AsyncIterator[str]:
        """The text/event-stream body for one subscriber; ends on lag, shutdown or disconnect.

        Subscribing happens here, when the response starts, so a client gone before that leaves
        nothing behind; the `: subscribed` comment tells it that events from now on will arrive.
        `missed` (the recorded events after the client's Last-Event-ID) is sent before them.
        """
        subscriber = self.subscribe(visible)
        try:
            yield "retry: 3000\n: subscribed\n\n"
            replayed: set[int] = set()
            if missed is not None:
                async for event in missed:
                    if event.event_id is not None:
                        replayed.add(event.event_id)
                    yield _format(event)
            while True:
                if subscriber.lagged and subscriber.queue.empty():
                    yield "event: lagged\ndata: {}\n\n"
                    return
                try:
                    live = await asyncio.wait_for(subscriber.queue.get(), timeout=keepalive_s)
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                if live is None:
                    return
                if live.event_id not in replayed:
                    yield _format(live)
        finally:
            self.unsubscribe(subscriber)


def _format(event: TradeEvent) -> str:
    """One SSE message; an event that could not be recorded has no id, so it moves no client's Last-Event-ID."""
    data = json.dumps(TradeEventPublic.of(event).model_dump(mode="json"), separators=(",", ":"))
    event_id = "" if event.event_id is None else f"id: {event.event_id}\n"
    return f"{event_id}event: {event.kind}\ndata: {data}\n\n"
