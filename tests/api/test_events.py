"""The event stream: a status change reaches the parties' and the operator's streams, not others'."""

from __future__ import annotations

import asyncio
import json
import queue
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from settlement.api.events import EventHub
from settlement.testing.app import SettlementApp
from settlement.views import TradeEvent
from tests.api.support import matched, register, trade_body, wait_status

WAIT_S = 30.0


class SseReader(threading.Thread):
    """Reads GET /v1/events in a thread, parsing each event's fields into a dict."""

    def __init__(self, client: httpx.Client, last_event_id: int | None = None) -> None:
        super().__init__(daemon=True)
        self.client = client
        self.headers = {} if last_event_id is None else {"Last-Event-ID": str(last_event_id)}
        self.events: queue.Queue[dict[str, str]] = queue.Queue()
        self.subscribed = threading.Event()
        self.stopping = threading.Event()
        self.status: int | None = None
        self.content_type = ""

    def run(self) -> None:
        timeout = httpx.Timeout(10.0, read=None)
        with self.client.stream("GET", "/v1/events", headers=self.headers, timeout=timeout) as response:
            self.status = response.status_code
            self.content_type = response.headers.get("content-type", "")
            fields: dict[str, str] = {}
            for line in response.iter_lines():
                if self.stopping.is_set():
                    return
                if line.startswith(":"):
                    if "subscribed" in line:
                        self.subscribed.set()
                elif line == "":
                    if "data" in fields:  # a block with only `retry:` or comments is not an event
                        self.events.put(fields)
                    fields = {}
                else:
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")

    def start_and_wait(self) -> SseReader:
        self.start()
        assert self.subscribed.wait(WAIT_S), f"no subscription (status {self.status})"
        return self

    def wait_for(self, trade_id: str, status: str) -> dict[str, Any]:
        return self.until(trade_id, status)[-1][1]

    def until(self, trade_id: str, status: str) -> list[tuple[int, dict[str, Any]]]:
        """(id, data) of every event received, up to and including this trade reaching this status."""
        received = []
        while True:
            fields = self.events.get(timeout=WAIT_S)
            data: dict[str, Any] = json.loads(fields["data"])
            received.append((int(fields["id"]), data))
            if fields.get("event") == "trade.status" and data["trade_id"] == trade_id and data["status"] == status:
                return received

    def drain(self) -> list[dict[str, Any]]:
        drained = []
        while not self.events.empty():
            drained.append(json.loads(self.events.get()["data"]))
        return drained

    def stop(self) -> None:
        self.stopping.set()  # the keep-alive comment wakes the loop within a second
        self.join(timeout=5)


@pytest.mark.chain
def test_status_changes_stream_to_parties_and_operator_only(api: SettlementApp) -> None:
    buyer, seller, outsider = register(api, "sse-buyer"), register(api, "sse-seller"), register(api, "sse-outsider")
    readers = {
        name: SseReader(client).start_and_wait()
        for name, client in (
            ("buyer", buyer.http),
            ("seller", seller.http),
            ("outsider", outsider.http),
            ("operator", api.client()),
        )
    }
    try:
        trade = matched(buyer, seller, trade_body(buyer, seller))
        for name in ("buyer", "seller", "operator"):
            locked = readers[name].wait_for(trade["id"], "LOCKED")
            assert locked["tx_hash"] and locked["at"].endswith("Z")
        assert readers["buyer"].content_type.startswith("text/event-stream")
        assert [e for e in readers["outsider"].drain() if e["trade_id"] == trade["id"]] == []
    finally:
        for reader in readers.values():
            reader.stop()


