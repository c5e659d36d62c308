"""A webhook endpoint for tests: records every delivery and whether its signature is genuine.

The service signs deliveries the Standard Webhooks way (api/webhooks.py); the receiver checks each
with the same secret, so a test sees exactly what a project's own receiver would accept.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from settlement.api.webhooks import verify

DELIVERIES_MAX = 10_000
BODY_MAX_BYTES = 1024 * 1024
DEFAULT_TIMEOUT_S = 30.0
SHUTDOWN_POLL_S = 0.05  # serve_forever's default 0.5 s would be added to every test's teardown


@dataclass(frozen=True)
class Delivery:
    """One POST as received: headers, raw body, parsed JSON and the signature check's result."""

    headers: dict[str, str]
    body: bytes
    verified: bool

    @property
    def json(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed

    @property
    def type(self) -> str:
        return str(self.json.get("type"))

    @property
    def data(self) -> dict[str, Any]:
        data: dict[str, Any] = self.json.get("data", {})
        return data


class WebhookReceiver:
    """Answers 2xx to every POST (or `status` if a test wants the service to retry) and keeps it."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.status = 204
        self._deliveries: list[Delivery] = []
        self._arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = min(int(self.headers.get("Content-Length", 0)), BODY_MAX_BYTES)
                body = self.rfile.read(length)
                headers = {name.lower(): value for name, value in self.headers.items()}
                receiver._record(Delivery(headers, body, verify(receiver.secret, headers, body)))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(SHUTDOWN_POLL_S,), name="webhook-receiver", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    @property
    def deliveries(self) -> list[Delivery]:
        with self._arrived:
            return list(self._deliveries)

    def _record(self, delivery: Delivery) -> None:
        with self._arrived:
            if len(self._deliveries) < DELIVERIES_MAX:
                self._deliveries.append(delivery)
            self._arrived.notify_all()

    def wait_for(self, match: Callable[[Delivery], bool] | str, timeout_s: float = DEFAULT_TIMEOUT_S) -> Delivery:
        """The first delivery that `match` accepts (or, given a string, a `trade.status` delivery
        with that status), waiting up to timeout_s; every delivery it returns was verified."""
        accept = match if callable(match) else (lambda d: d.type == "trade.status" and d.data.get("status") == match)
        deadline = time.monotonic() + timeout_s
        with self._arrived:
            while True:
                for delivery in self._deliveries:
                    if accept(delivery):
                        assert delivery.verified, f"delivery {delivery.headers.get('webhook-id')} has a bad signature"
                        return delivery
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [(d.type, d.data.get("status")) for d in self._deliveries]
                    raise AssertionError(f"no matching webhook within {timeout_s}s; received {seen}")
                self._arrived.wait(remaining)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
