"""Reconciliation and audit verification over HTTP, before and after someone edits the ledger."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from sqlalchemy import text

from settlement.testing.app import SettlementApp
from tests.api.support import Broker, matched, trade_body, wait_status

pytestmark = pytest.mark.chain


def test_settled_day_reconciles_and_verifies(api: SettlementApp, buyer: Broker, seller: Broker) -> None:
    trade = matched(buyer, seller, trade_body(buyer, seller))
    wait_status(buyer.http, trade["id"], "LOCKED")
    buyer.http.post(f"/v1/trades/{trade['id']}/confirm")
    wait_status(buyer.http, trade["id"], "RELEASED")

    operator = api.client()
    recon = operator.get("/v1/reconciliation").json()
    assert recon["balanced"] is True and recon["breaks"] == [] and recon["checks"] > 0
    assert recon["block_number"] >= trade_block(operator, trade["id"])
    audit = operator.get("/v1/audit/verify").json()
    assert audit["ok"] is True and audit["problems"] == [] and audit["entries"] > 0

    balances = buyer.http.get(f"/v1/participants/{buyer.id}/balances").json()
    assert balances["on_chain"] == balances["ledger"]
    entries = buyer.http.get("/v1/ledger/entries", params={"limit": 500}).json()["items"]
    assert any(e["trade_id"] == trade["id"] and e["kind"] == "LOCK" for e in entries)
    for entry in entries:
        assert sum(Decimal(p["amount"]) for p in entry["postings"]) == 0


def trade_block(operator: httpx.Client, trade_id: str) -> int:
    return int(operator.get(f"/v1/trades/{trade_id}").json()["release_block"])


def test_edited_ledger_is_caught(api: SettlementApp, buyer: Broker) -> None:
    """Runs last in this module: it leaves the ledger tampered with."""
    operator = api.client()
    victim = buyer.http.get("/v1/ledger/entries", params={"limit": 1}).json()["items"][0]
    with api.service.db.begin() as connection:
        connection.execute(
            text(
                "UPDATE posting SET amount_base_units = amount_base_units + 1 WHERE entry_seq = :seq AND account = :acc"
            ),
            {"seq": victim["seq"], "acc": victim["postings"][-1]["account"]},
        )
    audit = operator.get("/v1/audit/verify").json()
    assert audit["ok"] is False
    assert victim["seq"] in {p["seq"] for p in audit["problems"]}
    recon = operator.get("/v1/reconciliation").json()
    assert recon["balanced"] is False and recon["breaks"]
    assert all({"kind", "account", "on_chain", "ledger", "difference", "detail"} <= set(b) for b in recon["breaks"])
