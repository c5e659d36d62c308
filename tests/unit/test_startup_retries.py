"""Startup retries outages only, backing off 1, 2, 4 … s within its budget, one log line each."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from settlement import errors
from settlement.startup import with_retries

RPC = "http://user:secret@127.0.0.1:8545/?apikey=hidden"
DB = "postgresql://settlement:pw@127.0.0.1:5432/settlement"


def failing(times: int, error: Exception) -> tuple[list[int], Callable[[], str]]:
    calls: list[int] = []

    def step() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise error
        return "ready"

    return calls, step


def test_an_outage_is_retried_with_backoff_and_one_redacted_line_each(caplog: pytest.LogCaptureFixture) -> None:
    calls, step = failing(3, errors.ChainUnavailable("no answer"))
    slept: list[float] = []
    with caplog.at_level(logging.WARNING, logger="settlement.startup"):
        result = with_retries(step, budget_s=60, rpc_url=RPC, database_url=DB, sleep=slept.append)
    assert result == "ready" and len(calls) == 4
    assert slept == [1.0, 2.0, 4.0]
    assert [r.getMessage() for r in caplog.records] == [
        f"chain unreachable at http://127.0.0.1:8545/: retrying in {s:g} s" for s in (1, 2, 4)
    ]


def test_a_database_outage_is_named_without_its_password(caplog: pytest.LogCaptureFixture) -> None:
    _, step = failing(1, errors.DatabaseUnavailable("locked"))
    with caplog.at_level(logging.WARNING, logger="settlement.startup"):
        with_retries(step, budget_s=60, rpc_url=RPC, database_url=DB, sleep=lambda _s: None)
    (line,) = [r.getMessage() for r in caplog.records]
    assert line == "database unavailable at postgresql://127.0.0.1:5432/settlement: retrying in 1 s"


def test_what_is_not_an_outage_fails_at_once() -> None:
    calls, step = failing(1, errors.LedgerMismatch("another chain"))
    with pytest.raises(errors.LedgerMismatch):
        with_retries(step, budget_s=60, rpc_url=RPC, database_url=DB, sleep=lambda _s: None)
    assert len(calls) == 1


def test_the_last_error_is_raised_once_the_budget_is_spent() -> None:
    calls, step = failing(100, errors.ChainUnavailable("still down"))
    with pytest.raises(errors.ChainUnavailable, match="still down"):
        with_retries(step, budget_s=0, rpc_url=RPC, database_url=DB)
    assert len(calls) == 1
