"""Ledger fixtures: a migrated database on each backend (via db_url), the stores over it, the chain."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from settlement.indexer import Indexer
from settlement.ledger.journal_store import JournalStore
from settlement.ledger.schema import open_database
from settlement.testing.devnet import Devnet
from tests.conftest import fresh_database
from tests.ledger.chain_actions import ChainActions


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = open_database(db_url)
    yield engine
    engine.dispose()  # before conftest drops the PostgreSQL schema


@pytest.fixture
def journal(engine: Engine) -> JournalStore:
    return JournalStore(engine)


@pytest.fixture
def replay_db_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    """A second empty database on the same backend as db_url: where a fresh replay goes."""
    with fresh_database("sqlite" if db_url.startswith("sqlite") else "postgresql", tmp_path, "replay") as url:
        yield url


@pytest.fixture
def actions(isolated_devnet: Devnet) -> ChainActions:
    return ChainActions(isolated_devnet)


@pytest.fixture
def indexer(isolated_devnet: Devnet, engine: Engine, journal: JournalStore) -> Indexer:
    return Indexer(isolated_devnet.chain(), engine, journal)
