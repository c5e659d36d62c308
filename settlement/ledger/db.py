"""Engine creation for SQLite (default, a file under data/) or PostgreSQL (SETTLEMENT_DATABASE_URL)."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import create_engine

from settlement.ledger.amounts import register_sqlite_functions

BUSY_TIMEOUT_S = 30.0  # SETTLEMENT_DATABASE_BUSY_TIMEOUT_S's default
WAL_SWITCH_RETRY_S = 0.01


def make_engine(url: str, busy_timeout_s: float = BUSY_TIMEOUT_S) -> Engine:
    """An engine whose statements wait at most busy_timeout_s for a lock, then fail (and the API
    answers 503 database_unavailable) rather than hang a request for ever."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": busy_timeout_s},
            # No pre-ping: a file has no server to drop the connection, and a SELECT 1 on every
            # checkout was a measurable share of a busy worker's time.
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # WAL lets the API read while the engine and indexer write; FKs are off by default.
            cursor = dbapi_connection.cursor()
            _switch_to_wal(cursor, busy_timeout_s)
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()
            register_sqlite_functions(dbapi_connection)  # exact sums of amounts beyond 64 bits

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    if engine.dialect.name == "postgresql":
        lock_timeout_ms = max(1, round(busy_timeout_s * 1000))

        @event.listens_for(engine, "connect")
        def _pg_lock_timeout(dbapi_connection: Any, _record: Any) -> None:
            # The same bound as SQLite's busy timeout: a row or table lock held elsewhere fails
            # the statement (SQLSTATE 55P03) instead of queueing the request behind it unbounded.
            with dbapi_connection.cursor() as cursor:
                cursor.execute(f"SET lock_timeout = {lock_timeout_ms}")
            dbapi_connection.commit()

    return engine


def _switch_to_wal(cursor: Any, busy_timeout_s: float) -> None:
    """PRAGMA journal_mode=WAL, retried within the busy timeout. Processes opening a fresh file
    together all switch it; SQLite refuses all but one with "database is locked" at once, without
    calling its busy handler (the switch upgrades a read to a write lock), so the timeout alone
    does not cover it. Once the file is WAL the pragma only reads, and never waits."""
    deadline = time.monotonic() + busy_timeout_s
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(WAL_SWITCH_RETRY_S)
