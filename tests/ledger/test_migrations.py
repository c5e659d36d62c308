"""The hand-written migration must build exactly the schema the models describe, on both backends."""

from __future__ import annotations

import threading

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import settlement.ledger.models  # noqa: F401  - registers the tables
from settlement.ledger.db import make_engine
from settlement.ledger.schema import upgrade_engine


def migrate(url: str) -> None:
    """Bring the database at `url` to the latest revision, the way a second process opening it would."""
    engine = make_engine(url)
    try:
        upgrade_engine(engine)
    finally:
        engine.dispose()


def test_migration_creates_the_model_tables_and_columns(engine: Engine) -> None:
    inspector = sa.inspect(engine)
    model_tables = set(SQLModel.metadata.tables)
    assert set(inspector.get_table_names()) == model_tables | {"alembic_version"}
    for name, table in SQLModel.metadata.tables.items():
        db_columns = {c["name"]: c for c in inspector.get_columns(name)}
        assert set(db_columns) == {c.name for c in table.columns}, name
        for column in table.columns:
            assert db_columns[column.name]["nullable"] == column.nullable, f"{name}.{column.name}"
        assert set(inspector.get_pk_constraint(name)["constrained_columns"]) == {c.name for c in table.primary_key}


def test_migration_has_no_drift_from_the_models(engine: Engine) -> None:
    """Alembic's own comparison: types, indexes, unique constraints and foreign keys too."""
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), SQLModel.metadata) == []


def test_migrate_is_idempotent_and_keeps_its_version_in_the_same_schema(db_url: str, engine: Engine) -> None:
    migrate(db_url)
    with engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == "0003"
        if connection.dialect.name == "postgresql":
            schema = connection.execute(sa.text("SELECT current_schema()")).scalar_one()
            version_schema = connection.execute(
                sa.text(
                    "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE c.oid = to_regclass(:qualified)"
                ),
                {"qualified": f"{schema}.alembic_version"},
            ).scalar_one_or_none()
            assert schema.startswith("t_")  # the per-test schema from conftest's search_path option
            assert version_schema == schema


def test_processes_opening_a_fresh_database_together_do_not_race(db_url: str) -> None:
    """The API, the worker and a CLI may all start at once against an empty database."""
    failures: list[BaseException] = []

    def open_it() -> None:
        try:
            migrate(db_url)
        except BaseException as exc:  # reported below
            failures.append(exc)

    workers = [threading.Thread(target=open_it) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not failures
    engine = make_engine(db_url)
    try:
        assert set(SQLModel.metadata.tables) <= set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
