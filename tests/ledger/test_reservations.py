"""Each payer's reservation is a running figure that always equals the sum of its PENDING trades.

Every way into or out of PENDING (created matched, claimed from alleged, locked, failed) moves
the figure in the same transaction, on both backends, with thousands of trades and with writers
racing; the migration backfills it from the trades already pending.
"""

from __future__ import annotations

import threading
import uuid

import pytest
import sqlalchemy as sa
from eth_account import Account
from sqlalchemy.engine import Engine
from sqlmodel import Session

from settlement.domain.trade import TradeStatus
from settlement.ledger import repository as repo
from settlement.ledger.models import Participant, Trade
from settlement.ledger.schema import downgrade_engine, upgrade_engine
from tests.ledger.factories import add_client, add_participant, add_trades

TRADES = 2_000


def _broker(engine: Engine) -> Participant:
    return add_participant(engine, Account.create().address, f"Broker {uuid.uuid4().hex[:8]}")


@pytest.mark.slow
def test_the_figure_follows_thousands_of_trades_in_and_out_of_pending(engine: Engine) -> None:
    buyer, seller = _broker(engine), _broker(engine)
    client = add_client(engine, buyer, "Alpha Fund")
    plain = add_trades(engine, buyer, seller, [7 + i for i in range(TRADES)])
    for_client = add_trades(engine, buyer, seller, [3] * 500, buyer_client=client)
    alleged = add_trades(engine, buyer, seller, [11] * 50, status=TradeStatus.UNMATCHED)
    with Session(engine) as session:
        assert repo.reserved_base_units(session, buyer.id) == sum(7 + i for i in range(TRADES)) + 3 * 500
        assert repo.reserved_base_units(session, buyer.id, client.id) == 3 * 500
        assert repo.reserved_base_units(session, seller.id) == 0

    with Session(engine) as session, session.begin():
        for trade in plain[:700]:
            repo.transition(session, repo.get_trade(session, trade.id), TradeStatus.LOCKED, block_number=1)
        for trade in plain[700:1_000] + for_client[:100]:
            repo.transition(session, repo.get_trade(session, trade.id), TradeStatus.FAILED, error_code="test")
        for trade in alleged:  # matched by the counterparty: the claim, then its recorded step
            assert repo.claim_unmatched(session, trade.id)
            row = repo.get_trade(session, trade.id)
            session.refresh(row)
            repo.record_transition(session, row, TradeStatus.UNMATCHED)
    with Session(engine) as session:
        expected = sum(t.settlement_amount_base_units for t in plain[1_000:]) + 3 * 400 + 11 * 50
        assert repo.reserved_base_units(session, buyer.id) == expected
        assert repo.reserved_base_units(session, buyer.id, client.id) == 3 * 400
        assert repo.reservation_drift(session) == []


def test_a_rolled_back_status_change_leaves_the_figure_unchanged(engine: Engine) -> None:
    buyer, seller = _broker(engine), _broker(engine)
    (trade,) = add_trades(engine, buyer, seller, [100])
    with Session(engine) as session:
        repo.transition(session, repo.get_trade(session, trade.id), TradeStatus.LOCKED)
        session.flush()
        assert repo.reserved_base_units(session, buyer.id) == 0
        session.rollback()
    with Session(engine) as session:
        assert repo.reserved_base_units(session, buyer.id) == 100


def test_concurrent_writers_lose_no_update(engine: Engine) -> None:
    buyer, seller = _broker(engine), _broker(engine)
    writers, per_writer = 6, 30
    failures: list[BaseException] = []

    def write() -> None:
        try:
            for _ in range(per_writer):
                add_trades(engine, buyer, seller, [5])
        except BaseException as exc:  # reported below: a thread's exception would be lost
            failures.append(exc)

    threads = [threading.Thread(target=write) for _ in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with Session(engine) as session:
        assert repo.reserved_base_units(session, buyer.id) == 5 * writers * per_writer
        assert repo.reservation_drift(session) == []


def test_the_check_names_a_figure_that_drifted(engine: Engine) -> None:
    buyer, seller = _broker(engine), _broker(engine)
    _, small = add_trades(engine, buyer, seller, [40, 2])
    with engine.begin() as connection:  # a status changed behind the repository's back
        connection.execute(sa.update(Trade).where(sa.column("id") == small.id).values(status="FAILED"))
    with Session(engine) as session:
        (drift,) = repo.reservation_drift(session)
    assert (drift.participant_id, drift.client_id) == (buyer.id, None)
    assert (drift.recorded_base_units, drift.recomputed_base_units) == (42, 40)


def test_the_migration_backfills_the_figure_from_pending_trades(engine: Engine) -> None:
    buyer, seller = _broker(engine), _broker(engine)
    client = add_client(engine, buyer, "Beta Fund")
    big = 2**255  # beyond 64 bits: summed exactly
    downgrade_engine(engine, "0008_realign")  # the revision before reservations
    rows = [(TradeStatus.PENDING, big, None), (TradeStatus.PENDING, 9, client.id), (TradeStatus.LOCKED, 1_000, None)]
    # The trade table as it was at 0008 (later revisions added columns).
    columns = Trade.__table__.columns  # type: ignore[attr-defined]
    trade_0008 = sa.Table(
        "trade", sa.MetaData(), *[c._copy() for c in columns if c.name not in ("settlement_mode", "window_id")]
    )
    with engine.begin() as connection:
        for status, amount, client_id in rows:
            trade_id = str(uuid.uuid4())
            connection.execute(
                sa.insert(trade_0008).values(
                    id=trade_id,
                    chain_trade_id="0x" + uuid.uuid4().hex * 2,
                    trade_ref=trade_id,
                    submitted_by=buyer.id,
                    buyer_id=buyer.id,
                    seller_id=seller.id,
                    buyer_client_id=client_id,
                    instrument="0700.HK",
                    quantity="1",
                    price="1",
                    currency="USD",
                    fx_rate="1",
                    fx_source="test",
                    fx_as_of=sa.func.now(),
                    settlement_amount_base_units=amount,
                    deadline=sa.func.now(),
                    status=status.value,
                    release_requested=False,
                    cancel_requested=False,
                    buyer_cancel_requested=False,
                    seller_cancel_requested=False,
                    created_at=sa.func.now(),
                    updated_at=sa.func.now(),
                )
            )
    upgrade_engine(engine)
    with Session(engine) as session:
        assert repo.reserved_base_units(session, buyer.id) == big + 9
        assert repo.reserved_base_units(session, buyer.id, client.id) == 9
        assert repo.reservation_drift(session) == []
