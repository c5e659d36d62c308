"""Batch submission: up to 1,000 trades in one request, each with its own result.

Why a set-based path: the single-trade intake reads the chain (a 7-call pre-flight) for every
trade, and writes each trade in its own transaction. A batch from the operator (the matching
utility) reads once per batch instead: one pre-flight per participant, each payer's running
reservation or net exposure once (FX rates and participants come from the service's cache,
settlement/ledger/reference_data.py, re-read only when they change), and writes every trade, its
transitions and the figures in one transaction. A broker's batch goes through the single-trade
rules one instruction at a time (alleged, matched), since each may match a different
counterparty's instruction.

Idempotency: the batch key replays the whole answer (the API's Idempotency-Key); per trade,
(submitter, trade_ref) is unique, so an identical trade submitted again is returned as a replay
and a different one under a used reference is refused for that item only.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import cast

from sqlalchemy import Table, insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, or_, select

from settlement import errors
from settlement.chain.client import ChainClient, PreflightState
from settlement.domain.access import Actor
from settlement.domain.requests import TradeRequest
from settlement.domain.trade import MatchedBy, SettlementMode, TradeStatus, new_trade_id
from settlement.ledger import repository as repo
from settlement.ledger import window_store
from settlement.ledger.chunks import in_list_chunks
from settlement.ledger.models import PAYER_TOTAL, Trade, TradeTransition, utcnow
from settlement.ledger.reference_data import ReferenceSnapshot
from settlement.money import canonical_decimal, format_coins, supported_currency
from settlement.processing.intake import PayerFunds, TradeIntake, TradeTerms
from settlement.processing.publisher import TradeEvent, TradePublisher

BATCH_TRADES_MAX = 1_000


@dataclass(frozen=True)
class BatchItemResult:
    """One trade's answer: the trade (new or replayed) or the problem that refused it."""

    index: int
    trade_id: str | None
    status: str | None = None
    window_id: int | None = None
    replayed: bool = False
    error: errors.SettlementError | None = None

    @classmethod
    def of(cls, index: int, trade: Trade, replayed: bool = False) -> BatchItemResult:
        return cls(index, trade.id, trade.status, trade.window_id, replayed)

    @classmethod
    def refused(cls, index: int, error: errors.SettlementError) -> BatchItemResult:
        return cls(index, None, error=error)


@dataclass(frozen=True)
class _Item:
    index: int
    terms: TradeTerms
    mode: SettlementMode


