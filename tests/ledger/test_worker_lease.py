"""The worker lease on its own: one holder per ledger, released on demand, taken over when its
holder goes quiet (SQLite) or its session ends (PostgreSQL), and per ledger, not per database."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy.engine import Engine

from settlement.ledger.schema import open_database
from settlement.ledger.worker_lease import WorkerLease
from tests.conftest import fresh_database

TTL_S = 0.5
TAKEOVER_MAX_S = 5.0


def test_one_holder_at_a_time_and_release_frees_it(engine: Engine) -> None:
    first, second = WorkerLease(engine, TTL_S), WorkerLease(engine, TTL_S)
    assert not first.status().live
    assert first.hold("ChainUnavailable") and first.hold()  # taken, then renewed
    assert not second.hold()
    status = second.status()
    assert status.live and status.holder == first.holder and status.worker_error is None
    first.release()
    assert not second.status().live  # freed at once, not after the TTL
    assert second.hold() and not first.hold()
    second.release()


def test_a_quiet_holder_is_taken_over_on_sqlite_only_while_postgres_keeps_the_lock(engine: Engine) -> None:
    quiet, taker = WorkerLease(engine, TTL_S), WorkerLease(engine, TTL_S)
    assert quiet.hold()
    time.sleep(2 * TTL_S)  # no renewal: the heartbeat goes stale
    assert not taker.status().live
    if engine.dialect.name == "sqlite":
        assert taker.hold()  # an expired row is free
        assert not quiet.hold()  # and the quiet one learns it lost the lease
    else:
        assert not taker.hold()  # the advisory lock lives as long as the holder's session
        assert quiet.hold() and taker.status().live
        quiet._drop_connection()  # what a dead process does: its session ends (the server notices in moments)
        deadline = time.monotonic() + TAKEOVER_MAX_S
        while not taker.hold():
            assert time.monotonic() < deadline, "the lock outlived its session"
            time.sleep(0.05)
    taker.release()


def test_ledgers_in_two_schemas_have_their_own_lease(db_url: str, engine: Engine, tmp_path: Path) -> None:
    backend = "sqlite" if db_url.startswith("sqlite") else "postgresql"
    with fresh_database(backend, tmp_path, "other") as other_url:
        other = open_database(other_url)
        try:
            here, there = WorkerLease(engine, TTL_S), WorkerLease(other, TTL_S)
            assert here.hold() and there.hold()
            here.release()
            there.release()
        finally:
            other.dispose()
