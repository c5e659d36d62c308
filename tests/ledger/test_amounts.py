"""Amounts of any uint256 size are stored and summed exactly, on SQLite and PostgreSQL.

Every place that sums amounts in SQL is read here: the journal's balance and balances, the
reconciliation's ledger balances and the repository's reserved and locked sums. A 64-bit column
(or SQLite's own SUM, or a REAL) would fail or round these.
"""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import Session

from settlement.domain.journal import SUPPLY_ACCOUNT, EntryDraft, EntryKind, transfer, wallet_account
from settlement.domain.trade import TradeStatus
from settlement.ledger import repository as repo
from settlement.ledger.amounts import AMOUNT_MAGNITUDE_MAX, BaseUnits
from settlement.ledger.journal_store import JournalStore
from settlement.reconcile import _ledger_balances
from tests.ledger.factories import add_participant, add_trade

UINT256_MAX = 2**256 - 1
INT64_MAX = 2**63 - 1

# Amounts a uint256 token can really carry, weighted towards the top and towards the int64 edge.
near_the_top = st.integers(min_value=UINT256_MAX - 2**70, max_value=UINT256_MAX)
near_int64 = st.integers(min_value=INT64_MAX - 2**10, max_value=INT64_MAX + 2**10)
amounts = st.one_of(near_the_top, near_int64, st.integers(min_value=1, max_value=UINT256_MAX))


def _address() -> str:
    return "0x" + uuid.uuid4().hex + uuid.uuid4().hex[:8]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(moves=st.lists(amounts, min_size=1, max_size=6))
def test_sums_of_amounts_near_2_256_are_exact(engine: Engine, journal: JournalStore, moves: list[int]) -> None:
    """Each move mints to a fresh wallet and passes it on to a second one: both sums are exact."""
    first, second = wallet_account(_address()), wallet_account(_address())
    for amount in moves:
        journal.append(EntryDraft(kind=EntryKind.MINT, postings=transfer(SUPPLY_ACCOUNT, first, amount)))
        journal.append(EntryDraft(kind=EntryKind.TRANSFER, postings=transfer(first, second, amount)))
    total = sum(moves)

    assert journal.balance(first) == 0
    assert journal.balance(second) == total
    assert journal.balances(prefix=second) == {second: total}
    with Session(engine) as session:
        # Entries without a block (these) count at any height.
        ledger = _ledger_balances(session, block=0)
    assert ledger[first] == 0 and ledger[second] == total
    assert sum(ledger.values()) == 0  # the double-entry rule, across amounts beyond 2^256 in total
    records = journal.entries(account=second)
    assert [p.amount_base_units for r in records for p in r.postings if p.account == second] == moves


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(trade_amounts=st.lists(amounts, min_size=1, max_size=4))
def test_reserved_and_locked_sums_over_trades_are_exact(engine: Engine, trade_amounts: list[int]) -> None:
    buyer, seller = add_participant(engine, _address()), add_participant(engine, _address())
    for amount in trade_amounts:
        add_trade(engine, buyer, seller, amount, status=TradeStatus.PENDING)
        add_trade(engine, buyer, seller, amount, status=TradeStatus.LOCKED)
    with Session(engine) as session:
        assert repo.reserved_base_units(session, buyer.id) == sum(trade_amounts)
        assert repo.locked_as_payer_base_units(session, buyer.id) == sum(trade_amounts)
        assert repo.reserved_base_units(session, seller.id) == 0
        trades = repo.list_trades(session, party_id=buyer.id, status=None, after=None, limit=100)
    assert {t.settlement_amount_base_units for t in trades} == set(trade_amounts)


def test_an_empty_sum_is_zero(journal: JournalStore) -> None:
    assert journal.balance(wallet_account(_address())) == 0
    assert journal.balances(prefix="nobody:") == {}


def test_sqlite_stores_canonical_decimal_text_not_a_real(engine: Engine, journal: JournalStore) -> None:
    """SQLite's NUMERIC affinity would turn these into floats; the column keeps the digits."""
    account = wallet_account(_address())
    journal.append(EntryDraft(kind=EntryKind.MINT, postings=transfer(SUPPLY_ACCOUNT, account, UINT256_MAX)))
    with engine.connect() as connection:
        raw = connection.execute(
            sa.text("SELECT amount_base_units FROM posting WHERE account = :a"), {"a": account}
        ).scalar_one()
    if engine.dialect.name == "sqlite":
        assert raw == str(UINT256_MAX)
    else:
        assert int(raw) == UINT256_MAX


@pytest.mark.parametrize("bad", [1.0, True, "12", 10**78])
def test_the_column_refuses_floats_bools_text_and_more_than_78_digits(bad: object) -> None:
    dialect = sa.create_engine("sqlite://").dialect
    with pytest.raises((TypeError, ValueError)):
        BaseUnits().process_bind_param(bad, dialect)
    assert BaseUnits().process_bind_param(-AMOUNT_MAGNITUDE_MAX, dialect) == "-" + "9" * 78
