"""Exports over HTTP: stamped at one point, CSV and JSON alike, under the API's access rules."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from settlement.testing.app import SettlementApp
from tests.dashboard.conftest import Day

pytestmark = pytest.mark.chain


def test_journal_export_is_stamped_with_the_verified_head_and_a_real_block(api: SettlementApp, day: Day) -> None:
    operator = api.client()
    export = operator.get("/v1/exports/journal", params={"format": "json"})
    assert export.status_code == 200, export.text
    assert export.headers["content-disposition"].startswith('attachment; filename="journal-block')
    body = export.json()
    stamp = body["stamp"]
    verify = operator.get("/v1/audit/verify").json()
    assert stamp["journal_head_hash"] == verify["head_hash"] and stamp["journal_seq"] == verify["entries"]
    assert stamp["block_hash"] == api.service.chain.block_hash(stamp["block_number"])
    assert export.headers["x-export-journal-head-hash"] == verify["head_hash"]
    seqs = {int(row["seq"]) for row in body["rows"]}
    assert seqs == set(range(1, verify["entries"] + 1))
    assert body["rows"][-1]["entry_hash"] == verify["head_hash"]
    for seq in seqs:  # every entry's postings balance
        assert sum(Decimal(r["amount"]) for r in body["rows"] if int(r["seq"]) == seq) == 0


def test_csv_carries_the_stamp_first_and_defuses_formulas(api: SettlementApp, day: Day) -> None:
    response = api.client().get("/v1/exports/trades", params={"format": "csv"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    lines = response.text.splitlines()
    comments = [line for line in lines if line.startswith("# ")]
    stamp = dict(line[2:].split("=", 1) for line in comments)
    assert stamp["export"] == "trades" and len(stamp["journal_head_hash"]) == 64 and int(stamp["block_number"]) > 0
    rows = list(csv.DictReader(io.StringIO("\n".join(lines[len(comments) :]))))
    released = next(r for r in rows if r["id"] == day.released["id"])
    assert released["instrument"] == "'=HYPERLINK(0700.HK)"  # a spreadsheet shows it, never runs it
    assert released["status"] == "RELEASED" and released["release_tx_hash"] == day.released["release_tx_hash"]
    assert released["settlement_amount"] == day.released["settlement_amount"]


def test_a_broker_exports_only_its_own(api: SettlementApp, day: Day) -> None:
    trades = day.outsider.http.get("/v1/exports/trades").json()
    assert trades["rows"] == []
    mine = day.buyer.http.get("/v1/exports/trades").json()
    assert {r["id"] for r in mine["rows"]} >= {day.released["id"], day.locked["id"]}
    journal = day.buyer.http.get("/v1/exports/journal").json()
    accounts = {r["account"] for r in journal["rows"]}
    assert f"wallet:{day.buyer.address.lower()}" in accounts
    assert all(a == f"wallet:{day.buyer.address.lower()}" or a.startswith("client:") for a in accounts), accounts
    other = f"wallet:{day.seller.address.lower()}"
    assert day.buyer.http.get("/v1/exports/journal", params={"account": other}).status_code == 403
    assert day.buyer.http.get("/v1/exports/reconciliation").status_code == 403
    assert day.buyer.http.get(f"/v1/exports/statements/{day.seller.id}").status_code == 403


def test_reconciliation_export_is_balanced_at_its_block(api: SettlementApp, day: Day) -> None:
    body = api.client().get("/v1/exports/reconciliation", params={"format": "json"}).json()
    assert body["summary"]["balanced"] == "true" and body["rows"] == []
    assert body["summary"]["reconciled_at_block"] == str(body["stamp"]["block_number"])


def test_statement_runs_from_opening_to_closing(api: SettlementApp, day: Day) -> None:
    body = day.buyer.http.get(f"/v1/exports/statements/{day.buyer.id}", params={"format": "json"}).json()
    balances = day.buyer.http.get(f"/v1/participants/{day.buyer.id}/balances").json()
    assert Decimal(body["summary"]["opening"]) == 0
    assert Decimal(body["summary"]["closing"]) == Decimal(balances["ledger"])
    wallet = [r for r in body["rows"] if r["account"] == f"wallet:{day.buyer.address.lower()}"]
    assert wallet[0]["kind"] == "OPENING" and wallet[-1]["kind"] == "CLOSING"
    running = Decimal(wallet[0]["balance"])
    for row in wallet[1:-1]:
        running += Decimal(row["amount"])
        assert Decimal(row["balance"]) == running
    assert Decimal(wallet[-1]["balance"]) == running == Decimal(balances["unallocated"])
    # A period that starts now: everything so far is the opening balance, no movements.
    later = day.buyer.http.get(
        f"/v1/exports/statements/{day.buyer.id}", params={"format": "json", "from": "2999-01-01T00:00:00Z"}
    ).json()
    assert later["summary"]["opening"] == later["summary"]["closing"] == body["summary"]["closing"]
    assert all(r["kind"] in ("OPENING", "CLOSING") for r in later["rows"])


def test_an_empty_period_is_refused(api: SettlementApp, day: Day) -> None:
    response = api.client().get(
        "/v1/exports/journal", params={"from": "2030-01-01T00:00:00Z", "to": "2029-01-01T00:00:00Z"}
    )
    assert response.status_code == 422 and response.json()["code"] == "validation"
