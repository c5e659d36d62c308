"""One settlement cycle: lock what is pending, release what is confirmed, refund the rest.

A cycle never waits on one trade before sending the next: ready trades go out in escrow batch
calls (see submission.py). Custodial payers get their escrow approval first, once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session

from settlement.chain.client import ChainClient
from settlement.chain.contract_calls import ContractCalls, LockOrder, approvals_to_cover
from settlement.chain.custody import Custody
from settlement.chain.sender import Call
from settlement.chain.trade_ids import chain_trade_key
from settlement.config import Settings
from settlement.domain.batching import chunks
from settlement.domain.requests import PermitSignature
from settlement.domain.trade import SettlementMode, SettlementStep, TradeStatus, is_due_for_refund, is_due_for_release
from settlement.errors import ChainUnavailable
from settlement.ledger import repository as repo
from settlement.ledger.models import Participant, Trade
from settlement.ledger.reference_data import ReferenceData
from settlement.processing.matching import TradeMatching
from settlement.processing.publisher import TradePublisher
from settlement.processing.realignment import RealignmentSweep
from settlement.processing.recovery import Recovery
from settlement.processing.report import CycleReport
from settlement.processing.submission import BatchSubmission, CallGroup

log = logging.getLogger(__name__)

# Trades one step of a cycle selects (lock, release, refund): 25 batch calls of 200. A bound on a
# cycle's work, large enough that the per-cycle reads and the indexer's round are amortised (the
# gross bench went from ~495 to ~545 trades/s when it rose from 2,000).
CYCLE_TRADES_MAX = 5_000
CANCELLED_BEFORE_LOCK = "cancelled_before_lock"


class SettlementCycle:
    def __init__(
        self,
        db: Engine,
        chain: ChainClient,
        custody: Custody,
        settings: Settings,
        recovery: Recovery,
        matching: TradeMatching,
        publisher: TradePublisher,
        reference: ReferenceData,
    ) -> None:
        self.db = db
        self.reference = reference
        self.chain = chain
        self.custody = custody
        self.settings = settings
        self.recovery = recovery
        self.matching = matching
        self.publisher = publisher
        self.calls = ContractCalls(chain)
        self.submission = BatchSubmission(db, custody, recovery, publisher)
        self.realignment = RealignmentSweep(db, recovery, settings.realign_every_cycles, settings.realign_trades_max)

    def run_once(self) -> CycleReport:
        """Recover first if an earlier outcome is unknown, realign if due, then lapse, lock, release
        and refund (never a trade whose outcome became unknown earlier in this cycle)."""
        report = CycleReport()
        if self.submission.outcome_unknown:
            report.realigned += self.recovery.recover()
            self.submission.outcome_unknown = False
        else:
            # The flag lives in memory; the mark on the trades outlives a restart: those are read
            # back from the escrow before anything else is decided for them (a cancel included).
            with Session(self.db) as session:
                marked = list(repo.open_trades_marked(session, ChainUnavailable.code, self.settings.realign_trades_max))
            report.realigned += len(self.recovery.realign(marked))
        self.submission.unresolved.clear()  # resolved by recover() above: it only holds within a cycle
        report.realigned += self.realignment.run_if_due()
        self._lapse_unaffirmed()
        report.add(self._lock_pending())
        report.add(self._release_confirmed())
        report.add(self._refund_cancelled_and_expired())
        return report

    def _lapse_unaffirmed(self) -> None:
        with Session(self.db, expire_on_commit=False) as session:
            lapsed = self.matching.lapse_expired(session, self.settings.match_window_s, datetime.now(UTC))
            session.commit()
        for trade in lapsed:
            self.publisher.publish(trade)

    def _lock_pending(self) -> CycleReport:
        report = CycleReport()
        with Session(self.db, expire_on_commit=False) as session:
            pending = list(repo.trades_in_status(session, TradeStatus.PENDING, CYCLE_TRADES_MAX, SettlementMode.GROSS))
            cancelled = [t for t in pending if t.cancel_requested and t.id not in self.submission.unresolved]
            for trade in cancelled:
                # Ask the escrow first: a lock whose receipt was lost may be on chain, and then the
                # trade is LOCKED (and refunded below), never FAILED over coins that sit in escrow.
                self.recovery.adopt_chain_state(session, trade)
                if trade.status != TradeStatus.PENDING:
                    continue
                repo.transition(
                    session,
                    trade,
                    TradeStatus.FAILED,
                    error_code=CANCELLED_BEFORE_LOCK,
                    error_detail="cancelled before the lock was sent",
                )
                report.failed += 1
            session.commit()
            pending = [t for t in pending if not t.cancel_requested and t.id not in self.submission.unresolved]
            participants = self.reference.snapshot(session).participants
        for trade in cancelled:
            self.publisher.publish(trade)
        if not pending:
            return report
        orders = {t.id: order for t in pending if (order := self._signed_order(t, participants)) is not None}
        pending = [t for t in pending if t.id in orders]  # the rest wait for the buyer's lock signature
        if not pending:
            return report
        report.add(self._ensure_allowances(pending, participants))

        groups: list[CallGroup] = []
        for chunk in chunks([t for t in pending if t.permit_json is None], self.settings.batch_trades_max):
            chunk_orders = [orders[t.id] for t in chunk]
            call = self.calls.lock_batch(chunk_orders)
            groups.append(
                CallGroup(call, list(chunk), SettlementStep.LOCK, _singles(chunk_orders, self.calls.lock_batch))
            )
        for trade in (t for t in pending if t.permit_json is not None):
            permit = PermitSignature(**json.loads(trade.permit_json or "{}"))
            call = self.calls.lock_with_permit(
                orders[trade.id], permit.value_base_units, permit.deadline, permit.v, permit.r, permit.s
            )
            groups.append(CallGroup(call, [trade], SettlementStep.LOCK))
        report.add(self.submission.submit(groups))
        return report

    def _ensure_allowances(self, pending: Sequence[Trade], participants: Mapping[str, Participant]) -> CycleReport:
        """Custodial payers approve the escrow once (to max), as a USDT-safe approve(0) first if needed."""
        report = CycleReport()
        needed: dict[str, int] = {}
        for trade in pending:
            if trade.permit_json is None:
                payer = participants[trade.buyer_id].address
                needed[payer] = needed.get(payer, 0) + trade.settlement_amount_base_units
        for payer, amount in needed.items():
            sender = self.custody.sender_for(payer)
            if sender is None:
                continue
            calls = approvals_to_cover(self.chain.allowance(payer), amount, self.calls.approve)
            if not calls:
                continue
            for outcome in sender.submit_many(calls):
                report.transactions += 1
                if outcome.receipt is not None:
                    report.gas_used += int(outcome.receipt["gasUsed"])
                if outcome.error is not None:
                    log.warning("approve for %s failed: %s", payer, outcome.error)
        return report

    def _signed_order(self, trade: Trade, participants: Mapping[str, Participant]) -> LockOrder | None:
        """The lock with the payer's signature: stored from the buyer, or made with a custodial key.

        None while a non-custodial buyer has not signed: no lock is ever sent without its consent."""
        order = LockOrder.for_trade(
            trade.chain_trade_id,
            participants[trade.buyer_id].address,
            participants[trade.seller_id].address,
            trade.settlement_amount_base_units,
            trade.deadline,
        )
        if trade.lock_signature:
            return replace(order, signature=bytes.fromhex(trade.lock_signature[2:]))
        signature = self.custody.sign_lock_intent(order)
        return None if signature is None else replace(order, signature=signature)

    def _release_confirmed(self) -> CycleReport:
        with Session(self.db) as session:
            due = [
                t
                for t in repo.trades_due_for_release(session, CYCLE_TRADES_MAX)
                if is_due_for_release(t) and t.id not in self.submission.unresolved
            ]
        return self.submission.submit(self._payout_groups(due, SettlementStep.RELEASE, self.calls.release_batch))

    def _refund_cancelled_and_expired(self) -> CycleReport:
        chain_now_s = self.chain.latest_timestamp()
        chain_now = datetime.fromtimestamp(chain_now_s, UTC)
        with Session(self.db) as session:
            selected = repo.trades_due_for_refund(session, chain_now, CYCLE_TRADES_MAX)
            due = [t for t in selected if is_due_for_refund(t, chain_now_s) and t.id not in self.submission.unresolved]
        return self.submission.submit(self._payout_groups(due, SettlementStep.REFUND, self.calls.refund_batch))

    def _payout_groups(
        self, trades: list[Trade], step: SettlementStep, make: Callable[[Sequence[bytes]], Call]
    ) -> list[CallGroup]:
        groups = []
        for chunk in chunks(trades, self.settings.batch_trades_max):
            keys = [chain_trade_key(t.chain_trade_id) for t in chunk]
            groups.append(CallGroup(make(keys), list(chunk), step, _singles(keys, make)))
        return groups


T = TypeVar("T")


def _singles(items: Sequence[T], make: Callable[[Sequence[T]], Call]) -> Callable[[], list[Call]] | None:
    """The per-trade calls a failed batch falls back on, made only if it fails (none for one trade)."""
    if len(items) < 2:
        return None
    return lambda: [make([item]) for item in items]