@pytest.mark.chain
def test_a_reconnecting_client_gets_what_it_missed_then_live_events(api: SettlementApp) -> None:
    buyer, seller, outsider = register(api, "resume-buyer"), register(api, "resume-seller"), register(api, "resume-x")
    first = SseReader(buyer.http).start_and_wait()
    try:
        before = matched(buyer, seller, trade_body(buyer, seller))
        seen = first.until(before["id"], "LOCKED")
    finally:
        first.stop()
    last_id = seen[-1][0]
    assert [i for i, _ in seen] == sorted(i for i, _ in seen)

    missed = matched(buyer, seller, trade_body(buyer, seller))  # while the client is away
    wait_status(buyer.http, missed["id"], "LOCKED")

    resumed = SseReader(buyer.http, last_event_id=last_id).start_and_wait()
    stranger = SseReader(outsider.http, last_event_id=0).start_and_wait()
    try:
        live = matched(buyer, seller, trade_body(buyer, seller))
        got = resumed.until(live["id"], "LOCKED")
        ids = [i for i, _ in got]
        assert ids == sorted(ids) and len(set(ids)) == len(ids) and ids[0] > last_id
        trades = [(data["trade_id"], data["status"]) for _, data in got]
        assert before["id"] not in {trade for trade, _ in trades}
        # the missed ones first: alleged, matched, locked
        assert trades[:3] == [(missed["id"], "UNMATCHED"), (missed["id"], "PENDING"), (missed["id"], "LOCKED")]
        assert trades[-1] == (live["id"], "LOCKED")
        # The same visibility rule on replay: a broker resuming from 0 sees none of others' trades.
        mine = {before["id"], missed["id"], live["id"]}
        assert [e for e in stranger.drain() if e["trade_id"] in mine] == []
    finally:
        resumed.stop()
        stranger.stop()


def _event(n: int, event_id: int | None = None) -> TradeEvent:
    return TradeEvent(f"t{n}", "LOCKED", "b", "s", None, None, datetime.now(UTC), event_id=event_id)


def test_a_subscriber_that_falls_behind_is_told_and_dropped() -> None:
    """Bounded per-subscriber queue: the slow reader gets what fitted, then `event: lagged`."""

    async def scenario() -> list[str]:
        hub = EventHub(asyncio.get_running_loop(), queue_size=2)
        stream = hub.stream(lambda e: True, keepalive_s=5)
        chunks = [await anext(stream)]  # subscribed
        for n in range(5):
            hub.publish(_event(n))
        await asyncio.sleep(0.05)
        chunks += [chunk async for chunk in stream]
        assert hub.subscriber_count == 0
        return chunks

    chunks = asyncio.run(scenario())
    assert chunks[0].startswith("retry:")
    assert ['"t0"' in chunks[1], '"t1"' in chunks[2]] == [True, True]
    assert chunks[3].startswith("event: lagged") and len(chunks) == 4


def test_close_ends_every_stream() -> None:
    async def scenario() -> list[str]:
        hub = EventHub(asyncio.get_running_loop())
        stream = hub.stream(lambda e: e.buyer_id == "b", keepalive_s=5)
        first = await anext(stream)
        hub.publish(_event(1))
        hub.close()
        return [first] + [chunk async for chunk in stream]

    chunks = asyncio.run(scenario())
    assert len(chunks) == 2 and '"t1"' in chunks[1]


def test_a_resumed_stream_sends_the_missed_events_first_and_does_not_repeat_them_live() -> None:
    """Subscribed before the replay reads the log, so an event published meanwhile arrives twice
    at the hub: it is sent once, with its durable id."""

    async def scenario() -> list[str]:
        hub = EventHub(asyncio.get_running_loop())

        async def missed() -> AsyncIterator[TradeEvent]:
            hub.publish(_event(2, event_id=2))  # recorded and published while the replay runs
            await asyncio.sleep(0.01)
            yield _event(1, event_id=1)
            yield _event(2, event_id=2)

        stream = hub.stream(lambda e: True, keepalive_s=5, missed=missed())
        chunks = [await anext(stream)]
        hub.publish(_event(3, event_id=3))
        chunks += [await anext(stream) for _ in range(3)]
        hub.close()
        chunks += [chunk async for chunk in stream]
        return chunks

    chunks = asyncio.run(scenario())
    assert [c.split("\n")[0] for c in chunks[1:]] == ["id: 1", "id: 2", "id: 3"]
