"""The dashboard in a real browser (Debian's chromium): the demo's day on screen, live updates,
a broker's narrower view, the decoded transaction, an export that checks out, no foreign hosts."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from settlement.testing.app import SettlementApp
from tests.browser.conftest import Page
from tools.demo import Day

pytestmark = [pytest.mark.chain, pytest.mark.slow]

PAGES = ("#/overview", "#/trades", "#/ledger", "#/windows", "#/exports")


def test_overview_loads_with_the_demos_data(page_for: Any, demo: tuple[SettlementApp, Day]) -> None:
    app, day = demo
    page: Page = page_for(app.operator_key)
    page.page.wait_for_selector('[data-status="RELEASED"] .n:text-is("10")')
    page.page.wait_for_selector('[data-status="REFUNDED"] .n:text-is("2")')
    balances = page.page.inner_text("table")
    for broker in day.brokers.values():
        assert broker.spec.name in balances
    assert page.page.locator("table .bad").count() == 0  # every broker: chain, ledger and escrow agree
    page.page.wait_for_selector("#reconciliation :text('balanced')")
    assert "(anchor #0)" in page.page.inner_text("#audit")  # the demo anchors its day's journal head
    page.screenshot("overview")
    assert page.foreign_requests() == []


def test_a_trade_moves_from_locked_to_released_on_screen(page_for: Any, demo: tuple[SettlementApp, Day]) -> None:
    app, day = demo
    buyer, seller = day.brokers["KBS"], day.brokers["MSB"]
    body = {
        "trade_ref": f"LIVE-{uuid.uuid4().hex[:8]}",
        "buyer_id": buyer.id,
        "seller_id": seller.id,
        "instrument": "0700.HK Tencent",
        "quantity": "10",
        "price": "388.20",
        "currency": "HKD",
    }
    trade = buyer.http.post("/v1/trades", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}).json()
    assert (
        seller.http.post(f"/v1/trades/{trade['id']}/affirm", json={"trade_ref": body["trade_ref"] + "-S"}).status_code
        == 202
    )
    page: Page = page_for(app.operator_key)
    page.open(f"#/trade/{trade['id']}")
    page.page.wait_for_selector("#trade-status :text-is('LOCKED')")
    page.page.evaluate("window.__sameDocument = true")
    assert buyer.http.post(f"/v1/trades/{trade['id']}/confirm").status_code == 202
    page.page.wait_for_selector("#trade-status :text-is('RELEASED')")
    assert page.page.evaluate("window.__sameDocument") is True  # no reload: the event stream did it
    assert "no proof: gross trade" in page.page.inner_text("#view")
    assert page.page.locator("a.tx").count() >= 2  # lock and release, each a link to its transaction
    page.screenshot("trade")


def test_a_broker_key_sees_only_its_own_trades(page_for: Any, demo: tuple[SettlementApp, Day]) -> None:
    _, day = demo
    msb = day.brokers["MSB"]
    page: Page = page_for(msb.api_key)
    page.open("#/trades")
    page.page.wait_for_selector("#view table tbody tr")
    rows = page.page.locator("#view table tbody tr").all_inner_texts()
    shown = sorted(row.split("\t")[0] for row in rows)
    mine = msb.http.get("/v1/trades", params={"limit": 200}).json()["items"]
    assert shown == sorted(t["trade_ref"] for t in mine)
    assert all(msb.id in (t["buyer_id"], t["seller_id"]) for t in mine)
    assert all(day.brokers["MSB"].spec.name in row for row in rows)
    own = {t["id"] for t in mine}
    assert 0 < len(own) < len(day.trades)
    assert page.page.locator("#status-filter").count() == 1 and page.page.locator("select").count() == 1
    other = next(t for t in day.trades.values() if t["id"] not in own)
    page.open(f"#/trade/{other['id']}")
    page.page.wait_for_selector("#page-error")  # the API says 404: the page cannot show it
    page.open("#/overview")
    page.page.wait_for_selector("#view table")
    assert page.page.locator("#view table tbody tr").count() == 1
    page.screenshot("broker-trades")


def test_a_transaction_page_shows_the_decoded_call(page_for: Any, demo: tuple[SettlementApp, Day]) -> None:
    app, day = demo
    released = day.trades["KBS-0001"]
    page: Page = page_for(app.operator_key)
    page.open(f"#/trade/{released['id']}")
    page.page.click(f"a.tx[title='{released['release_tx_hash']}']")
    page.page.wait_for_selector("#tx-function")
    assert page.page.inner_text("#tx-function").startswith("release")
    text = page.page.inner_text("#view")
    assert "SettlementEscrow" in text and "Released" in text and "Transfer" in text
    page.screenshot("transaction")


def test_an_export_downloads_and_its_head_matches_the_audit(page_for: Any, demo: tuple[SettlementApp, Day]) -> None:
    app, _ = demo
    page: Page = page_for(app.operator_key)
    page.open("#/exports")
    with page.page.expect_download() as download_info:
        page.page.click("button[data-export='/v1/exports/journal?format=csv']")
    download = download_info.value
    assert download.suggested_filename.startswith("journal-block") and download.suggested_filename.endswith(".csv")
    text = open(download.path(), encoding="utf-8").read()  # noqa: SIM115
    stamp = dict(line[2:].split("=", 1) for line in text.splitlines() if line.startswith("# "))
    verify = app.client().get("/v1/audit/verify").json()
    assert stamp["journal_head_hash"] == verify["head_hash"]
    assert int(stamp["journal_seq"]) == verify["entries"]
    page.screenshot("exports")


def test_pages_request_nothing_but_the_server(page_for: Any, demo: tuple[SettlementApp, Day]) -> None:
    app, day = demo
    page: Page = page_for(app.operator_key)
    trade = day.trades["JRS-0004"]
    for fragment in (*PAGES, f"#/trade/{trade['id']}", f"#/tx/{trade['refund_tx_hash']}"):
        page.open(fragment)
        page.page.wait_for_function(
            "(page) => document.getElementById('view').dataset.page === page", arg=fragment.split("/")[1]
        )
        if fragment != "#/overview":  # the first test's shot has the reconciliation in it
            page.screenshot(fragment.split("/")[1])
    page.page.goto(app.base_url + "/docs")
    page.page.wait_for_selector(".swagger-ui .information-container")
    page.screenshot("docs")
    assert page.requests and page.foreign_requests() == []
