"""Webhooks: each trade event POSTed to SETTLEMENT_WEBHOOK_URL, signed the Standard Webhooks way.

Headers: `webhook-id` (the delivery id, the same on every retry: receivers deduplicate on it),
`webhook-timestamp` (Unix seconds of this attempt) and `webhook-signature: v1,<base64 of
HMAC-SHA256 over "{id}.{timestamp}.{body}">` under SETTLEMENT_WEBHOOK_SECRET. The signature
covers the timestamp, so a captured request cannot be replayed later: `verify` refuses one
outside its tolerance (5 minutes by default). A `whsec_<base64>` secret is used as its decoded
bytes, as Standard Webhooks libraries do, so their verifiers work unchanged.

Delivery is durable: the service queues every event in its webhook outbox as it is published
(settlement/event_log.py). The dispatcher here claims due deliveries through the service, sends
them from one background thread and reports each outcome back; the service retries failures
with exponential backoff for SETTLEMENT_WEBHOOK_RETRY_PERIOD_S, then parks them for the operator
(GET /v1/webhooks/deliveries, POST …/{id}/replay). The engine never waits on a receiver.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Mapping

import httpx

from settlement.api.schemas import TradeEventPublic
from settlement.redaction import describe_error
from settlement.service import SettlementService
from settlement.views import DeliveryView, TradeEvent

log = logging.getLogger(__name__)

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
SIGNATURE_VERSION = "v1"
SECRET_PREFIX = "whsec_"
TOLERANCE_S = 300
POLL_S = 1.0  # how often the outbox is looked at when nothing woke the dispatcher
CLAIM_BATCH = 20


def _key(secret: str) -> bytes:
    if secret.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
        except binascii.Error:
            pass  # not base64 after all: use it as text, like any other secret
    return secret.encode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value for one attempt: `v1,<base64 HMAC-SHA256>`."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def signed_headers(secret: str, msg_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, msg_id, timestamp, body),
    }


def verify(
    secret: str, headers: Mapping[str, str], body: bytes, tolerance_s: float = TOLERANCE_S, *, now: float | None = None
) -> bool:
    """For receivers: the raw body and the request headers carry a valid signature made within
    `tolerance_s` of now (older is a replay, newer a forged or skewed clock). Constant-time."""
    lowered = {name.lower(): value for name, value in headers.items()}
    msg_id, stamp, signatures = (lowered.get(h) for h in (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER))
    if not msg_id or not stamp or not signatures or not stamp.isdigit():
        return False
    timestamp = int(stamp)
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = sign(secret, msg_id, timestamp, body)
    # Several space-separated signatures are allowed (a receiver may be rotating secrets).
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures.split())


def payload(delivery: DeliveryView) -> bytes:
    """The body: the same bytes on every attempt (only the timestamp and signature headers change)."""
    data = TradeEventPublic.of(delivery.event).model_dump(mode="json")
    body = {
        "id": delivery.id,
        "type": delivery.event.kind,
        "event_id": delivery.event.event_id,
        "created_at": data["at"],
        "data": data,
    }
    return json.dumps(body, separators=(",", ":")).encode()


class WebhookDispatcher:
    """Sends what the outbox has due, in one thread; woken early when an event is published."""

    def __init__(
        self,
        service: SettlementService,
        url: str,
        secret: str,
        *,
        timeout_s: float,
        poll_s: float = POLL_S,
    ) -> None:
        self.service = service
        self.url = url
        self.secret = secret
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self, event: TradeEvent | None = None) -> None:
        """Engine listener: the event is in the outbox already; only look now rather than later."""
        self._wake.set()

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="webhook-delivery", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Finish the attempt in progress and stop; what is still due stays in the outbox."""
        if self._thread is None:
            return
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=timeout_s)
        self._thread = None

    def _run(self) -> None:
        with httpx.Client(timeout=self.timeout_s) as client:
            while not self._stop.is_set():
                try:
                    due = self.service.claim_webhook_deliveries(CLAIM_BATCH)
                except Exception as exc:  # database trouble: try again at the next poll
                    log.warning("webhook outbox unavailable: %s", describe_error(exc))
                    due = []
                for delivery in due:
                    if self._stop.is_set():
                        return  # claimed but unsent: retried once the claim's lease runs out
                    self._deliver(client, delivery)
                if len(due) < CLAIM_BATCH:
                    self._wake.wait(self.poll_s)
                    self._wake.clear()

    def _deliver(self, client: httpx.Client, delivery: DeliveryView) -> None:
        body = payload(delivery)
        headers = {"Content-Type": "application/json", **signed_headers(self.secret, delivery.id, body)}
        try:
            response = client.post(self.url, content=body, headers=headers)
            error = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            error = describe_error(exc)
        try:
            if error is None:
                self.service.webhook_delivered(delivery.id)
                return
            self.service.webhook_failed(delivery.id, error)
            log.info("webhook delivery %s attempt %d failed: %s", delivery.id, delivery.attempts, error)
        except Exception as exc:  # the outcome is lost; the claim's lease running out retries it
            log.warning("recording webhook delivery %s failed: %s", delivery.id, describe_error(exc))
