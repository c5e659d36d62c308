"""Trade intake: validate, deduplicate and record a trade as PENDING.

Every check that can fail (bad input, unknown party, balance, allowance, pause, blacklist) runs
*before* anything is written, so a rejected trade leaves no trace in ledger or chain. The
on-chain checks are one batched JSON-RPC round trip (ChainClient.preflight).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from settlement import errors
from settlement.chain.client import ChainClient, PreflightState
from settlement.chain.custody import Custody
from settlement.chain.permits import permit_signer
from settlement.chain.trade_ids import chain_trade_id
from settlement.config import Settings
from settlement.domain.journal import client_account
from settlement.domain.requests import PermitSignature, TradeRequest
from settlement.domain.trade import TradeStatus, new_trade_id
from settlement.ledger import repository as repo
from settlement.ledger.journal_store import JournalStore
from settlement.ledger.models import IdempotencyRecord, Trade
from settlement.money import settlement_base_units, supported_currency
from settlement.processing.publisher import TradePublisher


def request_fingerprint(request: TradeRequest) -> str:
    """Stable hash of a trade request, for Idempotency-Key comparison (Decimals normalised)."""
    fields = {
        k: (format(v.normalize(), "f") if hasattr(v, "normalize") else v)
        for k, v in request.__dict__.items()
        if k != "permit"
    }
    fields["permit"] = request.permit.__dict__ if request.permit else None
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


class TradeIntake:
    def __init__(
        self,
        db: Engine,
        chain: ChainClient,
        custody: Custody,
        journal: JournalStore,
        settings: Settings,
        publisher: TradePublisher,
    ) -> None:
        self.db = db
        self.chain = chain
        self.custody = custody
        self.journal = journal
        self.settings = settings
        self.publisher = publisher

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
            self.publisher.publish(trade)
            return trade, True

    def _replay(self, session: Session, caller: str, key: str, fingerprint: str) -> Trade | None:
        record = repo.idempotency_record(session, caller, key)
        if record is None:
            return None
        if record.request_hash != fingerprint:
            raise errors.IdempotencyConflict("this Idempotency-Key was used with a different request body")
        return repo.get_trade(session, record.trade_id)

    def _build_trade(self, session: Session, request: TradeRequest, submitted_by: str) -> Trade:
        currency = supported_currency(request.currency)
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
        deadline = self._deadline(request.deadline, state.latest_timestamp)
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

    def _deadline(self, requested: datetime | None, chain_now_s: int) -> datetime:
        """The requested deadline, or the default window from now; in the future by both clocks."""
        wall_now = datetime.now(UTC)
        deadline = requested or (
            max(wall_now, datetime.fromtimestamp(chain_now_s, UTC))
            + timedelta(seconds=self.settings.default_settlement_window_s)
        )
        deadline = repo.as_utc(deadline)
        if deadline <= wall_now or int(deadline.timestamp()) <= chain_now_s:
            raise errors.DeadlineInPast(f"deadline {deadline.isoformat()} is not in the future")
        return deadline

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
            return  # custodial: the cycle approves the escrow itself before locking
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
