"""The dashboard's reads over HTTP: the overview, decoded transactions, and the pages served locally."""

from __future__ import annotations

import re

import pytest

from settlement.testing.app import SettlementApp
from tests.dashboard.conftest import Day

pytestmark = pytest.mark.chain


def test_overview_shows_the_operator_every_broker_agreeing(api: SettlementApp, day: Day) -> None:
    overview = api.client().get("/v1/overview").json()
    assert overview["viewer_participant_id"] is None and overview["rpc_url"]
    assert overview["trade_counts"]["RELEASED"] >= 1 and overview["trade_counts"]["LOCKED"] >= 1
    brokers = {b["participant_id"]: b for b in overview["brokers"]}
    assert {day.buyer.id, day.seller.id, day.outsider.id} <= set(brokers)
    buyer = brokers[day.buyer.id]
    assert buyer["wallet_agrees"] and buyer["escrow_agrees"]
    assert (
        buyer["locked_trades"] == buyer["locked_ledger"] == buyer["locked_on_chain"] == day.locked["settlement_amount"]
    )
    assert overview["anchor"] is None
    assert overview["journal_head_hash"] == api.client().get("/v1/audit/verify").json()["head_hash"]


def test_a_brokers_overview_holds_only_itself(api: SettlementApp, day: Day) -> None:
    overview = day.outsider.http.get("/v1/overview").json()
    assert overview["viewer_participant_id"] == day.outsider.id and overview["rpc_url"] is None
    assert [b["participant_id"] for b in overview["brokers"]] == [day.outsider.id]
    assert overview["trade_counts"] == {}


def test_a_lock_decodes_with_the_manifests_abis(api: SettlementApp, day: Day) -> None:
    tx = day.buyer.http.get(f"/v1/transactions/{day.locked['lock_tx_hash']}").json()
    assert tx["contract"] == "SettlementEscrow" and tx["function"] in ("lock", "lockBatch"), tx["function"]
    assert tx["status"] == 1 and tx["gas_used"] > 21_000 and tx["block_number"] == day.locked["lock_block"]
    assert tx["to_address"] == api.service.manifest.escrow.address.lower()
    locked = [e for e in tx["events"] if e["name"] == "Locked"]
    assert locked, [e["name"] for e in tx["events"]]
    args = {a["name"]: a["value"] for a in locked[0]["args"]}
    assert day.locked["chain_trade_id"].lower() in {str(v).lower() for v in args.values()}
    transfers = [e for e in tx["events"] if e["name"] == "Transfer" and e["contract"] == "SettlementToken"]
    assert transfers


def test_a_stranger_cannot_open_anothers_transaction(api: SettlementApp, day: Day) -> None:
    path = f"/v1/transactions/{day.released['release_tx_hash']}"
    assert day.outsider.http.get(path).status_code == 404
    assert api.client().get(path).status_code == 200
    assert api.client().get("/v1/transactions/0x1234").status_code == 422
    assert api.client().get("/v1/transactions/0x" + "ab" * 32).status_code == 404


def test_dashboard_and_docs_are_served_with_local_assets_only(api: SettlementApp) -> None:
    anonymous = api.client(anonymous=True)
    page = anonymous.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    docs = anonymous.get("/docs")
    assert docs.status_code == 200
    for html in (page.text, docs.text):
        urls = re.findall(r"""(?:src|href)=["']([^"']+)["']|url:\s*'([^']+)'""", html)
        for found in [u for pair in urls for u in pair if u]:
            assert found.startswith(("/", "#")) and "//" not in found, f"{found} is not served by this server"
    for asset in (
        "/dashboard/app.js",
        "/dashboard/style.css",
        "/docs-assets/swagger-ui-bundle.js",
        "/docs-assets/swagger-ui.css",
    ):
        assert anonymous.get(asset).status_code == 200, asset
    assert anonymous.get("/redoc").status_code == 404
