"""Webhooks: HMAC-SHA256-signed POSTs to a real loopback HTTP receiver."""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from api.webhooks import SIGNATURE_HEADER, WebhookDispatcher, verify
from settlement.testing.app import SettlementApp, running_app
from settlement.testing.devnet import Devnet
from settlement.views import TradeEvent
from tests.api.support import matched, register, trade_body

SECRET = "whsec-test-secret"
WAIT_S = 30.0


class Receiver:
    """A loopback HTTP server that records each POST; it can be told to fail the first N."""

    def __init__(self, fail_first: int = 0) -> None:
        self.deliveries: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()
        self.failures_left = fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.failures_left > 0:
                    receiver.failures_left -= 1
                    self.send_response(503)
                else:
                    receiver.deliveries.put(({k.lower(): v for k, v in self.headers.items()}, body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/settlement"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def next_for(self, trade_id: str, status: str) -> tuple[dict[str, str], bytes]:
        while True:
            headers, body = self.deliveries.get(timeout=WAIT_S)
            data = json.loads(body)["data"]
            if data["trade_id"] == trade_id and data["status"] == status:
                return headers, body


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture(scope="module")
def hooked(devnet: Devnet, tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[SettlementApp]:
    snapshot = devnet.snapshot()
    try:
        with running_app(
            devnet.manifest,
            devnet.rpc_url,
            tmp_path_factory.mktemp("hooked"),
            webhook_url=receiver.url,
            webhook_secret=SECRET,
        ) as app:
            yield app
    finally:
        devnet.revert(snapshot)


@pytest.mark.chain
def test_status_changes_are_posted_signed(hooked: SettlementApp, receiver: Receiver) -> None:
    buyer, seller = register(hooked, "hook-buyer"), register(hooked, "hook-seller")
    trade = matched(buyer, seller, trade_body(buyer, seller))

    headers, body = receiver.next_for(trade["id"], "LOCKED")
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER.lower()] == expected
    assert verify(SECRET, body, headers[SIGNATURE_HEADER.lower()])
    assert not verify(SECRET, body.replace(b"LOCKED", b"RELEASED"), headers[SIGNATURE_HEADER.lower()])
    assert not verify("another-secret", body, headers[SIGNATURE_HEADER.lower()])
    payload = json.loads(body)
    assert payload["type"] == "trade.status" == headers["x-settlement-event"]
    assert payload["id"] == headers["x-settlement-delivery"]
    assert payload["data"]["buyer_id"] == buyer.id and payload["data"]["tx_hash"]


def test_a_failed_delivery_is_retried(tmp_path: Path) -> None:
    with Receiver(fail_first=1) as flaky:
        dispatcher = WebhookDispatcher(flaky.url, SECRET, retry_delays_s=(0.05, 0.05))
        dispatcher.start()
        try:
            dispatcher.publish(TradeEvent("t-1", "RELEASED", "b", "s", "0xabc", None, datetime.now(UTC)))
            headers, body = flaky.next_for("t-1", "RELEASED")
        finally:
            dispatcher.stop()
    assert verify(SECRET, body, headers[SIGNATURE_HEADER.lower()])
    assert dispatcher.delivered == 1 and dispatcher.dropped == 0
