"""Sending a cycle's escrow calls and applying what the chain answered to the trades.

Calls go out through the agent's bounded window of in-flight transactions. A batch that reverts
is retried trade by trade, so one bad trade cannot hold up the others. A transport failure is
not a revert: the transaction may still be mined, so its trades are left as they are (and out
of the rest of the cycle) and the next cycle starts with recovery instead of guessing. A revert
that says the chain already moved (NotLocked, AlreadyLocked: a lost receipt, a reorg) is not a
failure either: those trades are re-read from the escrow in one batch and realigned.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session

from settlement import errors
from settlement.chain.custody import Custody
from settlement.chain.sender import Call, Outcome
from settlement.domain.netting import Obligation
from settlement.domain.trade import SettlementStep, TradeStatus
from settlement.ledger import repository as repo
from settlement.ledger.models import Trade
from settlement.processing.publisher import TradePublisher
from settlement.processing.recovery import Recovery
from settlement.processing.report import CycleReport

log = logging.getLogger(__name__)

# Reverts that mean the escrow is already past the state this step expects.
CHAIN_ALREADY_MOVED: dict[SettlementStep, tuple[type[errors.SettlementError], ...]] = {
    SettlementStep.LOCK: (errors.AlreadyLocked,),
    SettlementStep.RELEASE: (errors.NotLocked,),
    SettlementStep.REFUND: (errors.NotLocked,),
}


@dataclass
class CallGroup:
    """One call and the trades it moves; `singles` makes the per-trade calls to fall back on
    (only when the batch fails: encoding them up front doubled the cost of every batch)."""

    call: Call
    trades: list[Trade]  # as the cycle selected them: the success path writes their step from these
    step: SettlementStep
    singles: Callable[[], list[Call]] | None = None

    @property
    def trade_ids(self) -> list[str]:
        return [t.id for t in self.trades]


class BatchSubmission:
    def __init__(self, db: Engine, custody: Custody, recovery: Recovery, publisher: TradePublisher) -> None:
        self.db = db
        self.custody = custody
        self.recovery = recovery
        self.publisher = publisher
        # Set when a transaction's fate is unknown (send failed, receipt timed out): the next
        # cycle starts with recover() instead of guessing, so nothing is locked or paid twice.
        self.outcome_unknown = False
        # The trades of those transactions: nothing else is decided for them until recovery.
        self.unresolved: set[str] = set()

    def submit(self, groups: Sequence[CallGroup]) -> CycleReport:
        """Send every group's call through the agent's window; fall back to singles on a batch
        revert; then realign, in one batched read, the trades whose step found the chain moved."""
        moved: list[str] = []
        report = self._submit(groups, moved)
        if moved:
            report.realigned += len(self.recovery.realign(moved))
        return report

    def _submit(self, groups: Sequence[CallGroup], moved: list[str]) -> CycleReport:
        report = CycleReport()
        if not groups:
            return report
        by_call = {id(group.call): group for group in groups}
        fallback: list[CallGroup] = []

        def on_outcome(outcome: Outcome) -> None:
            group = by_call[id(outcome.call)]
            if outcome.record is not None:
                report.transactions += 1
            if outcome.receipt is not None:
                report.gas_used += int(outcome.receipt["gasUsed"])
                self._apply_success(group, outcome, report)
            elif isinstance(outcome.error, errors.ChainUnavailable):
                log.warning("%s: outcome unknown (%s); recovering next cycle", outcome.call.purpose, outcome.error)
                self.outcome_unknown = True
                self.unresolved.update(group.trade_ids)
                self._note_error(group.trade_ids, outcome.error)
            elif group.singles:
                log.info("batch %s failed (%s); retrying trade by trade", outcome.call.purpose, outcome.error)
                fallback.extend(
                    CallGroup(call, [trade], group.step)
                    for call, trade in zip(group.singles(), group.trades, strict=True)
                )
            elif isinstance(outcome.error, CHAIN_ALREADY_MOVED[group.step]):
                log.info("%s: the chain already moved (%s); realigning", outcome.call.purpose, outcome.error)
                moved.extend(group.trade_ids)
            else:
                assert outcome.error is not None
                self._apply_failure(group, outcome.error, report)

        self.custody.agent.submit_many([group.call for group in groups], on_outcome)
        if fallback:
            report.add(self._submit(fallback, moved))
        return report

    def _note_error(self, trade_ids: Sequence[str], error: errors.SettlementError) -> None:
        """Record why a trade is waiting, without moving it along its lifecycle."""
        with Session(self.db) as session:
            for trade_id in trade_ids:
                trade = repo.get_trade(session, trade_id)
                trade.error_code, trade.error_detail = error.code, error.detail
                session.add(trade)
            session.commit()

    def _apply_success(self, group: CallGroup, outcome: Outcome, report: CycleReport) -> None:
        assert outcome.receipt is not None and outcome.record is not None
        tx_hash, block = outcome.record.tx_hash, int(outcome.receipt["blockNumber"])
        # The trades as selected, not read again: the UPDATE is conditional on the status they
        # were selected in and writes only the step's columns (re-reading them cost 12% of a cycle).
        trades = group.trades
        with Session(self.db, expire_on_commit=False) as session:
            repo.transition_many(session, trades, group.step.target, tx_hash=tx_hash, block_number=block)
            session.commit()
        count = len(trades)
        if group.step == SettlementStep.LOCK:
            report.locked += count
        elif group.step == SettlementStep.RELEASE:
            report.released += count
            report.released_obligations.extend(
                Obligation(t.buyer_id, t.seller_id, t.settlement_amount_base_units) for t in trades
            )
        else:
            report.refunded += count
        self.publisher.publish_many(trades)  # one transaction for the batch's events

    def _apply_failure(self, group: CallGroup, error: errors.SettlementError, report: CycleReport) -> None:
        """A single trade's call reverted. A lock failure fails the trade; release/refund retry later."""
        with Session(self.db, expire_on_commit=False) as session:
            trade = repo.get_trade(session, group.trade_ids[0])
            if group.step == SettlementStep.LOCK:
                repo.transition(session, trade, TradeStatus.FAILED, error_code=error.code, error_detail=error.detail)
                report.failed += 1
            else:
                trade.error_code, trade.error_detail = error.code, f"{group.step} failed: {error.detail}"
                session.add(trade)
                log.warning("%s of trade %s failed: %s", group.step, trade.id, error.detail)
            session.commit()
        self.publisher.publish(trade)
