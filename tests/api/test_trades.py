"""Trades over HTTP: idempotency under concurrency, the lifecycle, pagination, visibility."""

from __future__ import annotations

import pytest

from settlement.testing.app import SettlementApp
from tests.api.support import (
    Broker,
    assert_problem,
    matched,
    register,
    submit,
    submitted,
    trade_body,
    unique,
    wait_status,
)

pytestmark = pytest.mark.chain


def test_same_key_different_body_is_409(api: SettlementApp, buyer: Broker, seller: Broker) -> None:
    key = unique("idem")
    first = submit(buyer.http, trade_body(buyer, seller), key)
    assert first.status_code == 202
    assert_problem(submit(buyer.http, trade_body(buyer, seller, quantity="7"), key), 409, "idempotency_conflict")


def test_same_ref_new_key_is_duplicate(api: SettlementApp, buyer: Broker, seller: Broker) -> None:
    body = trade_body(buyer, seller)
    assert submit(buyer.http, body).status_code == 202
    assert_problem(submit(buyer.http, body), 409, "duplicate_trade")


def test_lifecycle_confirm_releases_and_cancel_refunds(api: SettlementApp, buyer: Broker, seller: Broker) -> None:
    released = matched(buyer, seller, trade_body(buyer, seller))
    refunded = matched(seller, buyer, trade_body(buyer, seller))
    assert released["status"] == "PENDING"
    assert released["settlement_amount"] == "4976.9181"  # 100 x 388.2 HKD x 0.128205
    wait_status(buyer.http, released["id"], "LOCKED")
    wait_status(buyer.http, refunded["id"], "LOCKED")

    assert buyer.http.post(f"/v1/trades/{released['id']}/confirm").status_code == 202
    assert buyer.http.post(f"/v1/trades/{refunded['id']}/cancel").status_code == 202  # one side: not yet
    assert seller.http.post(f"/v1/trades/{refunded['id']}/cancel").status_code == 202  # both: refund
    done = wait_status(seller.http, released["id"], "RELEASED")
    back = wait_status(seller.http, refunded["id"], "REFUNDED")
    assert done["release_tx_hash"] and back["refund_tx_hash"]

    steps = buyer.http.get(f"/v1/trades/{released['id']}/transitions").json()
    assert [(s["from_status"], s["to_status"]) for s in steps] == [
        (None, "UNMATCHED"),
        ("UNMATCHED", "PENDING"),
        ("PENDING", "LOCKED"),
        ("LOCKED", "RELEASED"),
    ]
    assert steps[-1]["tx_hash"] == done["release_tx_hash"]
    assert_problem(buyer.http.post(f"/v1/trades/{released['id']}/cancel"), 409, "invalid_transition")


def test_cursor_pagination(api: SettlementApp) -> None:
    a, b, c = register(api, "pager-a"), register(api, "pager-b"), register(api, "pager-c")
    made = [submitted(a.http, trade_body(a, b, quantity="1", price="1"))["id"] for _ in range(7)]
    submitted(c.http, trade_body(c, b, quantity="1", price="1"))

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = a.http.get("/v1/trades", params=params).json()
        seen += [t["id"] for t in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == made  # oldest first, no gaps, no repeats, none of the other brokers' trades

    operator_view = api.client().get("/v1/trades", params={"participant_id": b.id, "limit": 200}).json()
    assert len(operator_view["items"]) == 8 and operator_view["next_cursor"] is None


def test_status_filter(api: SettlementApp) -> None:
    a, b = register(api, "filter-a"), register(api, "filter-b")
    trade = matched(a, b, trade_body(a, b, quantity="1", price="1"))
    wait_status(a.http, trade["id"], "LOCKED")
    locked = a.http.get("/v1/trades", params={"status": "LOCKED"}).json()["items"]
    assert [t["id"] for t in locked] == [trade["id"]]
    assert a.http.get("/v1/trades", params={"status": "RELEASED"}).json()["items"] == []


def test_money_is_decimal_strings(api: SettlementApp, buyer: Broker, seller: Broker) -> None:
    trade = submitted(buyer.http, trade_body(buyer, seller, quantity="3", price="0.1", currency="USD"))
    assert trade["settlement_amount"] == "0.3"  # no binary float on the way
    assert trade["created_at"].endswith("Z") and trade["deadline"].endswith("Z")
    balances = buyer.http.get(f"/v1/participants/{buyer.id}/balances").json()
    assert all(isinstance(balances[k], str) for k in ("on_chain", "ledger", "unallocated", "locked_as_payer"))
