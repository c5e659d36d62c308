"""Webhooks over real HTTP: Standard Webhooks signatures, a durable outbox retried with backoff,
parking after the retry period, the operator's list and replay, and delivery across a restart."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from settlement.api.webhooks import verify
from settlement.testing.app import SettlementApp, running_app
from settlement.testing.devnet import Devnet
from tests.api.support import assert_problem, matched, register, trade_body, wait_for, wait_status

pytestmark = pytest.mark.chain

SECRET = "whsec-test-secret-0123456789-0123456789-0123"
WAIT_S = 30.0
FAST_RETRIES: dict[str, Any] = {"webhook_retry_delay_first_s": 0.05, "webhook_retry_delay_max_s": 0.2}


class Receiver:
    """A loopback HTTP server that records each POST; it answers 503 while `failing` says so."""

    def __init__(self, failing: Callable[[], bool] = lambda: False) -> None:
        self.deliveries: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()
        self.failing = failing
        self.failed = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.failing():
                    receiver.failed += 1
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


def deliveries_of(app: SettlementApp, trade_id: str, status: str | None = None) -> list[dict[str, Any]]:
    params = {"status": status} if status else {}
    response = app.client().get("/v1/webhooks/deliveries", params=params)
    assert response.status_code == 200, response.text
    return [d for d in response.json()["items"] if d["event"]["trade_id"] == trade_id]


@pytest.fixture
def chain(devnet: Devnet) -> Iterator[Devnet]:
    """The session devnet, reverted after the test (its apps are stopped by then)."""
    snapshot = devnet.snapshot()
    try:
        yield devnet
    finally:
        devnet.revert(snapshot)


def test_status_changes_are_posted_signed_standard_webhooks_style(chain: Devnet, tmp_path: Path) -> None:
    with (
        Receiver() as receiver,
        running_app(chain.manifest, chain.rpc_url, tmp_path, webhook_url=receiver.url, webhook_secret=SECRET) as app,
    ):
        buyer, seller = register(app, "hook-buyer"), register(app, "hook-seller")
        trade = matched(buyer, seller, trade_body(buyer, seller))
        headers, body = receiver.next_for(trade["id"], "LOCKED")

        assert verify(SECRET, headers, body)
        assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
        assert headers["webhook-signature"].startswith("v1,")
        assert not verify(SECRET, headers, body.replace(b"LOCKED", b"RELEASED"))
        assert not verify("another-secret", headers, body)
        assert not verify(SECRET, headers, body, now=int(headers["webhook-timestamp"]) + 301)  # a replay, later
        payload = json.loads(body)
        assert payload["type"] == "trade.status" and payload["id"] == headers["webhook-id"]
        assert payload["data"]["buyer_id"] == buyer.id and payload["data"]["tx_hash"]
        assert payload["event_id"] > 0

        delivered = wait_for(
            "the outbox to record the delivery",
            lambda: [d for d in deliveries_of(app, trade["id"], "delivered") if d["id"] == payload["id"]],
        )
        assert delivered[0]["attempts"] == 1 and delivered[0]["event_id"] == payload["event_id"]
        assert delivered[0]["next_attempt_at"] is None and delivered[0]["delivered_at"]


def test_a_receiver_that_is_down_gets_the_event_later_with_the_same_id(chain: Devnet, tmp_path: Path) -> None:
    up = threading.Event()
    with (
        Receiver(failing=lambda: not up.is_set()) as receiver,
        running_app(
            chain.manifest, chain.rpc_url, tmp_path, webhook_url=receiver.url, webhook_secret=SECRET, **FAST_RETRIES
        ) as app,
    ):
        buyer, seller = register(app, "flaky-buyer"), register(app, "flaky-seller")
        trade = matched(buyer, seller, trade_body(buyer, seller))
        wait_status(buyer.http, trade["id"], "LOCKED")
        retried = wait_for(
            "failed attempts on the LOCKED event",
            lambda: [
                d
                for d in deliveries_of(app, trade["id"], "pending")
                if d["event"]["status"] == "LOCKED" and d["attempts"] >= 2
            ],
        )
        assert retried[0]["last_error"] == "HTTP 503" and retried[0]["next_attempt_at"]

        up.set()
        headers, body = receiver.next_for(trade["id"], "LOCKED")
        assert verify(SECRET, headers, body)
        assert headers["webhook-id"] == retried[0]["id"]  # the same delivery, retried
        delivered = wait_for(
            "the delivery to be marked delivered",
            lambda: [d for d in deliveries_of(app, trade["id"], "delivered") if d["id"] == retried[0]["id"]],
        )
        assert delivered[0]["attempts"] > retried[0]["attempts"] and delivered[0]["last_error"] is None


def test_a_delivery_is_parked_after_the_retry_period_and_replayed_by_the_operator(
    chain: Devnet, tmp_path: Path
) -> None:
    up = threading.Event()
    with (
        Receiver(failing=lambda: not up.is_set()) as receiver,
        running_app(
            chain.manifest,
            chain.rpc_url,
            tmp_path,
            webhook_url=receiver.url,
            webhook_secret=SECRET,
            webhook_retry_period_s=0.5,
            **FAST_RETRIES,
        ) as app,
    ):
        buyer, seller = register(app, "parked-buyer"), register(app, "parked-seller")
        trade = matched(buyer, seller, trade_body(buyer, seller))
        wait_status(buyer.http, trade["id"], "LOCKED")
        parked = wait_for("all three events to be parked", lambda: len(deliveries_of(app, trade["id"], "parked")) == 3)
        assert parked
        parked_locked = next(d for d in deliveries_of(app, trade["id"], "parked") if d["event"]["status"] == "LOCKED")
        assert parked_locked["attempts"] >= 2 and parked_locked["last_error"] == "HTTP 503"
        assert receiver.deliveries.empty()

        replay_path = f"/v1/webhooks/deliveries/{parked_locked['id']}/replay"
        assert_problem(buyer.http.post(replay_path), 403, "forbidden")  # operator only
        requeued = app.client().post(replay_path)
        assert requeued.status_code == 202, requeued.text
        assert requeued.json()["status"] == "pending" and requeued.json()["attempts"] == 0
        assert_problem(app.client().post(replay_path), 409, "delivery_not_replayable")  # it is pending
        wait_for(
            "the replayed delivery to be parked again (the receiver is still down)",
            lambda: parked_locked["id"] in {d["id"] for d in deliveries_of(app, trade["id"], "parked")},
        )

        up.set()
        assert app.client().post(replay_path).status_code == 202
        headers, body = receiver.next_for(trade["id"], "LOCKED")
        assert headers["webhook-id"] == parked_locked["id"] and verify(SECRET, headers, body)
        wait_for(
            "the replayed delivery to be marked delivered",
            lambda: parked_locked["id"] in {d["id"] for d in deliveries_of(app, trade["id"], "delivered")},
        )
        assert_problem(app.client().post("/v1/webhooks/deliveries/nope/replay"), 404, "not_found")


def test_queued_deliveries_survive_a_restart(chain: Devnet, tmp_path: Path) -> None:
    """The outbox is in the database: events queued while the receiver was down are delivered by
    the next process, not lost with the first."""
    database_url = f"sqlite:///{tmp_path / 'shared.db'}"
    with (
        Receiver(failing=lambda: True) as down,
        running_app(
            chain.manifest,
            chain.rpc_url,
            tmp_path / "first",
            database_url=database_url,
            webhook_url=down.url,
            webhook_secret=SECRET,
            webhook_retry_delay_first_s=1.0,
        ) as first,
    ):
        buyer, seller = register(first, "restart-buyer"), register(first, "restart-seller")
        trade = matched(buyer, seller, trade_body(buyer, seller))
        wait_status(buyer.http, trade["id"], "LOCKED")
        wait_for("a failed attempt", lambda: down.failed >= 1)
        queued = deliveries_of(first, trade["id"])
        assert {d["status"] for d in queued} == {"pending"} and len(queued) == 3  # alleged, matched, locked
    with (
        Receiver() as receiver,
        running_app(
            chain.manifest,
            chain.rpc_url,
            tmp_path / "second",
            database_url=database_url,
            webhook_url=receiver.url,
            webhook_secret=SECRET,
        ) as second,
    ):
        headers, body = receiver.next_for(trade["id"], "LOCKED")
        assert verify(SECRET, headers, body)
        assert headers["webhook-id"] in {d["id"] for d in queued}
        wait_for("all three to be delivered", lambda: len(deliveries_of(second, trade["id"], "delivered")) == 3)


def test_listing_deliveries_is_for_the_operator_and_pages(chain: Devnet, tmp_path: Path) -> None:
    with (
        Receiver() as receiver,
        running_app(chain.manifest, chain.rpc_url, tmp_path, webhook_url=receiver.url, webhook_secret=SECRET) as app,
    ):
        buyer, seller = register(app, "list-buyer"), register(app, "list-seller")
        trade = matched(buyer, seller, trade_body(buyer, seller))
        receiver.next_for(trade["id"], "LOCKED")
        assert_problem(buyer.http.get("/v1/webhooks/deliveries"), 403, "forbidden")
        assert_problem(app.client().get("/v1/webhooks/deliveries?status=lost"), 422, "validation")
        first = app.client().get("/v1/webhooks/deliveries", params={"limit": 1}).json()
        assert len(first["items"]) == 1 and first["next_cursor"]
        rest = app.client().get("/v1/webhooks/deliveries", params={"cursor": first["next_cursor"]}).json()
        assert first["items"][0]["event_id"] < rest["items"][0]["event_id"]
