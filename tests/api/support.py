"""Helpers for the API tests: brokers registered over HTTP, trade bodies, polling, problem checks."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from settlement.testing.app import SettlementApp

POLL_S = 0.05
WAIT_S = 30.0


@dataclass
class Broker:
    id: str
    name: str
    address: str
    api_key: str
    http: httpx.Client


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def register(app: SettlementApp, label: str, jurisdiction: str = "HK", address: str | None = None) -> Broker:
    body: dict[str, Any] = {"name": unique(label), "jurisdiction": jurisdiction}
    if address is not None:
        body["address"] = address
    response = app.client().post("/v1/participants", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    return Broker(
        created["id"], created["name"], created["address"], created["api_key"], app.client(created["api_key"])
    )


def issue(app: SettlementApp, broker: Broker, amount: str) -> str:
    response = app.client().post(f"/v1/participants/{broker.id}/issue", json={"amount": amount})
    assert response.status_code == 200, response.text
    return str(response.json()["tx_hash"])


def trade_body(buyer: Broker, seller: Broker, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "trade_ref": unique("T"),
        "buyer_id": buyer.id,
        "seller_id": seller.id,
        # One instrument per body, so an instruction never matches another test's alleged trade.
        "instrument": unique("0700.HK"),
        "quantity": "100",
        "price": "388.2",
        "currency": "HKD",
    }
    body.update(overrides)
    return body


def submit(client: httpx.Client, body: dict[str, Any], key: str | None = None) -> httpx.Response:
    return client.post("/v1/trades", json=body, headers={"Idempotency-Key": key or str(uuid.uuid4())})


def submitted(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    response = submit(client, body)
    assert response.status_code == 202, response.text
    trade: dict[str, Any] = response.json()
    return trade


def matched(submitter: Broker, counterparty: Broker, body: dict[str, Any]) -> dict[str, Any]:
    """Both sides agree: one submits (alleged), the other affirms with its own reference."""
    alleged = submitted(submitter.http, body)
    assert alleged["status"] == "UNMATCHED", alleged
    response = counterparty.http.post(f"/v1/trades/{alleged['id']}/affirm", json={"trade_ref": unique("A")})
    assert response.status_code == 202, response.text
    trade: dict[str, Any] = response.json()
    assert trade["status"] == "PENDING" and trade["matched_by"] == "affirm", trade
    return trade


def wait_for(what: str, check: Callable[[], Any], timeout_s: float = WAIT_S) -> Any:
    """`check()`'s first truthy answer; fails the test naming `what` after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while not (result := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(POLL_S)
    return result


def wait_status(client: httpx.Client, trade_id: str, status: str, timeout_s: float = WAIT_S) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        trade: dict[str, Any] = client.get(f"/v1/trades/{trade_id}").json()
        if trade["status"] == status:
            return trade
        assert trade["status"] != "FAILED", trade
        assert time.monotonic() < deadline, f"trade stuck in {trade['status']}, wanted {status}"
        time.sleep(POLL_S)


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """RFC 9457 shape, the stable code, and nothing internal leaked."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    assert problem["code"] == code, problem
    assert problem["status"] == status
    assert problem["type"] == f"urn:settlement:problem:{code}"
    assert problem["title"] and problem["detail"]
    assert problem["instance"] == response.request.url.path
    assert "Traceback" not in response.text
    return problem
