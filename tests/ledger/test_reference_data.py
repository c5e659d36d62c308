"""The participant and FX cache: read once, re-read when (and only when) another writer adds a row.

Each test writes through a second engine on the same database, as an API server or an operator
in another process would, so the cache cannot learn of the change except from the database.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from eth_account import Account
from sqlalchemy.engine import Engine
from sqlmodel import Session

from settlement import errors
from settlement.domain.fx import FxQuote
from settlement.ledger import repository as repo
from settlement.ledger.reference_data import ReferenceData
from settlement.ledger.schema import open_database
from tests.ledger.factories import add_participant


@pytest.fixture
def other_writer(db_url: str, engine: Engine) -> Iterator[Engine]:
    """A second engine on the same database (engine first: it creates the schema)."""
    other = open_database(db_url)
    yield other
    other.dispose()


def _record(engine: Engine, currency: str, rate: str) -> None:
    with Session(engine) as session:
        repo.record_fx_rate(session, FxQuote(currency, Decimal(rate), "test", datetime.now(UTC)))
        session.commit()


def _broker(engine: Engine) -> str:
    return add_participant(engine, Account.create().address, f"Broker {uuid.uuid4().hex[:8]}").id


def test_reads_hit_the_cache_until_something_is_added(engine: Engine) -> None:
    broker = _broker(engine)
    _record(engine, "HKD", "0.128")
    cache = ReferenceData()
    for _ in range(50):
        with Session(engine) as session:
            assert cache.snapshot(session).participant(broker).id == broker
            quote = cache.snapshot(session).latest_fx_rate("HKD")
            assert quote is not None and quote.rate_to_usd == Decimal("0.128")
    assert cache.refreshes == 1  # fifty reads, the rows read once


def test_a_rate_recorded_elsewhere_is_seen_at_once(engine: Engine, other_writer: Engine) -> None:
    _record(engine, "HKD", "0.128")
    cache = ReferenceData()
    with Session(engine) as session:
        assert cache.snapshot(session).latest_fx_rate("HKD") is not None
        assert cache.snapshot(session).latest_fx_rate("SGD") is None
    _record(other_writer, "HKD", "0.129")
    _record(other_writer, "SGD", "0.74")
    with Session(engine) as session:
        hkd, sgd = cache.snapshot(session).latest_fx_rate("HKD"), cache.snapshot(session).latest_fx_rate("SGD")
    assert hkd is not None and hkd.rate_to_usd == Decimal("0.129")
    assert sgd is not None and sgd.rate_to_usd == Decimal("0.74")
    assert cache.refreshes == 2


def test_a_participant_registered_elsewhere_is_known_at_once(engine: Engine, other_writer: Engine) -> None:
    cache = ReferenceData()
    with Session(engine) as session:
        assert cache.snapshot(session).participants == {}
    newcomer = _broker(other_writer)
    with Session(engine) as session:
        assert cache.snapshot(session).participant(newcomer).id == newcomer
        with pytest.raises(errors.UnknownParticipant):
            cache.snapshot(session).participant("no-such-broker")
    assert cache.refreshes == 2
