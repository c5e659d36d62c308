"""The settlement engine: accepts trades, locks, releases and refunds them on chain.

Why it is shaped this way:
- Every check that can fail (bad input, unknown party, balance, allowance, pause, blacklist)
  runs *before* anything is written, so a rejected trade leaves no trace in ledger or chain.
- A processing cycle never waits on one trade before sending the next: ready trades go out in
  escrow batch calls, pipelined through a bounded window of in-flight transactions. A batch
  that reverts is retried trade by trade, so one bad trade cannot hold up the others.
- After a crash, `recover()` first settles the transaction journal (same bytes, never a second
  signature), then asks the escrow what state each open trade is really in.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from settlement import errors
from settlement.chain.client import ChainClient, LockStatus, PreflightState
from settlement.chain.escrow_calls import EscrowCalls, LockOrder
from settlement.chain.permits import permit_signer
from settlement.chain.sender import Call, Outcome
from settlement.config import Settings
from settlement.custody import Custody
from settlement.domain.journal import client_account
from settlement.domain.netting import GrossObligation, NettingCycle
from settlement.domain.requests import PermitSignature, TradeRequest
from settlement.domain.trade import TradeStatus, can_cancel, chain_trade_id, new_trade_id
from settlement.ledger import repository as repo
from settlement.ledger.journal_store import JournalStore
from settlement.ledger.models import IdempotencyRecord, Participant, Trade, utcnow
from settlement.money import SUPPORTED_CURRENCIES, settlement_base_units

log = logging.getLogger(__name__)

MAX_TRADES_PER_CYCLE = 2_000
CANCELLED_BEFORE_LOCK = "cancelled_before_lock"


@dataclass
class CycleReport:
    locked: int = 0
    released: int = 0
    refunded: int = 0
    failed: int = 0
    transactions: int = 0
    gas_used: int = 0
    released_obligations: list[GrossObligation] = field(default_factory=list)

    def add(self, other: CycleReport) -> None:
        for name in ("locked", "released", "refunded", "failed", "transactions", "gas_used"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.released_obligations.extend(other.released_obligations)

    def netting(self) -> NettingCycle:
        """What the releases of this cycle come to, net, per broker (see domain/netting.py)."""
        return NettingCycle.of(self.released_obligations)


@dataclass(frozen=True)
class TradeEvent:
    """A status change, published to listeners (the API's event stream and webhooks)."""

    trade_id: str
    status: str
    buyer_id: str
    seller_id: str
    tx_hash: str | None
    error_code: str | None
    at: datetime


@dataclass
class _Pending:
    """Trades waiting on one Call in a pipelined submission."""

    trades: list[str]
    kind: str  # "lock" | "release" | "refund"
    fallbacks: list[Call] = field(default_factory=list)


def request_fingerprint(request: TradeRequest) -> str:
    """Stable hash of a trade request, for Idempotency-Key comparison (Decimals normalised)."""
    fields = {
        k: (format(v.normalize(), "f") if hasattr(v, "normalize") else v)
        for k, v in request.__dict__.items()
        if k != "permit"
    }
    fields["permit"] = request.permit.__dict__ if request.permit else None
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


class SettlementEngine:
    def __init__(
        self, db: Engine, chain: ChainClient, custody: Custody, journal: JournalStore, settings: Settings
    ) -> None:
        self.db = db
        self.chain = chain
        self.custody = custody
        self.journal = journal
        self.settings = settings
        self.calls = EscrowCalls(chain)
        self.listeners: list[Callable[[TradeEvent], None]] = []
        # Set when a transaction's fate is unknown (send failed, receipt timed out): the next
        # cycle starts with recover() instead of guessing, so nothing is locked or paid twice.
        self._outcome_unknown = False

    # ================================================================= accept

    def submit(
        self, request: TradeRequest, submitted_by: str, idempotency_key: str | None = None
    ) -> tuple[Trade, bool]:
        """Validate and record a trade as PENDING. Returns (trade, created).

        With an idempotency key, the same key and body return the original trade (created=False);
        the same key with another body raises IdempotencyConflict.
        """
        fingerprint = request_fingerprint(request)
        with Session(self.db, expire_on_commit=False) as session:
            if idempotency_key:
                existing = self._replay(session, submitted_by, idempotency_key, fingerprint)
                if existing is not None:
                    return existing, False
            try:
                trade = self._build_trade(session, request, submitted_by)
            except errors.DuplicateTrade:
                # A concurrent retry with the same key may have committed since the replay check.
                existing = (
                    self._replay(session, submitted_by, idempotency_key, fingerprint) if idempotency_key else None
                )
                if existing is None:
                    raise
                return existing, False
            try:  # the flush can already hit the unique (submitted_by, trade_ref) of a concurrent twin
                session.add(trade)
                session.flush()
                repo.transition_created(session, trade)
                if idempotency_key:
                    session.add(
                        IdempotencyRecord(
                            caller=submitted_by, key=idempotency_key, request_hash=fingerprint, trade_id=trade.id
                        )
                    )
                session.commit()
            except IntegrityError:
                session.rollback()
                if idempotency_key:
                    existing = self._replay(session, submitted_by, idempotency_key, fingerprint)
                    if existing is not None:
                        return existing, False
                raise errors.DuplicateTrade(
                    f"trade_ref {request.trade_ref!r} already submitted by this broker"
                ) from None
            self._publish(trade)
            return trade, True

    def _replay(self, session: Session, caller: str, key: str, fingerprint: str) -> Trade | None:
        record = repo.idempotency_record(session, caller, key)
        if record is None:
            return None
        if record.request_hash != fingerprint:
            raise errors.IdempotencyConflict("this Idempotency-Key was used with a different request body")
        return repo.get_trade(session, record.trade_id)

    def _build_trade(self, session: Session, request: TradeRequest, submitted_by: str) -> Trade:
        currency = request.currency.upper()
        if currency not in SUPPORTED_CURRENCIES:
            raise errors.UnknownCurrency(f"currency {request.currency!r} is not supported")
        quote = repo.latest_fx_rate(session, currency)
        if quote is None:
            raise errors.MissingFxRate(f"no FX rate recorded for {currency}")
        amount = settlement_base_units(request.quantity, request.price, quote.rate_to_usd)

        if request.buyer_id == request.seller_id:
            raise errors.SameParty("buyer and seller are the same broker")
        buyer = repo.get_participant(session, request.buyer_id)
        seller = repo.get_participant(session, request.seller_id)
        for client_id, owner in ((request.buyer_client_id, buyer), (request.seller_client_id, seller)):
            if client_id is not None and repo.get_client(session, client_id).participant_id != owner.id:
                raise errors.UnknownClientAccount(f"client {client_id} does not belong to {owner.name}")
        if repo.trade_by_ref(session, submitted_by, request.trade_ref) is not None:
            raise errors.DuplicateTrade(f"trade_ref {request.trade_ref!r} already submitted by this broker")

        state = self.chain.preflight(buyer.address, seller.address)
        chain_now = state.latest_timestamp
        wall_now = datetime.now(UTC)
        deadline = request.deadline or (
            max(wall_now, datetime.fromtimestamp(chain_now, UTC))
            + timedelta(seconds=self.settings.default_settlement_window_s)
        )
        deadline = repo.as_utc(deadline)
        if deadline <= wall_now or int(deadline.timestamp()) <= chain_now:
            raise errors.DeadlineInPast(f"deadline {deadline.isoformat()} is not in the future")

        self._preflight(session, state, buyer.id, buyer.address, amount, request)

        trade_id = new_trade_id()
        return Trade(
            id=trade_id,
            chain_trade_id="0x" + chain_trade_id(trade_id).hex(),
            trade_ref=request.trade_ref,
            submitted_by=submitted_by,
            buyer_id=buyer.id,
            seller_id=seller.id,
            buyer_client_id=request.buyer_client_id,
            seller_client_id=request.seller_client_id,
            instrument=request.instrument,
            quantity=str(request.quantity),
            price=str(request.price),
            currency=currency,
            fx_rate=str(quote.rate_to_usd),
            fx_source=quote.source,
            fx_as_of=quote.as_of,
            settlement_amount_base_units=amount,
            deadline=deadline,
            status=TradeStatus.PENDING,
            permit_json=json.dumps(request.permit.__dict__) if request.permit else None,
        )

    def _preflight(
        self,
        session: Session,
        state: PreflightState,
        payer_id: str,
        payer: str,
        amount: int,
        request: TradeRequest,
    ) -> None:
        """Chain-side checks before accepting: what would make the lock revert later."""
        if state.token_paused or state.escrow_paused:
            raise errors.Paused("the token or the escrow is paused")
        if state.payer_blacklisted or state.payee_blacklisted:
            raise errors.Blacklisted("a party to this trade is blacklisted by the token issuer")
        reserved = repo.reserved_base_units(session, payer_id)
        balance = state.payer_balance_base_units
        if balance - reserved < amount:
            raise errors.InsufficientFunds(
                f"payer balance {balance} minus {reserved} reserved by pending trades is below {amount}"
            )
        if request.buyer_client_id is not None:
            client_balance = self.journal.balance(client_account(request.buyer_client_id))
            client_reserved = repo.reserved_base_units(session, payer_id, request.buyer_client_id)
            if client_balance - client_reserved < amount:
                raise errors.InsufficientFunds(
                    f"client sub-ledger balance {client_balance} minus {client_reserved} reserved is below {amount}"
                )
        if self.custody.holds_key(payer):
            return  # custodial: the engine approves the escrow itself before locking
        if request.permit is not None:
            self._check_permit(payer, amount, request.permit)
            return
        allowance = state.payer_allowance_base_units
        if allowance - reserved < amount:
            raise errors.InsufficientAllowance(
                f"payer allowance to the escrow {allowance} minus {reserved} reserved is below {amount}; "
                "approve the escrow or send a permit"
            )

    def _check_permit(self, payer: str, amount: int, permit: PermitSignature) -> None:
        if permit.value_base_units < amount:
            raise errors.InvalidPermit(f"permit value {permit.value_base_units} is below the amount {amount}")
        if permit.deadline <= self.chain.latest_timestamp():
            raise errors.InvalidPermit("permit deadline has passed")
        signer = permit_signer(self.chain, payer, permit)
        if signer is None or signer.lower() != payer.lower():
            raise errors.InvalidPermit("permit is not signed by the payer for its current nonce")

    # ================================================================= requests from parties

    def confirm_delivery(self, trade_id: str) -> Trade:
        """Delivery confirmed: release at the next cycle (or as soon as the lock lands).

        Idempotent: confirming a trade that is already released (or already confirmed) is a
        no-op, so a client retrying after a timeout gets the trade back, not an error.
        """
        with Session(self.db, expire_on_commit=False) as session:
            trade = repo.get_trade(session, trade_id)
            if trade.status == TradeStatus.RELEASED or (trade.release_requested and not trade.cancel_requested):
                return trade
            if trade.status not in (TradeStatus.PENDING, TradeStatus.LOCKED) or trade.cancel_requested:
                raise errors.InvalidTransition(f"trade is {trade.status}; delivery can no longer be confirmed")
            trade.release_requested = True
            trade.updated_at = utcnow()
            session.add(trade)
            session.commit()
            return trade

    def cancel(self, trade_id: str, *, by_operator: bool) -> Trade:
        """Cancel before release: refund if locked. After delivery is confirmed only the operator may.

        Idempotent like confirm: cancelling a refunded or already-cancelled trade returns it.
        """
        with Session(self.db, expire_on_commit=False) as session:
            trade = repo.get_trade(session, trade_id)
            if trade.status == TradeStatus.REFUNDED or trade.cancel_requested:
                return trade
            if not can_cancel(TradeStatus(trade.status)):
                raise errors.InvalidTransition(f"trade is {trade.status}; it can no longer be cancelled")
            if trade.release_requested and not by_operator:
                raise errors.InvalidTransition("delivery was confirmed; only the operator can cancel now")
            trade.cancel_requested = True
            trade.release_requested = False
            trade.updated_at = utcnow()
            session.add(trade)
            session.commit()
            return trade

    # ================================================================= processing cycle

    def process_once(self) -> CycleReport:
        """One settlement cycle: lock what is pending, release what is confirmed, refund the rest."""
        if self._outcome_unknown:
            self.recover()
            self._outcome_unknown = False
        report = CycleReport()
        report.add(self._lock_pending())
        report.add(self._release_confirmed())
        report.add(self._refund_cancelled_and_expired())
        return report

    def _lock_pending(self) -> CycleReport:
        report = CycleReport()
        with Session(self.db, expire_on_commit=False) as session:
            pending = list(repo.trades_in_status(session, TradeStatus.PENDING, MAX_TRADES_PER_CYCLE))
            cancelled = [t for t in pending if t.cancel_requested]
            for trade in cancelled:
                repo.transition(
                    session,
                    trade,
                    TradeStatus.FAILED,
                    error_code=CANCELLED_BEFORE_LOCK,
                    error_detail="cancelled before the lock was sent",
                )
                report.failed += 1
            session.commit()
            pending = [t for t in pending if not t.cancel_requested]
            participants = {p.id: p for p in repo.list_participants(session)}
        for trade in cancelled:
            self._publish(trade)
        if not pending:
            return report
        report.add(self._ensure_allowances(pending, participants))

        plain = [t for t in pending if t.permit_json is None]
        with_permit = [t for t in pending if t.permit_json is not None]
        orders = {t.id: self._order(t, participants) for t in pending}
        groups: list[tuple[Call, _Pending]] = []
        for chunk in _chunks(plain, self.settings.batch_max_trades):
            call = self.calls.lock_batch([orders[t.id] for t in chunk])
            singles = [self.calls.lock_batch([orders[t.id]]) for t in chunk] if len(chunk) > 1 else []
            groups.append((call, _Pending([t.id for t in chunk], "lock", singles)))
        for trade in with_permit:
            permit = PermitSignature(**json.loads(trade.permit_json or "{}"))
            call = self.calls.lock_with_permit(
                orders[trade.id], permit.value_base_units, permit.deadline, permit.v, permit.r, permit.s
            )
            groups.append((call, _Pending([trade.id], "lock")))
        report.add(self._submit(groups))
        return report

    def _ensure_allowances(self, pending: Sequence[Trade], participants: dict[str, Participant]) -> CycleReport:
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
            current = self.chain.allowance(payer)
            if current >= amount:
                continue
            calls = ([self.calls.approve(0)] if current > 0 else []) + [self.calls.approve()]
            for outcome in sender.submit_many(calls):
                report.transactions += 1
                if outcome.receipt is not None:
                    report.gas_used += int(outcome.receipt["gasUsed"])
                if outcome.error is not None:
                    log.warning("approve for %s failed: %s", payer, outcome.error)
        return report

    def _order(self, trade: Trade, participants: dict[str, Participant]) -> LockOrder:
        return LockOrder(
            trade_id=bytes.fromhex(trade.chain_trade_id[2:]),
            payer=participants[trade.buyer_id].address,
            payee=participants[trade.seller_id].address,
            amount_base_units=trade.settlement_amount_base_units,
            deadline=int(repo.as_utc(trade.deadline).timestamp()),
        )

    def _release_confirmed(self) -> CycleReport:
        with Session(self.db) as session:
            ready = [
                t
                for t in repo.trades_in_status(session, TradeStatus.LOCKED, MAX_TRADES_PER_CYCLE)
                if t.release_requested and not t.cancel_requested
            ]
            ids = [(t.id, bytes.fromhex(t.chain_trade_id[2:])) for t in ready]
        return self._submit(self._id_groups(ids, "release", self.calls.release_batch))

    def _refund_cancelled_and_expired(self) -> CycleReport:
        chain_now = self.chain.latest_timestamp()
        with Session(self.db) as session:
            due = [
                t
                for t in repo.trades_in_status(session, TradeStatus.LOCKED, MAX_TRADES_PER_CYCLE)
                if t.cancel_requested or int(repo.as_utc(t.deadline).timestamp()) < chain_now
            ]
            ids = [(t.id, bytes.fromhex(t.chain_trade_id[2:])) for t in due]
        return self._submit(self._id_groups(ids, "refund", self.calls.refund_batch))

    def _id_groups(
        self, ids: list[tuple[str, bytes]], kind: str, make: Callable[[Sequence[bytes]], Call]
    ) -> list[tuple[Call, _Pending]]:
        groups = []
        for chunk in _chunks(ids, self.settings.batch_max_trades):
            singles = [make([chain_id]) for _, chain_id in chunk] if len(chunk) > 1 else []
            groups.append((make([c for _, c in chunk]), _Pending([i for i, _ in chunk], kind, singles)))
        return groups

    def _submit(self, groups: list[tuple[Call, _Pending]]) -> CycleReport:
        """Send every group's call through the agent's window; fall back to singles on a batch revert."""
        report = CycleReport()
        if not groups:
            return report
        by_call = {id(call): pending for call, pending in groups}
        fallback: list[tuple[Call, _Pending]] = []

        def on_outcome(outcome: Outcome) -> None:
            pending = by_call[id(outcome.call)]
            if outcome.record is not None:
                report.transactions += 1
            if outcome.receipt is not None:
                report.gas_used += int(outcome.receipt["gasUsed"])
                self._apply_success(pending, outcome, report)
            elif isinstance(outcome.error, errors.ChainUnavailable):
                # Not a revert: the tx may still be mined. Leave the trades as they are and let
                # the next cycle find out (recover) rather than fail them or send them again.
                log.warning("%s: outcome unknown (%s); recovering next cycle", outcome.call.purpose, outcome.error)
                self._outcome_unknown = True
                self._note_error(pending.trades, outcome.error)
            elif pending.fallbacks:
                log.info("batch %s failed (%s); retrying trade by trade", outcome.call.purpose, outcome.error)
                fallback.extend(
                    (call, _Pending([trade_id], pending.kind))
                    for call, trade_id in zip(pending.fallbacks, pending.trades, strict=True)
                )
            else:
                assert outcome.error is not None
                self._apply_failure(pending, outcome.error, report)

        self.custody.agent.submit_many([call for call, _ in groups], on_outcome)
        if fallback:
            report.add(self._submit(fallback))
        return report

    def _note_error(self, trade_ids: Sequence[str], error: errors.SettlementError) -> None:
        """Record why a trade is waiting, without moving it along its lifecycle."""
        with Session(self.db) as session:
            for trade_id in trade_ids:
                trade = repo.get_trade(session, trade_id)
                trade.error_code, trade.error_detail = error.code, error.detail
                session.add(trade)
            session.commit()

    def _apply_success(self, pending: _Pending, outcome: Outcome, report: CycleReport) -> None:
        assert outcome.receipt is not None and outcome.record is not None
        target = {
            "lock": TradeStatus.LOCKED,
            "release": TradeStatus.RELEASED,
            "refund": TradeStatus.REFUNDED,
        }[pending.kind]
        tx_hash, block = outcome.record.tx_hash, int(outcome.receipt["blockNumber"])
        with Session(self.db, expire_on_commit=False) as session:
            trades = [repo.get_trade(session, trade_id) for trade_id in pending.trades]
            for trade in trades:
                repo.transition(session, trade, target, tx_hash=tx_hash, block_number=block)
            session.commit()
        count = len(trades)
        if pending.kind == "lock":
            report.locked += count
        elif pending.kind == "release":
            report.released += count
            report.released_obligations.extend(
                GrossObligation(t.buyer_id, t.seller_id, t.settlement_amount_base_units) for t in trades
            )
        else:
            report.refunded += count
        for trade in trades:
            self._publish(trade)

    def _apply_failure(self, pending: _Pending, error: errors.SettlementError, report: CycleReport) -> None:
        """A single trade's call reverted. A lock failure fails the trade; release/refund retry later."""
        with Session(self.db, expire_on_commit=False) as session:
            trade = repo.get_trade(session, pending.trades[0])
            if pending.kind == "lock" and isinstance(error, errors.AlreadyLocked):
                self._adopt_chain_state(session, trade)
            elif pending.kind == "lock":
                repo.transition(session, trade, TradeStatus.FAILED, error_code=error.code, error_detail=error.detail)
                report.failed += 1
            else:
                trade.error_code, trade.error_detail = error.code, f"{pending.kind} failed: {error.detail}"
                session.add(trade)
                log.warning("%s of trade %s failed: %s", pending.kind, trade.id, error.detail)
            session.commit()
        self._publish(trade)

    # ================================================================= crash recovery

    def recover(self) -> int:
        """Settle the tx journal, then align every open trade with the escrow's real state.

        Returns how many trades changed status. Never sends a lock for a trade the chain already
        has: the escrow's getLock is asked first.
        """
        self.custody.recover()
        changed = 0
        with Session(self.db, expire_on_commit=False) as session:
            open_trades = [
                *repo.trades_in_status(session, TradeStatus.PENDING, MAX_TRADES_PER_CYCLE),
                *repo.trades_in_status(session, TradeStatus.LOCKED, MAX_TRADES_PER_CYCLE),
            ]
            for trade in open_trades:
                before = trade.status
                self._adopt_chain_state(session, trade)
                changed += trade.status != before
            session.commit()
        return changed

    def _adopt_chain_state(self, session: Session, trade: Trade) -> None:
        trade_key = bytes.fromhex(trade.chain_trade_id[2:])
        on_chain = self.chain.get_lock(trade_key)
        status = TradeStatus(trade.status)
        steps: list[tuple[TradeStatus, str]] = []
        if status == TradeStatus.PENDING and on_chain.status != LockStatus.NONE:
            steps.append((TradeStatus.LOCKED, "Locked"))
        if on_chain.status == LockStatus.RELEASED:
            steps.append((TradeStatus.RELEASED, "Released"))
        elif on_chain.status == LockStatus.REFUNDED:
            steps.append((TradeStatus.REFUNDED, "Refunded"))
        for target, event_name in steps:
            tx_hash, block = self._find_event(event_name, trade_key)
            repo.transition(session, trade, target, tx_hash=tx_hash, block_number=block)

    def _find_event(self, event_name: str, trade_key: bytes) -> tuple[str | None, int | None]:
        event = getattr(self.chain.escrow.events, event_name)()
        logs = event.get_logs(from_block=self.chain.manifest.deploy_block, argument_filters={"tradeId": trade_key})
        if not logs:
            return None, None
        return logs[-1]["transactionHash"].to_0x_hex(), int(logs[-1]["blockNumber"])

    # ================================================================= events

    def _publish(self, trade: Trade) -> None:
        event = TradeEvent(
            trade_id=trade.id,
            status=trade.status,
            buyer_id=trade.buyer_id,
            seller_id=trade.seller_id,
            tx_hash=trade.release_tx_hash or trade.refund_tx_hash or trade.lock_tx_hash,
            error_code=trade.error_code,
            at=utcnow(),
        )
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception:  # a broken subscriber must not stop settlement
                log.exception("trade event listener failed")


T = TypeVar("T")


def _chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
