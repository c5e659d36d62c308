"""Shared fixtures: one anvil devnet per session, reverted after every test; SQLite and PostgreSQL.

The `db_url` fixture is parametrised over both backends, so every test that uses it runs twice:
the same suite proves the same behaviour on each (the web3.py habit of shared backend suites).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from settlement.testing.devnet import Devnet

# pytester runs the settlement plugin the way an outside project would (tests/test_plugin.py).
pytest_plugins = ["pytester"]

POSTGRES_URL = os.environ.get(
    "SETTLEMENT_TEST_POSTGRES_URL", "postgresql+psycopg://settlement:settlement@127.0.0.1:5432/settlement_test"
)


@pytest.fixture(scope="session")
def devnet() -> Iterator[Devnet]:
    """Overrides the settlement plugin's fixture of the same name (same kind of throwaway devnet),
    so the plugin's `settlement_app` and our own suites share this one anvil."""
    net = Devnet.start()
    yield net
    net.stop()


@pytest.fixture
def isolated_devnet(devnet: Devnet) -> Iterator[Devnet]:
    """The session devnet, with everything a test does to the chain reverted afterwards."""
    with devnet.isolated():
        yield devnet


def _postgres_reachable() -> str | None:
    try:
        engine = sa.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 2})
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:
        return str(exc).splitlines()[0]


@pytest.fixture(scope="session")
def postgres_available() -> bool:
    problem = _postgres_reachable()
    if problem is None:
        return True
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is required in CI but not reachable at {POSTGRES_URL}: {problem}")
    return False


@contextlib.contextmanager
def fresh_database(backend: str, tmp_path: Path, name: str) -> Iterator[str]:
    """An empty database: a SQLite file in tmp_path, or a new PostgreSQL schema dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / f'{name}.db'}"
        return
    schema = f"t_{name}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database on each backend: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "postgresql" and not request.getfixturevalue("postgres_available"):
        pytest.skip(f"PostgreSQL leg skipped: no server reachable at {POSTGRES_URL} (set SETTLEMENT_TEST_POSTGRES_URL)")
    with fresh_database(request.param, tmp_path, "ledger") as url:
        yield url
