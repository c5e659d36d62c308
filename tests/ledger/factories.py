"""Rows the ledger reads but does not own (participants, client accounts, trades), made for tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from settlement.chain.trade_ids import chain_trade_id
from settlement.domain.trade import TradeStatus, new_trade_id
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
    trade_id = new_trade_id()
    now = datetime.now(UTC)
    trade = Trade(
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
    with Session(engine, expire_on_commit=False) as session, session.begin():
        session.add(trade)
    return trade


def mark_locked(engine: Engine, trade: Trade, block_number: int) -> None:
    """What the engine records once the lock is mined."""
    with Session(engine) as session, session.begin():
        row = session.get(Trade, trade.id)
        assert row is not None
        row.status = TradeStatus.LOCKED.value
        row.lock_block = block_number


def mark_settled(engine: Engine, trade: Trade, status: TradeStatus, block_number: int) -> None:
    """What the engine records once a release or refund is mined (after the lock)."""
    with Session(engine) as session, session.begin():
        row = session.get(Trade, trade.id)
        assert row is not None
        row.status = status.value
        if status == TradeStatus.RELEASED:
            row.release_block = block_number
        else:
            row.refund_block = block_number
