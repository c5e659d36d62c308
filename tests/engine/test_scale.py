"""Thousands of open trades cost a submission and a cycle no more than a few do.

Intake reads the payer's reservation as one running figure (no sum over its pending trades),
and release and refund select exactly the trades that are due, in SQL, so thousands of older
locked trades that are not due never block the one that is. The thousands are written straight
through the repository (locking them on chain would take minutes); the trades that must move
are really locked on chain.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import Session

from settlement import errors
from settlement.domain.trade import TradeStatus
from settlement.ledger import repository as repo
from settlement.processing.cycle import CYCLE_TRADES_MAX
from settlement.service import SettlementService
from tests.engine.conftest import OPERATOR, Brokers
from tests.engine.test_lifecycle import hkd_trade, reload
from tests.ledger.factories import add_trades

pytestmark = [pytest.mark.chain, pytest.mark.slow]

PENDING_TRADES = 2_000
LOCKED_TRADES = CYCLE_TRADES_MAX + 100  # more than a cycle selects: an unfiltered head would hide the rest


class Statements:
    """The SQL an engine runs while the block is open."""

    def __init__(self, service: SettlementService) -> None:
        self.engine = service.db
        self.seen: list[str] = []

    def _record(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.seen.append(statement)

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)


def test_intake_reads_the_payer_s_running_reservation_with_thousands_pending(
    service: SettlementService, brokers: Brokers
) -> None:
    first, _ = service.intake.submit(hkd_trade(brokers, "T-first"), OPERATOR)
    amount = first.settlement_amount_base_units
    balance = service.chain.balance_of(brokers.hk.address)
    # Thousands of pending trades that leave between 1.5 and 1.5 + a bit of `amount` free.
    each = (balance - amount - amount * 3 // 2) // PENDING_TRADES
    add_trades(service.db, brokers.hk, brokers.sg, [each] * PENDING_TRADES)

    with Statements(service) as sql:
        service.intake.submit(hkd_trade(brokers, "T-fits"), OPERATOR)
    sums = [s for s in sql.seen if "sum" in s.lower()]
    assert sums == [], "intake summed trades instead of reading the running figure"
    with pytest.raises(errors.InsufficientFunds):  # the thousands still count
        service.intake.submit(hkd_trade(brokers, "T-too-much"), OPERATOR)

    with Session(service.db) as session:
        assert repo.reserved_base_units(session, brokers.hk.id) == 2 * amount + each * PENDING_TRADES
        assert repo.reservation_drift(session) == []


def test_a_cycle_releases_and_refunds_the_due_trades_behind_thousands_locked(
    service: SettlementService, brokers: Brokers
) -> None:
    to_release, _ = service.intake.submit(hkd_trade(brokers, "T-release"), OPERATOR)
    to_refund, _ = service.intake.submit(hkd_trade(brokers, "T-refund"), OPERATOR)
    service.settle_until_idle()
    assert reload(service, to_release.id).status == TradeStatus.LOCKED
    assert reload(service, to_refund.id).status == TradeStatus.LOCKED
    # Older locked trades, neither confirmed nor cancelled nor past their deadline: not due.
    older = datetime.now(UTC) - timedelta(hours=1)
    add_trades(service.db, brokers.cn, brokers.sg, [1] * LOCKED_TRADES, status=TradeStatus.LOCKED, created_before=older)

    service.confirm_delivery(OPERATOR, to_release.id)
    service.cancel(OPERATOR, to_refund.id)
    report = service.run_cycle()  # one cycle

    assert reload(service, to_release.id).status == TradeStatus.RELEASED
    assert reload(service, to_refund.id).status == TradeStatus.REFUNDED
    assert report.failed == 0
