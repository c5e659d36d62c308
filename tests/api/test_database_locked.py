"""A database locked past its busy timeout answers 503 database_unavailable with Retry-After, never
a bare 500; once the lock is gone the same requests succeed.

The lock is real: another connection holds SQLite's write lock (BEGIN EXCLUSIVE) on the file the
service uses, as a long migration, a backup or a stuck process would.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from settlement.service import SettlementService
from settlement.testing.app import running_app
from settlement.testing.devnet import Devnet
from tests.api.support import assert_problem, register, submit, trade_body, wait_status

pytestmark = pytest.mark.chain

BUSY_TIMEOUT_S = 0.3


@contextlib.contextmanager
def write_locked(database: Path) -> Iterator[None]:
    """Hold the SQLite write lock from a connection of our own until the block exits."""
    holder = sqlite3.connect(database, isolation_level=None, timeout=10)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        yield
        holder.execute("ROLLBACK")
    finally:
        holder.close()


def worker_idle(service: SettlementService) -> None:
    """Wake the worker and wait for that cycle to end: it then sleeps until woken again. (Waiting
    for "the cycle under way" alone races: it may have ended before we looked.)"""
    seen = datetime.now(UTC)
    service.wake()
    deadline = time.monotonic() + 30
    while (service.worker.health.last_cycle_at or seen) <= seen:
        assert time.monotonic() < deadline, "the worker never finished its cycle"
        time.sleep(0.02)


def test_a_locked_database_is_503_with_retry_after_then_works_again(devnet: Devnet, tmp_path: Path) -> None:
    snapshot = devnet.snapshot()
    database = tmp_path / "settlement.db"
    try:
        with running_app(
            devnet.manifest,
            devnet.rpc_url,
            tmp_path,
            database_url=f"sqlite:///{database}",
            database_busy_timeout_s=BUSY_TIMEOUT_S,
            sweep_interval_s=3_600,  # the worker cycles only when woken: it never meets the lock here
        ) as app:
            buyer, seller = register(app, "locked-buyer"), register(app, "locked-seller")
            operator = app.client()
            response = submit(operator, trade_body(buyer, seller))
            assert response.status_code == 202, response.text
            trade = wait_status(operator, response.json()["id"], "LOCKED")
            worker_idle(app.service)

            with write_locked(database):
                for answer in (
                    submit(operator, trade_body(buyer, seller)),
                    operator.post(f"/v1/trades/{trade['id']}/confirm"),
                ):
                    problem = assert_problem(answer, 503, "database_unavailable")
                    assert int(answer.headers["Retry-After"]) >= 1
                    assert "database is locked" in problem["detail"]
                    assert str(database) not in answer.text  # no paths or SQL

            assert submit(operator, trade_body(buyer, seller)).status_code == 202
            assert operator.post(f"/v1/trades/{trade['id']}/confirm").status_code == 202
            wait_status(operator, trade["id"], "RELEASED")
    finally:
        devnet.revert(snapshot)
