"""The dashboard in a real browser (Debian's chromium): the demo's day on screen, live updates,
a broker's narrower view, the decoded transaction, the net settlement windows and a net trade's
proof, an export that checks out, no foreign hosts."""

from __future__ import annotations

import json
import uuid
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from settlement.testing.app import SettlementApp
from tests.browser.conftest import Page
from tools.demo import Day

pytestmark = [pytest.mark.chain, pytest.mark.slow]

PAGES = ("#/overview", "#/trades", "#/ledger", "#/windows", "#/exports")


def agreed_trade(buyer: Any, seller: Any, ref_prefix: str, **extra: str) -> dict[str, Any]:
    """A trade the buyer alleges and the seller affirms over HTTP (both sides agreed)."""
    body = {
        "trade_ref": f"{ref_prefix}-{uuid.uuid4().hex[:8]}",
        "buyer_id": buyer.id,
        "seller_id": seller.id,
        "instrument": "0700.HK Tencent",
        "quantity": "10",
        "price": "388.20",
        "currency": "HKD",
        **extra,
    }
    trade: dict[str, Any] = buyer.http.post(
        "/v1/trades", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}
    ).json()
    affirmed = seller.http.post(f"/v1/trades/{trade['id']}/affirm", json={"trade_ref": body["trade_ref"] + "-S"})
    assert affirmed.status_code == 202
    return trade


def test_overview_loads_with_the_demos_data(page_for: Any, demo: tuple[SettlementApp, Day]) -> None:
    app, day = demo
    page: Page = page_for(app.operator_key)
    page.page.wait_for_selector('[data-status="SETTLED"] .n:text-is("9")')  # the day's net trades
    page.page.wait_for_selector('[data-status="RELEASED"] .n:text-is("1")')  # its one gross release
    page.page.wait_for_selector('[data-status="REFUNDED"] .n:text-is("1")')  # the expired gross lock
    page.page.wait_for_selector('[data-status="FAILED"] .n:text-is("1")')  # the net trade cancelled
    balances = page.page.inner_text("table")
    for broker in day.brokers.values():
        assert broker.spec.name in balances
    assert page.page.locator("table .bad").count() == 0  # every broker: chain, ledger and escrow agree
    page.page.wait_for_selector("#reconciliation :text('balanced')")
    # the window's close anchored the journal's head, then the demo anchored its day's last head
    anchor = app.client().get("/v1/audit/verify").json()["latest_anchor"]
    assert anchor["index"] >= 1 and f"(anchor #{anchor['index']})" in page.page.inner_text("#audit")
    page.screenshot("overview")
    assert page.foreign_requests() == []


def test_a_trade_moves_from_locked_to_released_on_screen(page_for: Any, demo: tuple[SettlementApp, Day]) -> None:
    app, day = demo
    buyer, seller = day.brokers["KBS"], day.brokers["MSB"]
    trade = agreed_trade(buyer, seller, "LIVE")
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
    trade = day.trades["MSB-0004"]
    window = settled_window(day)
    fragments = (*PAGES, f"#/trade/{trade['id']}", f"#/tx/{trade['refund_tx_hash']}", f"#/window/{window['id']}")
    for fragment in fragments:
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


# ---------------------------------------------------------------------------------- net settlement


def shown(coins: str) -> str:
    """A coin amount as the dashboard's tables show it: two decimals, half up on the third."""
    return f"{Decimal(coins).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,.2f}"


def settled_window(day: Day) -> dict[str, Any]:
    """The demo's settled window (the operator closes it, so the day's nine net trades share it)."""
    assert len(day.windows) == 1, day.windows
    window = next(iter(day.windows.values()))
    assert window["status"] == "SETTLED"
    return window


def test_the_windows_page_lists_the_settled_window(page_for: Any, demo: tuple[SettlementApp, Day]) -> None:
    app, day = demo
    window = settled_window(day)
    page: Page = page_for(app.operator_key)
    page.open("#/windows")
    row = page.page.locator("#view table tbody tr", has=page.page.locator(f"[data-window-status='{window['id']}']"))
    row.locator(".status:text-is('SETTLED')").wait_for()
    cells = row.locator("td").all_inner_texts()
    # window, status, opened, closed, trades, gross, net, liquidity saved, settlement tx, root
    assert cells[0] == f"#{window['id']}" and cells[4] == str(window["trade_count"]) == "9"
    gross, net = Decimal(window["gross_total"]), Decimal(window["net_total"])
    assert cells[5] == shown(window["gross_total"]) and cells[6] == shown(window["net_total"])
    assert cells[7].startswith(f"{Decimal(window['liquidity_saved_ratio']) * 100:.2f} %")
    assert f"({shown(str(gross - net))} coins)" in cells[7]
    assert row.locator(f"a.tx[title='{window['settlement_tx_hash']}']").count() == 1
    assert row.locator(f"[title='{window['trades_root']}']").count() == 1
    page.screenshot("windows")


