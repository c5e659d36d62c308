"""Schema lifecycle: run the Alembic migrations, programmatically (there is no alembic.ini).

Every process that opens the database calls open_database(), so a fresh SQLite file or an empty
PostgreSQL schema is brought to the current revision without a separate deploy step.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from settlement.errors import DatabaseUnavailable, InvalidSetting
from settlement.ledger.db import BUSY_TIMEOUT_S, make_engine
from settlement.redaction import redact_text, redact_url

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


@contextlib.contextmanager
def _migration_transaction(engine: Engine) -> Iterator[Connection]:
    """One transaction for a whole migration run, holding the lock that queues concurrent migrators."""
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite:
            # Batch mode rebuilds a table (copy, drop, rename); with foreign keys on, dropping a
            # table other rows refer to fails. SQLite honours this pragma only outside a
            # transaction, so it is set here, and the references are checked before commit.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        try:
            with connection.begin():
                if connection.dialect.name == "postgresql":
                    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK_KEY})
                elif sqlite:
                    # pysqlite would run each DDL statement on its own; take the write lock up front so
                    # processes opening a fresh file together queue instead of racing to CREATE TABLE.
                    connection.exec_driver_sql("BEGIN IMMEDIATE")
                yield connection
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"migration left {len(broken)} broken foreign key(s), e.g. {broken[0]}")
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


def upgrade_engine(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database behind an existing engine, in one transaction."""
    with _migration_transaction(engine) as connection:
        command.upgrade(alembic_config(connection), revision)


def downgrade_engine(engine: Engine, revision: str) -> None:
    """Downgrade to `revision`, in one transaction (for operators rolling back, and the migration tests)."""
    with _migration_transaction(engine) as connection:
        command.downgrade(alembic_config(connection), revision)


def open_database(url: str, busy_timeout_s: float = BUSY_TIMEOUT_S) -> Engine:
    """The engine every component uses: created, and the schema migrated to head.

    A URL that cannot be parsed or a database that cannot be reached is a SetupError naming the
    database (without its password or query) and the setting, not a driver traceback.
    """
    try:
        engine = make_engine(url, busy_timeout_s)
    except (sa_exc.ArgumentError, ImportError) as exc:
        reason = driver_message(exc)
        raise InvalidSetting(f"not a usable database URL ({reason})", setting="database_url") from None
    try:
        upgrade_engine(engine)
    except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
        engine.dispose()
        raise DatabaseUnavailable(
            f"cannot open the database at {redact_url(url)}: {driver_message(exc)}", setting="database_url"
        ) from None
    return engine


def driver_message(exc: BaseException) -> str:
    """The first line of what the driver said (SQLAlchemy's wrapper adds SQL and a link), redacted."""
    original = getattr(exc, "orig", None) or exc
    lines = str(original).strip().splitlines()
    return redact_text(lines[0].strip()) if lines else type(original).__name__
