"""Ledger fixtures: a migrated database on each backend (via db_url), the stores over it, the chain."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from settlement.indexer import Indexer
from settlement.ledger.journal_store import JournalStore
from settlement.ledger.schema import open_database
from settlement.testing.devnet import Devnet
from tests.conftest import POSTGRES_URL
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
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'replay.db'}"
        return
    schema = f"r_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture
def actions(isolated_devnet: Devnet) -> ChainActions:
    return ChainActions(isolated_devnet)


@pytest.fixture
def indexer(isolated_devnet: Devnet, engine: Engine, journal: JournalStore) -> Indexer:
    return Indexer(isolated_devnet.chain(), engine, journal)
