"""Reconciliation finds nothing after honest activity, and names tampering with both figures; the CLI too."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from settlement.chain.trade_ids import chain_trade_id
from settlement.cli import main
from settlement.config import PROJECT_ROOT, get_settings
from settlement.domain.journal import client_account, escrow_account, wallet_account
from settlement.domain.trade import TradeStatus
from settlement.indexer import Indexer
from settlement.ledger.journal_store import JournalStore
from settlement.ledger.models import ClientAccount, Participant, Trade
from settlement.ledger.repository import as_utc
from settlement.reconcile import BreakKind, reconcile
from settlement.testing.devnet import Devnet
from tests.ledger.chain_actions import ChainActions
from tests.ledger.factories import add_client, add_participant, add_trade, mark_locked, mark_settled

pytestmark = pytest.mark.chain


def deadline_of(trade: Trade) -> int:
    """The lock's deadline is the trade's: reconcile compares them."""
    return int(as_utc(trade.deadline).timestamp())


@dataclass
class Market:
    buyer: Participant
    seller: Participant
    buyer_client: ClientAccount
    seller_client: ClientAccount
    open_trade_id: str


@pytest.fixture
def market(engine: Engine, journal: JournalStore, actions: ChainActions, indexer: Indexer) -> Market:
    """Two brokers with a client each, after mints, transfers, a release, a refund and one open lock."""
    manifest = actions.manifest
    b0, b1 = manifest.brokers[0], manifest.brokers[1]
    buyer, seller = add_participant(engine, b0.address), add_participant(engine, b1.address)
    buyer_client, seller_client = add_client(engine, buyer, "Alpha Fund"), add_client(engine, seller, "Beta Fund")
    released = add_trade(engine, buyer, seller, 300, buyer_client=buyer_client, seller_client=seller_client)
    refunded = add_trade(engine, buyer, seller, 200, buyer_client=buyer_client)
    still_open = add_trade(engine, buyer, seller, 100)
    indexer.run_until_head()
    journal.allocate(b0.address, buyer_client.id, 1_000)
    actions.issue(manifest.spare_accounts[0].address, 5_000)
    actions.transfer(b1, manifest.spare_accounts[1].address, 25)
    actions.approve_escrow(b0)
    for trade in (released, refunded, still_open):
        receipt = actions.lock(trade.id, b0, b1.address, trade.settlement_amount_base_units, deadline_of(trade))
        mark_locked(engine, trade, int(receipt["blockNumber"]))
    mark_settled(engine, released, TradeStatus.RELEASED, int(actions.release(released.id)["blockNumber"]))
    mark_settled(engine, refunded, TradeStatus.REFUNDED, int(actions.refund(refunded.id)["blockNumber"]))
    indexer.run_until_head()
    return Market(buyer, seller, buyer_client, seller_client, still_open.id)


def test_the_books_balance_after_honest_activity(
    isolated_devnet: Devnet, engine: Engine, journal: JournalStore, market: Market
) -> None:
    report = reconcile(isolated_devnet.chain(), engine)
    assert report.balanced, report.breaks
    assert report.block_number == isolated_devnet.w3.eth.block_number
    assert report.checks >= 10
    assert report.accounts[escrow_account("0x" + chain_trade_id(market.open_trade_id).hex())] == 100
    assert report.accounts[client_account(market.buyer_client.id)] == 1_000 - 300 - 200 + 200
    assert report.accounts[client_account(market.seller_client.id)] == 300
    earlier = reconcile(isolated_devnet.chain(), engine, block=report.block_number - 3)
    assert earlier.balanced, earlier.breaks


def test_a_posting_changed_behind_the_ledgers_back_is_a_break_with_both_figures(
    isolated_devnet: Devnet, engine: Engine, market: Market
) -> None:
    seller_wallet = wallet_account(market.seller.address)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE posting SET amount_base_units = amount_base_units + 1 WHERE id = "
                "(SELECT MAX(id) FROM posting WHERE account = :account AND amount_base_units > 0)"
            ),
            {"account": seller_wallet},
        )
    chain = isolated_devnet.chain()
    report = reconcile(chain, engine)
    assert not report.balanced
    by_kind = {b.kind: b for b in report.breaks}
    omnibus = by_kind[BreakKind.OMNIBUS]
    assert omnibus.account == seller_wallet
    assert omnibus.on_chain == chain.balance_of(market.seller.address)
    assert omnibus.ledger == omnibus.on_chain + 1
    assert omnibus.difference == 1
    assert by_kind[BreakKind.LEDGER_TOTAL].ledger == 1


def test_the_omnibus_rule_reports_overdrawn_clients_and_over_allocation(
    isolated_devnet: Devnet, engine: Engine, journal: JournalStore, actions: ChainActions, indexer: Indexer
) -> None:
    manifest = actions.manifest
    b2, b3 = manifest.brokers[2], manifest.brokers[3]
    broker, other = add_participant(engine, b2.address), add_participant(engine, b3.address)
    funded, unfunded = add_client(engine, broker, "Gamma Fund"), add_client(engine, broker, "Delta Fund")
    trade = add_trade(engine, broker, other, 70, buyer_client=unfunded)
    indexer.run_until_head()
    journal.allocate(b2.address, funded.id, actions.chain.balance_of(b2.address) - 10)  # keeps 10 back
    actions.transfer(b2, b3.address, 40)  # the broker spends 40 of its unallocated 10
    actions.approve_escrow(b2)
    receipt = actions.lock(trade.id, b2, b3.address, 70, deadline_of(trade))  # for a client never allocated anything
    mark_locked(engine, trade, int(receipt["blockNumber"]))
    indexer.run_until_head()

    report = reconcile(isolated_devnet.chain(), engine)
    breaks = {b.kind: b for b in report.breaks}
    assert set(breaks) == {BreakKind.NEGATIVE_UNALLOCATED, BreakKind.NEGATIVE_CLIENT}, report.breaks
    assert breaks[BreakKind.NEGATIVE_UNALLOCATED].account == wallet_account(b2.address)
    assert breaks[BreakKind.NEGATIVE_UNALLOCATED].ledger == -30
    assert breaks[BreakKind.NEGATIVE_UNALLOCATED].on_chain == actions.chain.balance_of(b2.address)
    assert breaks[BreakKind.NEGATIVE_CLIENT].account == client_account(unfunded.id)
    assert breaks[BreakKind.NEGATIVE_CLIENT].ledger == -70
    # The omnibus sum itself still matches: the money is there, only its attribution is wrong.


def test_a_trade_the_database_thinks_is_locked_but_the_chain_does_not(
    isolated_devnet: Devnet, engine: Engine, indexer: Indexer
) -> None:
    manifest = isolated_devnet.manifest
    buyer = add_participant(engine, manifest.brokers[4].address)
    seller = add_participant(engine, manifest.brokers[5].address)
    phantom = add_trade(engine, buyer, seller, 55, status=TradeStatus.LOCKED)
    indexer.run_until_head()
    report = reconcile(isolated_devnet.chain(), engine)
    assert [b.kind for b in report.breaks] == [BreakKind.TRADE_STATUS]
    assert phantom.id in report.breaks[0].detail and "NONE on chain" in report.breaks[0].detail


@pytest.mark.parametrize("status", [TradeStatus.FAILED, TradeStatus.REFUNDED, TradeStatus.PENDING])
def test_a_lock_the_database_believes_absent_is_a_break(
    isolated_devnet: Devnet, engine: Engine, indexer: Indexer, actions: ChainActions, status: TradeStatus
) -> None:
    """Every trade in every state is compared with the escrow, not only the LOCKED ones."""
    manifest = isolated_devnet.manifest
    payer, payee = manifest.brokers[2], manifest.brokers[3]
    buyer, seller = add_participant(engine, payer.address), add_participant(engine, payee.address)
    trade = add_trade(engine, buyer, seller, 70, status=status)
    actions.approve_escrow(payer)
    actions.lock(trade.id, payer, payee.address, 70, deadline_of(trade))
    indexer.run_until_head()
    report = reconcile(isolated_devnet.chain(), engine)
    assert [b.kind for b in report.breaks] == [BreakKind.TRADE_STATUS], report.breaks
    assert f"trade {trade.id} is {status} in the database but LOCKED on chain" == report.breaks[0].detail
    assert report.breaks[0].on_chain == 70


# ---------------------------------------------------------------------------- the CLI


@pytest.fixture
def cli_env(
    isolated_devnet: Devnet, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """Settings pointing at this test's database and devnet, as environment variables."""
    isolated_devnet.manifest.save(tmp_path / f"{isolated_devnet.manifest.chain_id}.json")
    env = {
        "SETTLEMENT_DATABASE_URL": db_url,
        "SETTLEMENT_DEPLOYMENTS_DIR": str(tmp_path),
        "SETTLEMENT_CHAIN_ID": str(isolated_devnet.manifest.chain_id),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield env
    get_settings.cache_clear()


def test_cli_index_reconcile_and_verify_succeed_on_clean_books(
    cli_env: dict[str, str], market: Market, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["index"]) == 0
    assert main(["reconcile"]) == 0
    assert "balanced" in capsys.readouterr().out
    assert main(["verify"]) == 0
    assert "journal verified" in capsys.readouterr().out


def test_cli_exits_non_zero_and_shows_the_break_and_the_tampered_seq(
    cli_env: dict[str, str], engine: Engine, market: Market, capsys: pytest.CaptureFixture[str]
) -> None:
    with engine.begin() as conn:
        seq = conn.execute(sa.text("SELECT MAX(entry_seq) FROM posting WHERE account LIKE 'wallet:%'")).scalar_one()
        conn.execute(
            sa.text("UPDATE posting SET amount_base_units = amount_base_units * 3 WHERE entry_seq = :seq"),
            {"seq": seq},
        )
    assert main(["reconcile", "--no-index"]) == 1
    out = capsys.readouterr().out
    assert "break(s)" in out and "ON CHAIN" in out and "LEDGER" in out and "omnibus" in out
    assert main(["verify"]) == 1
    assert f"seq {seq}: edited" in capsys.readouterr().out

    # The real entry point, as an operator would run it.
    done = subprocess.run(
        [sys.executable, "-m", "settlement", "reconcile"],
        env={**os.environ, **cli_env},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert "omnibus" in done.stdout


def test_cli_reports_a_missing_manifest_as_an_error(
    cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SETTLEMENT_DEPLOYMENTS_DIR", str(tmp_path / f"nowhere-{uuid.uuid4().hex}"))
    get_settings.cache_clear()
    assert main(["index"]) == 2
    assert "manifest" in capsys.readouterr().err