class BatchIntake:
    def __init__(self, db: Engine, chain: ChainClient, intake: TradeIntake, publisher: TradePublisher) -> None:
        self.db = db
        self.chain = chain
        self.intake = intake
        self.publisher = publisher

    def submit(self, requests: Sequence[TradeRequest], actor: Actor) -> list[BatchItemResult]:
        if not 1 <= len(requests) <= BATCH_TRADES_MAX:
            raise errors.ValidationFailed(f"a batch holds 1 to {BATCH_TRADES_MAX} trades")
        if not actor.is_operator:
            return [self._one_by_one(i, request, actor) for i, request in enumerate(requests)]
        try:
            return self._operator_batch(requests, actor)
        except IntegrityError:
            # A concurrent submission took one of the references between our checks and the
            # insert: nothing of this batch was written; decide each trade on its own instead.
            return [self._one_by_one(i, request, actor) for i, request in enumerate(requests)]

    def _one_by_one(self, index: int, request: TradeRequest, actor: Actor) -> BatchItemResult:
        existing = self._replay(request, actor)
        if existing is not None:
            return dataclasses.replace(existing, index=index)
        try:
            trade, _ = self.intake.submit(request, actor)
        except errors.SettlementError as exc:
            return BatchItemResult.refused(index, exc)
        return BatchItemResult.of(index, trade)

    def _replay(self, request: TradeRequest, actor: Actor) -> BatchItemResult | None:
        with Session(self.db, expire_on_commit=False) as session:
            trade = repo.trade_by_ref(session, actor.id, request.trade_ref)
        if trade is None:
            return None
        if _same_trade(trade, request, self.intake.settings.default_settlement_mode):
            return BatchItemResult.of(0, trade, replayed=True)
        return BatchItemResult.refused(0, _duplicate(request.trade_ref))

    # ----------------------------------------------------------------- the operator's fast path

    def _operator_batch(self, requests: Sequence[TradeRequest], actor: Actor) -> list[BatchItemResult]:
        results: dict[int, BatchItemResult] = {}
        slow: list[int] = []  # permits and client sub-accounts: the single-trade rules
        with Session(self.db, expire_on_commit=False) as session:
            reference = self.intake.reference.snapshot(session)  # one version check for the batch
            existing, used_refs = self._existing(session, actor, requests)
            items: list[_Item] = []
            seen_refs: set[str] = set()
            for index, request in enumerate(requests):
                try:
                    if request.trade_ref in seen_refs:
                        raise _duplicate(request.trade_ref)
                    seen_refs.add(request.trade_ref)
                    known = existing.get(request.trade_ref)
                    if known is not None:
                        if not _same_trade(known, request, self.intake.settings.default_settlement_mode):
                            raise _duplicate(request.trade_ref)
                        results[index] = BatchItemResult.of(index, known, replayed=True)
                        continue
                    if request.permit is not None or request.buyer_client_id or request.seller_client_id:
                        slow.append(index)
                        continue
                    item = self._validate(index, request, reference, used_refs)
                    items.append(item)
                except errors.SettlementError as exc:
                    results[index] = BatchItemResult.refused(index, exc)
            accepted, chain_now_s = self._preflight(session, items, results)
            rows = self._insert(session, actor, accepted, chain_now_s)
            session.commit()
        for item, row in zip(accepted, rows, strict=True):
            results[item.index] = BatchItemResult(item.index, str(row["id"]), str(row["status"]), row["window_id"])  # type: ignore[arg-type]
        for index in slow:
            results[index] = self._one_by_one(index, requests[index], actor)
        now = utcnow()
        self.publisher.publish_events(
            [
                TradeEvent(
                    trade_id=str(row["id"]),
                    status=str(row["status"]),
                    buyer_id=str(row["buyer_id"]),
                    seller_id=str(row["seller_id"]),
                    tx_hash=None,
                    error_code=None,
                    at=now,
                )
                for row in rows
            ]
        )
        return [results[i] for i in range(len(requests))]

    def _existing(
        self, session: Session, actor: Actor, requests: Sequence[TradeRequest]
    ) -> tuple[dict[str, Trade], set[tuple[str, str]]]:
        """This submitter's trades under the batch's references, and (participant, ref) pairs used."""
        refs = sorted({r.trade_ref for r in requests})
        mine: dict[str, Trade] = {}
        used: set[tuple[str, str]] = set()
        for chunk in in_list_chunks(refs):
            for trade in session.exec(
                select(Trade).where(
                    or_(
                        col(Trade.trade_ref).in_(chunk),
                        col(Trade.buyer_ref).in_(chunk),
                        col(Trade.seller_ref).in_(chunk),
                    )
                )
            ).all():
                if trade.submitted_by == actor.id and trade.trade_ref in chunk:
                    mine[trade.trade_ref] = trade
                if trade.buyer_ref is not None:
                    used.add((trade.buyer_id, trade.buyer_ref))
                if trade.seller_ref is not None:
                    used.add((trade.seller_id, trade.seller_ref))
        return mine, used

    def _validate(
        self, index: int, request: TradeRequest, reference: ReferenceSnapshot, used_refs: set[tuple[str, str]]
    ) -> _Item:
        """The single-trade rules (TradeIntake.terms) on the participants and rates read once for the batch."""
        terms = self.intake.terms(request, reference.participant, reference.latest_fx_rate)
        for party in (terms.buyer, terms.seller):
            if (party.id, request.trade_ref) in used_refs:
                raise _duplicate(request.trade_ref)
        return _Item(index, terms, self.intake.settlement_mode(request))

    def _preflight(
        self, session: Session, items: list[_Item], results: dict[int, BatchItemResult]
    ) -> tuple[list[_Item], int]:
        """One chain read per participant and one cover or funds check per payer, for the batch."""
        addresses = {p.id: p.address for item in items for p in (item.terms.buyer, item.terms.seller)}
        # Reservations before the chain read (TradeIntake.exact_funds says why).
        gross_payers = sorted({i.terms.buyer.id for i in items if i.mode == SettlementMode.GROSS})
        reserved = {payer: repo.reserved_base_units(session, payer) for payer in gross_payers}
        by_address = self.chain.preflight_many(list(addresses.values())) if addresses else {}
        states: dict[str, PreflightState] = {pid: by_address[a.lower()] for pid, a in addresses.items()}
        refusals: dict[int, errors.SettlementError] = {}
        for item in items:
            buyer, seller = states[item.terms.buyer.id], states[item.terms.seller.id]
            if buyer.token_paused or (buyer.escrow_paused and item.mode == SettlementMode.GROSS):
                refusals[item.index] = errors.Paused("the token or the escrow is paused")
            elif buyer.payer_blacklisted or seller.payer_blacklisted:
                refusals[item.index] = errors.Blacklisted("a party to this trade is blacklisted by the token issuer")
        open_items = [i for i in items if i.index not in refusals]
        net_debits: dict[str, list[int]] = defaultdict(list)
        net_payees: set[str] = set()
        for item in open_items:
            if item.mode == SettlementMode.NET:
                net_debits[item.terms.buyer.id].append(item.terms.amount_base_units)
                net_payees.add(item.terms.seller.id)
        fits = self.intake.cover_fits(session, dict(net_debits), addresses, sorted(net_payees)) if net_debits else {}
        positions: dict[str, int] = defaultdict(int)
        funds: dict[str, PayerFunds] = {}
        rechecked: set[str] = set()
        taken: dict[str, int] = defaultdict(int)  # accepted earlier in this batch
        for item in open_items:
            payer = item.terms.buyer.id
            if item.mode == SettlementMode.NET:
                if not fits[payer][positions[payer]]:
                    refusals[item.index] = errors.NetDebitCapExceeded(
                        f"the buyer's net debit cap does not cover {format_coins(item.terms.amount_base_units)} coins on "
                        "top of its open net trades"
                    )
                positions[payer] += 1
                continue
            amount = item.terms.amount_base_units
            state = states[payer]
            payer_funds = funds.setdefault(
                payer, PayerFunds(state.payer_balance_base_units, state.payer_allowance_base_units, reserved[payer])
            )
            needs_allowance = not self.intake.custody.holds_key(item.terms.buyer.address)
            if not payer_funds.covers(amount, needs_allowance, taken[payer]) and payer not in rechecked:
                rechecked.add(payer)
                exact = self.intake.exact_funds(session, payer, item.terms.buyer.address)
                payer_funds = funds[payer] = exact or payer_funds
            if payer_funds.free_balance(taken[payer]) < amount:
                refusals[item.index] = errors.InsufficientFunds(
                    f"the buyer's free balance does not cover {format_coins(amount)} coins "
                    "(its balance minus what its matched trades reserve)"
                )
            elif needs_allowance and payer_funds.free_allowance(taken[payer]) < amount:
                refusals[item.index] = errors.InsufficientAllowance(
                    f"the buyer's allowance to the escrow does not cover {format_coins(amount)} coins"
                )
            else:
                taken[payer] += amount
        for index, error in refusals.items():
            results[index] = BatchItemResult.refused(index, error)
        chain_now_s = max(s.latest_timestamp for s in states.values()) if states else 0
        accepted = []
        for item in open_items:
            if item.index in refusals:
                continue
            try:
                self.intake.deadline_for(item.terms.request.deadline, chain_now_s)
            except errors.SettlementError as exc:
                results[item.index] = BatchItemResult.refused(item.index, exc)
                continue
            accepted.append(item)
        return accepted, chain_now_s

    def _insert(self, session: Session, actor: Actor, items: list[_Item], chain_now_s: int) -> list[dict[str, object]]:
        """Every accepted trade, its transitions and the running figures, in the caller's transaction."""
        if not items:
            return []
        now = utcnow()
        window_id = None
        confirmed_net = [i for i in items if i.mode == SettlementMode.NET and i.terms.request.delivery_confirmed]
        if confirmed_net:
            window_id = window_store.claim_open_window(session, len(confirmed_net))
        rows: list[dict[str, object]] = []
        transitions: list[dict[str, object]] = []
        reservations: dict[str, int] = defaultdict(int)
        exposure: dict[str, int] = defaultdict(int)
        for item in items:
            request = item.terms.request
            trade_id = new_trade_id()
            in_window = item.mode == SettlementMode.NET and request.delivery_confirmed
            status = TradeStatus.IN_WINDOW if in_window else TradeStatus.PENDING
            rows.append(
                {
                    "id": trade_id,
                    "chain_trade_id": "0x" + self.intake.chain_trade_keys.next_id().hex(),
                    "trade_ref": request.trade_ref,
                    "submitted_by": actor.id,
                    "buyer_id": item.terms.buyer.id,
                    "seller_id": item.terms.seller.id,
                    "instrument": request.instrument,
                    "quantity": canonical_decimal(Decimal(request.quantity)),
                    "price": canonical_decimal(Decimal(request.price)),
                    "currency": item.terms.currency,
                    "fx_rate": str(item.terms.quote.rate_to_usd),
                    "fx_source": item.terms.quote.source,
                    "fx_as_of": item.terms.quote.as_of,
                    "settlement_amount_base_units": item.terms.amount_base_units,
                    "deadline": self.intake.deadline_for(request.deadline, chain_now_s),
                    "status": status.value,
                    "buyer_ref": request.trade_ref,
                    "seller_ref": request.trade_ref,
                    "matched_by": MatchedBy.OPERATOR.value,
                    "matched_at": now,
                    "release_requested": request.delivery_confirmed,
                    "cancel_requested": False,
                    "buyer_cancel_requested": False,
                    "seller_cancel_requested": False,
                    "settlement_mode": item.mode.value,
                    "window_id": window_id if in_window else None,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            transitions.append({"trade_id": trade_id, "from_status": "", "to_status": TradeStatus.PENDING, "at": now})
            if in_window:
                transitions.append(
                    {"trade_id": trade_id, "from_status": TradeStatus.PENDING, "to_status": status, "at": now}
                )
            if item.mode == SettlementMode.NET:
                payer, payee = repo.net_exposure_share(status, item.terms.amount_base_units)
                exposure[item.terms.buyer.id] += payer
                exposure[item.terms.seller.id] += payee
            else:
                reservations[item.terms.buyer.id] += item.terms.amount_base_units
        # Core executemany: building a SQLModel object per trade costs more than the rest of the batch.
        connection = session.connection()
        connection.execute(insert(cast(Table, Trade.__table__)), rows)  # type: ignore[attr-defined]
        connection.execute(insert(cast(Table, TradeTransition.__table__)), transitions)  # type: ignore[attr-defined]
        for payer_id in sorted(reservations):
            repo.add_to_reservation(session, payer_id, PAYER_TOTAL, reservations[payer_id])
        repo.add_net_exposure(session, dict(exposure))
        return rows


def _duplicate(ref: str) -> errors.DuplicateTrade:
    return errors.DuplicateTrade(f"trade_ref {ref!r} is already used by this broker for another trade")


def _same_trade(trade: Trade, request: TradeRequest, default_mode: str) -> bool:
    """An identical resubmission (a retry): the same parties, terms and mode."""
    try:
        quantity, price = canonical_decimal(Decimal(request.quantity)), canonical_decimal(Decimal(request.price))
        currency = supported_currency(request.currency)
    except (errors.SettlementError, ArithmeticError, ValueError):
        return False
    return (trade.buyer_id, trade.seller_id, trade.instrument, trade.quantity, trade.price, trade.currency) == (
        request.buyer_id,
        request.seller_id,
        request.instrument,
        quantity,
        price,
        currency,
    ) and trade.settlement_mode == (request.settlement_mode or default_mode)
