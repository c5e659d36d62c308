"""The event stream: a status change reaches the parties' and the operator's streams, not others'."""

from __future__ import annotations

import asyncio
import json
import queue
import threading
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from api.events import EventHub
from settlement.testing.app import SettlementApp
from settlement.views import TradeEvent
from tests.api.support import matched, register, trade_body

WAIT_S = 30.0


class SseReader(threading.Thread):
    """Reads GET /v1/events in a thread, parsing each event's fields into a dict."""

    def __init__(self, client: httpx.Client) -> None:
        super().__init__(daemon=True)
        self.client = client
        self.events: queue.Queue[dict[str, str]] = queue.Queue()
        self.subscribed = threading.Event()
        self.stopping = threading.Event()
        self.status: int | None = None
        self.content_type = ""

    def run(self) -> None:
        with self.client.stream("GET", "/v1/events", timeout=httpx.Timeout(10.0, read=None)) as response:
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
        while True:
            fields = self.events.get(timeout=WAIT_S)
            data: dict[str, Any] = json.loads(fields["data"])
            if fields.get("event") == "trade.status" and data["trade_id"] == trade_id and data["status"] == status:
                return data

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


def _event(n: int) -> TradeEvent:
    return TradeEvent(f"t{n}", "LOCKED", "b", "s", None, None, datetime.now(UTC))


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
