"""Schema lifecycle: run the Alembic migrations, programmatically (there is no alembic.ini).

Every process that opens the database calls open_database(), so a fresh SQLite file or an empty
PostgreSQL schema is brought to the current revision without a separate deploy step.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from settlement.ledger.db import make_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any fixed 64-bit number: concurrent migrators on one PostgreSQL database queue on it.
_PG_MIGRATION_LOCK_KEY = 0x5E771E_0001


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """An Alembic Config pointing at our migrations, bound to a connection (or a URL, offline)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
        if connection.dialect.name == "postgresql":
            # Tables go to the first schema on search_path (e.g. options=-csearch_path=...);
            # pin alembic_version to the same schema so each schema has its own revision.
            schema = connection.execute(text("SELECT current_schema()")).scalar_one()
            config.attributes["version_table_schema"] = schema
    return config


def upgrade_engine(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database behind an existing engine, in one transaction."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK_KEY})
        elif connection.dialect.name == "sqlite":
            # pysqlite would run each DDL statement on its own; take the write lock up front so
            # processes opening a fresh file together queue instead of racing to CREATE TABLE.
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        command.upgrade(alembic_config(connection), revision)


def open_database(url: str) -> Engine:
    """The engine every component uses: created, and the schema migrated to head."""
    engine = make_engine(url)
    upgrade_engine(engine)
    return engine
