"""Optional webhooks: each trade status change POSTed to SETTLEMENT_WEBHOOK_URL, HMAC-signed.

The signature is `X-Settlement-Signature: sha256=<hex>`, the HMAC-SHA256 of the exact request
body under SETTLEMENT_WEBHOOK_SECRET (the GitHub convention, so receivers have ready code for it);
the body carries a unique delivery id and the event time, so a receiver can drop replays.
Delivery runs in one background thread from a bounded queue: the engine never waits on a
receiver, events are delivered in order, and a receiver that is down costs a few retries, then
the event is dropped with a warning (the trade's state stays readable over the API).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import threading
import uuid
from datetime import UTC, datetime

import httpx

from api.schemas import TradeEventPublic
from settlement.views import TradeEvent

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Settlement-Signature"
EVENT_HEADER = "X-Settlement-Event"
DELIVERY_HEADER = "X-Settlement-Delivery"
EVENT_TYPE = "trade.status"
DEFAULT_QUEUE_SIZE = 1_000
RETRY_DELAYS_S = (0.5, 2.0, 5.0)
TIMEOUT_S = 5.0


def sign(secret: str, body: bytes) -> str:
    """The header value for a body: `sha256=<hex hmac>`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str | None) -> bool:
    """For receivers: constant-time check of a signature header against the raw body."""
    return signature is not None and hmac.compare_digest(sign(secret, body), signature)


def payload(event: TradeEvent) -> bytes:
    body = {
        "id": str(uuid.uuid4()),
        "type": EVENT_TYPE,
        "created_at": datetime.now(UTC).isoformat(),
        "data": TradeEventPublic.of(event).model_dump(mode="json"),
    }
    return json.dumps(body, separators=(",", ":")).encode()


class WebhookDispatcher:
    def __init__(
        self,
        url: str,
        secret: str,
        *,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S,
    ) -> None:
        self.url = url
        self.secret = secret
        self.retry_delays_s = retry_delays_s
        self.delivered = 0
        self.dropped = 0
        self._queue: queue.Queue[bytes | None] = queue.Queue(queue_size)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def publish(self, event: TradeEvent) -> None:
        """Engine listener: enqueue and return; a full queue drops the event rather than block settlement."""
        try:
            self._queue.put_nowait(payload(event))
        except queue.Full:
            self.dropped += 1
            log.warning("webhook queue full; dropped the %s event for trade %s", event.status, event.trade_id)

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="webhook-delivery", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Deliver what is queued (bounded by timeout_s), then stop."""
        if self._thread is None:
            return
        try:
            self._queue.put(None, timeout=timeout_s)
        except queue.Full:
            self._stop.set()
        self._thread.join(timeout=timeout_s)
        self._stop.set()
        self._thread = None

    def _run(self) -> None:
        with httpx.Client(timeout=TIMEOUT_S) as client:
            while not self._stop.is_set():
                body = self._queue.get()
                if body is None:
                    return
                self._deliver(client, body)

    def _deliver(self, client: httpx.Client, body: bytes) -> None:
        delivery_id = json.loads(body)["id"]
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self.secret, body),
            EVENT_HEADER: EVENT_TYPE,
            DELIVERY_HEADER: delivery_id,
        }
        for attempt, delay in enumerate((0.0, *self.retry_delays_s)):
            if delay and self._stop.wait(delay):
                break
            try:
                response = client.post(self.url, content=body, headers=headers)
                if response.status_code < 300:
                    self.delivered += 1
                    return
                problem = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                problem = type(exc).__name__
            log.info("webhook delivery %s attempt %d failed: %s", delivery_id, attempt + 1, problem)
        self.dropped += 1
        log.warning("webhook delivery %s given up after %d attempts", delivery_id, len(self.retry_delays_s) + 1)
