"""Ledger fixtures: a migrated database on each backend (via db_url) and the stores over it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from settlement.ledger.journal_store import JournalStore
from settlement.ledger.schema import open_database


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = open_database(db_url)
    yield engine
    engine.dispose()  # before conftest drops the PostgreSQL schema


@pytest.fixture
def journal(engine: Engine) -> JournalStore:
    return JournalStore(engine)
