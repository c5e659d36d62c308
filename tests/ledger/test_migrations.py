"""The hand-written migration must build exactly the schema the models describe, on both backends."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, col, select, update

import settlement.ledger.models  # noqa: F401  - registers the tables
from settlement.ledger.db import make_engine
from settlement.ledger.models import Posting, Trade
from settlement.ledger.schema import alembic_config, downgrade_engine, upgrade_engine


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
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert MigrationContext.configure(connection).get_current_revision() == head
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


FRESH_FILE_ROUNDS = 40
OPENERS_PER_ROUND = 8


def test_connections_opening_a_fresh_sqlite_file_together_all_switch_it_to_wal(tmp_path: Path) -> None:
    """SQLite refuses a concurrent switch to WAL at once, busy timeout or not: before the retry in
    make_engine about one round in ten failed with "database is locked" (and, under CI's load, the
    migration race test above)."""
    for round_number in range(FRESH_FILE_ROUNDS):
        modes, failures = open_together(f"sqlite:///{tmp_path / f'fresh-{round_number}.db'}", OPENERS_PER_ROUND)
        assert not failures, f"round {round_number}: {failures[0]}"
        assert modes == ["wal"] * OPENERS_PER_ROUND


def open_together(url: str, openers_count: int) -> tuple[list[str], list[BaseException]]:
    """Engines connecting at one moment, as processes would (one engine runs its first connection's
    setup alone): each one's journal mode, and what failed."""
    opened_together = threading.Barrier(openers_count)
    modes: list[str] = []
    failures: list[BaseException] = []

    def open_it() -> None:
        engine = make_engine(url)
        opened_together.wait()
        try:
            with engine.connect() as connection:
                modes.append(connection.exec_driver_sql("PRAGMA journal_mode").scalar_one())
        except BaseException as exc:  # reported by the caller
            failures.append(exc)
        finally:
            engine.dispose()

    openers = [threading.Thread(target=open_it) for _ in range(openers_count)]
    for opener in openers:
        opener.start()
    for opener in openers:
        opener.join()
    return modes, failures


# Amounts at 0002 (BIGINT) that 0004 must carry over digit for digit: the int64 edges, zero, small.
LEGACY_AMOUNTS = [2**63 - 1, -(2**63), 0, 1, -1, 777_000_000]


def _legacy_rows(connection: sa.Connection) -> None:
    """A participant, a trade with a transition (a foreign key into the rebuilt table) and postings."""
    at = "2026-01-01T00:00:00+00:00"
    connection.execute(
        sa.text("INSERT INTO participant VALUES (:id, :id, 'HK', :id, NULL, :at)"), [{"id": p, "at": at} for p in "ab"]
    )
    connection.execute(
        sa.text(
            "INSERT INTO trade (id, chain_trade_id, trade_ref, submitted_by, buyer_id, seller_id, instrument, quantity,"
            " price, currency, fx_rate, fx_source, fx_as_of, settlement_amount_base_units, deadline, status,"
            " release_requested, cancel_requested, buyer_cancel_requested, seller_cancel_requested, created_at,"
            " updated_at) VALUES ('t', '0x01', 'r', 'a', 'a', 'b', 'X', '1', '1', 'USD', '1', 's', :at, :amount, :at,"
            " 'PENDING', false, false, false, false, :at, :at)"
        ),
        {"at": at, "amount": 2**63 - 1},
    )
    connection.execute(
        sa.text("INSERT INTO trade_transition (trade_id, from_status, to_status, at) VALUES ('t', '', 'PENDING', :at)"),
        {"at": at},
    )
    connection.execute(
        sa.text("INSERT INTO journal_entry (seq, prev_hash, entry_hash, kind, description, created_at)"
                " VALUES (1, '0', 'h', 'MINT', '', :at)"),
        {"at": at},
    )  # fmt: skip
    connection.execute(
        sa.text("INSERT INTO posting (entry_seq, account, amount_base_units) VALUES (1, :account, :amount)"),
        [{"account": f"a{i}", "amount": amount} for i, amount in enumerate(LEGACY_AMOUNTS)],
    )


def _amounts(engine: Engine) -> tuple[list[int], int]:
    with Session(engine) as session:
        postings = [p.amount_base_units for p in session.exec(select(Posting).order_by(col(Posting.id)))]
        trade = session.exec(select(Trade)).one()
    return postings, trade.settlement_amount_base_units


def test_0004_carries_existing_amounts_over_without_loss_and_downgrades_only_what_fits(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade_engine(engine, "0002")
        with engine.begin() as connection:
            _legacy_rows(connection)
        upgrade_engine(engine)
        assert _amounts(engine) == (LEGACY_AMOUNTS, 2**63 - 1)
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT count(*) FROM trade_transition")).scalar_one() == 1

        # Now beyond 64 bits: a downgrade would lose it, so it refuses and changes nothing.
        with Session(engine) as session, session.begin():
            session.exec(update(Posting).where(col(Posting.account) == "a5").values(amount_base_units=2**255))
        with pytest.raises(RuntimeError, match="do not fit in BIGINT"):
            downgrade_engine(engine, "0002")
        assert _amounts(engine) == ([*LEGACY_AMOUNTS[:5], 2**255], 2**63 - 1)

        with Session(engine) as session, session.begin():
            session.exec(
                update(Posting).where(col(Posting.account) == "a5").values(amount_base_units=LEGACY_AMOUNTS[5])
            )
        downgrade_engine(engine, "0002")
        with engine.connect() as connection:
            rows = connection.execute(sa.text("SELECT amount_base_units FROM posting ORDER BY id")).scalars().all()
            assert list(rows) == LEGACY_AMOUNTS  # integers again, not text
    finally:
        engine.dispose()
