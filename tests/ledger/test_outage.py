"""A lock held past the busy timeout is a transient outage (database_unavailable), on both backends;
a real mistake (bad SQL, a broken constraint) is not."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from settlement.errors import DatabaseUnavailable
from settlement.ledger.db import make_engine
from settlement.ledger.outage import database_unavailable
from settlement.ledger.schema import open_database

BUSY_TIMEOUT_S = 0.3


def test_a_write_blocked_past_the_busy_timeout_is_database_unavailable(db_url: str) -> None:
    holder, waiter = open_database(db_url), make_engine(db_url, busy_timeout_s=BUSY_TIMEOUT_S)
    try:
        with holder.connect() as locker:
            if locker.dialect.name == "sqlite":
                locker.exec_driver_sql("BEGIN EXCLUSIVE")
            else:
                locker.execute(sa.text("LOCK TABLE fx_rate IN ACCESS EXCLUSIVE MODE"))
            started = time.monotonic()
            with pytest.raises(sa.exc.OperationalError) as raised, waiter.begin() as connection:
                connection.execute(
                    sa.text(
                        "INSERT INTO fx_rate (currency, rate_to_usd, source, as_of, forced, recorded_at) "
                        "VALUES ('HKD', '0.128', 't', CURRENT_TIMESTAMP, false, CURRENT_TIMESTAMP)"
                    )
                )
            waited_s = time.monotonic() - started
            locker.rollback()
        error = database_unavailable(raised.value)
        assert isinstance(error, DatabaseUnavailable), raised.value
        assert error.http_status == 503 and error.http_headers()["Retry-After"]
        assert BUSY_TIMEOUT_S * 0.8 <= waited_s < 10  # waited about the busy timeout, not the default 30 s
    finally:
        holder.dispose()
        waiter.dispose()


def test_a_mistake_is_not_an_outage(db_url: str) -> None:
    engine = open_database(db_url)
    try:
        with pytest.raises(sa.exc.DBAPIError) as raised, engine.begin() as connection:
            connection.execute(sa.text("SELECT no_such_column FROM participant"))
        assert database_unavailable(raised.value) is None
        assert database_unavailable(ValueError("not a database error")) is None
    finally:
        engine.dispose()