def test_a_window_shows_each_brokers_gross_and_net(page_for: Any, demo: tuple[SettlementApp, Day]) -> None:
    app, day = demo
    window = settled_window(day)
    page: Page = page_for(app.operator_key)
    page.open("#/windows")
    page.page.click(f"a.window-link:text-is('#{window['id']}')")
    page.page.wait_for_selector("#window-status :text-is('SETTLED')")
    assert page.page.inner_text("#window-root") == window["trades_root"]
    assert page.page.inner_text("#window-trade-count") == "9"
    rows = page.page.locator("#view table tbody tr").all_inner_texts()
    assert len(rows) == 3 + 1  # a row per broker, then the totals
    by_name = {row.split("\t")[0]: row.split("\t") for row in rows}
    for position in window["positions"]:
        cells = by_name[position["name"]]
        assert cells[1] == position["address"]
        assert cells[2:] == [shown(position[k]) for k in ("pays", "receives", "net")]
    assert sum(Decimal(p["net"]) for p in window["positions"]) == 0
    assert by_name["total"][4] == "0.00"
    assert {b.spec.name for b in day.brokers.values()} == {p["name"] for p in window["positions"]}
    page.screenshot("window")
    page.page.click(f"#window-tx a.tx[title='{window['settlement_tx_hash']}']")  # the transaction decoder
    page.page.wait_for_selector("#tx-function")
    assert page.page.inner_text("#tx-function").startswith("settleWindow(")
    text = page.page.inner_text("#view")
    assert "SettlementNet" in text and "WindowSettled" in text and "NetPositionApplied" in text
    page.screenshot("window-transaction")


def test_a_broker_sees_only_its_own_position_in_a_window(page_for: Any, demo: tuple[SettlementApp, Day]) -> None:
    _, day = demo
    window = settled_window(day)
    msb = day.brokers["MSB"]
    page: Page = page_for(msb.api_key)
    page.open(f"#/window/{window['id']}")
    page.page.wait_for_selector("#window-status :text-is('SETTLED')")
    rows = page.page.locator("#view table tbody tr").all_inner_texts()
    assert len(rows) == 1 and rows[0].startswith(msb.spec.name)
    assert page.page.inner_text("#window-gross") == "—"  # the window's totals are the operator's
    mine = next(p for p in window["positions"] if p["participant_id"] == msb.id)
    assert rows[0].split("\t")[4] == shown(mine["net"])


def test_trades_show_their_mode_and_window(page_for: Any, demo: tuple[SettlementApp, Day]) -> None:
    app, day = demo
    window = settled_window(day)
    page: Page = page_for(app.operator_key)
    page.open("#/trades")
    page.page.wait_for_selector("#view table tbody tr")
    rows = {row.split("\t")[0]: row.split("\t") for row in page.page.locator("#view table tbody tr").all_inner_texts()}
    # ref, status, buyer <- seller, instrument, quantity @ price, coins, mode, window, latest tx
    assert rows["JRS-0001"][1] == "SETTLED" and rows["JRS-0001"][6:8] == ["net", f"#{window['id']}"]
    assert rows["KBS-0001"][1] == "RELEASED" and rows["KBS-0001"][6:8] == ["gross", "—"]
    assert rows["JRS-0004"][1] == "FAILED" and rows["JRS-0004"][6] == "net"
    page.page.click("#view table tbody tr:has-text('JRS-0001') a.window-link")
    page.page.wait_for_selector(f"#view[data-page='window'] #window-root :text-is('{window['trades_root']}')")


def test_a_net_trade_page_shows_its_window_and_its_proof(page_for: Any, demo: tuple[SettlementApp, Day]) -> None:
    _, day = demo
    window = settled_window(day)
    trade = day.trades["JRS-0001"]
    buyer = day.brokers["JRS"]  # a party's own key: the proof is for the counterparties
    page: Page = page_for(buyer.api_key)
    page.open(f"#/trade/{trade['id']}")
    page.page.wait_for_selector("#trade-status :text-is('SETTLED')")
    assert page.page.inner_text("#settlement-mode").startswith("net")
    assert page.page.inner_text("#trade-window") == f"#{window['id']}"
    assert page.page.inner_text("#proof-root") == window["trades_root"]
    text = page.page.inner_text("#view")
    assert f"--contract {day.proof['contract'] if day.proof else ''}" in text
    assert "python -m settlement verify-proof proof-JRS-0001.json" in text
    assert page.page.locator(f"a.tx[title='{window['settlement_tx_hash']}']").count() >= 1
    with page.page.expect_download() as download_info:
        page.page.click("#proof-download")
    download = download_info.value
    assert download.suggested_filename == "proof-JRS-0001.json"
    proof = json.loads(open(download.path(), encoding="utf-8").read())  # noqa: SIM115
    assert proof["root"] == window["trades_root"] and proof["window_id"] == window["id"]
    page.screenshot("net-trade")


def test_the_operator_closes_a_window_on_screen(page_for: Any, demo: tuple[SettlementApp, Day]) -> None:
    app, day = demo
    buyer, seller = day.brokers["KBS"], day.brokers["MSB"]
    trade = agreed_trade(buyer, seller, "NET", settlement_mode="net")
    assert seller.http.post(f"/v1/trades/{trade['id']}/delivered").status_code == 202
    assert buyer.http.post(f"/v1/trades/{trade['id']}/confirm").status_code == 202
    trade = buyer.http.get(f"/v1/trades/{trade['id']}").json()
    assert trade["status"] == "IN_WINDOW" and trade["window_id"] not in day.windows
    page: Page = page_for(app.operator_key)
    page.open(f"#/window/{trade['window_id']}")
    page.page.wait_for_selector("#window-status :text-is('OPEN')")
    page.page.evaluate("window.__sameDocument = true")
    page.page.click(f"button[data-close-window='{trade['window_id']}']")
    page.page.wait_for_selector("#window-status :text-is('SETTLED')")
    assert page.page.evaluate("window.__sameDocument") is True  # no reload: the page followed the window
    window = app.client().get(f"/v1/windows/{trade['window_id']}").json()
    assert page.page.inner_text("#window-root") == window["trades_root"]
    assert window["trade_count"] == 1 and Decimal(window["liquidity_saved_ratio"]) == 0  # one trade: nothing to net
