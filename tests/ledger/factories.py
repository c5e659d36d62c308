"""Rows the ledger reads but does not own (participants, client accounts, trades), made for tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from settlement.chain.trade_ids import chain_trade_id
from settlement.domain.trade import TradeStatus, new_trade_id
from settlement.ledger import repository as repo
from settlement.ledger.models import ClientAccount, Participant, Trade


def add_participant(engine: Engine, address: str, name: str | None = None) -> Participant:
    participant = Participant(
        id=str(uuid.uuid4()), name=name or f"Broker {address}", jurisdiction="HK", address=address
    )
    with Session(engine, expire_on_commit=False) as session, session.begin():
        session.add(participant)
    return participant


def add_client(engine: Engine, participant: Participant, name: str) -> ClientAccount:
    client = ClientAccount(id=str(uuid.uuid4()), participant_id=participant.id, name=name)
    with Session(engine, expire_on_commit=False) as session, session.begin():
        session.add(client)
    return client


def add_trade(
    engine: Engine,
    buyer: Participant,
    seller: Participant,
    amount_base_units: int,
    *,
    buyer_client: ClientAccount | None = None,
    seller_client: ClientAccount | None = None,
    status: TradeStatus = TradeStatus.PENDING,
) -> Trade:
    """A trade row as the engine would write it; chain_trade_id is the escrow's key for it."""
    (trade,) = add_trades(
        engine,
        buyer,
        seller,
        [amount_base_units],
        buyer_client=buyer_client,
        seller_client=seller_client,
        status=status,
    )
    return trade


def add_trades(
    engine: Engine,
    buyer: Participant,
    seller: Participant,
    amounts_base_units: list[int],
    *,
    buyer_client: ClientAccount | None = None,
    seller_client: ClientAccount | None = None,
    status: TradeStatus = TradeStatus.PENDING,
    created_before: datetime | None = None,
) -> list[Trade]:
    """Many trade rows in one transaction (thousands in a second or two). With created_before, each
    is created a second earlier than the one before it, all before that moment."""
    trades = []
    with Session(engine, expire_on_commit=False) as session, session.begin():
        for i, amount in enumerate(amounts_base_units):
            trade = _trade_row(buyer, seller, amount, buyer_client, seller_client, status)
            if created_before is not None:
                trade.created_at = trade.updated_at = created_before - timedelta(seconds=i + 1)
            trades.append(trade)
        session.add_all(trades)
        session.flush()
        for trade in trades:
            repo.transition_created(session, trade)  # a PENDING trade reserves its payer's coins
    return trades


def _trade_row(
    buyer: Participant,
    seller: Participant,
    amount_base_units: int,
    buyer_client: ClientAccount | None,
    seller_client: ClientAccount | None,
    status: TradeStatus,
) -> Trade:
    trade_id = new_trade_id()
    now = datetime.now(UTC)
    return Trade(
        id=trade_id,
        chain_trade_id="0x" + chain_trade_id(trade_id).hex(),
        trade_ref=f"ref-{trade_id[:8]}",
        submitted_by=buyer.id,
        buyer_id=buyer.id,
        seller_id=seller.id,
        buyer_client_id=buyer_client.id if buyer_client else None,
        seller_client_id=seller_client.id if seller_client else None,
        instrument="0700.HK",
        quantity="100",
        price="1",
        currency="USD",
        fx_rate="1",
        fx_source="test",
        fx_as_of=now,
        settlement_amount_base_units=amount_base_units,
        deadline=now + timedelta(days=1),
        status=status.value,
    )


def mark_locked(engine: Engine, trade: Trade, block_number: int) -> None:
    """What the engine records once the lock is mined."""
    with Session(engine) as session, session.begin():
        row = session.get(Trade, trade.id)
        assert row is not None
        repo.transition(session, row, TradeStatus.LOCKED, block_number=block_number)


def mark_settled(engine: Engine, trade: Trade, status: TradeStatus, block_number: int) -> None:
    """What the engine records once a release or refund is mined (after the lock)."""
    with Session(engine) as session, session.begin():
        row = session.get(Trade, trade.id)
        assert row is not None
        repo.transition(session, row, status, block_number=block_number)
