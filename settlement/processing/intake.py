"""Trade intake: validate, deduplicate and record an instruction, then match it if it can be.

Every check that can fail (bad input, unknown party, duplicate reference, balance, allowance,
pause, blacklist) runs *before* anything is written, so a rejected instruction leaves no trace
in ledger or chain. A party's instruction is *alleged* (UNMATCHED) until the counterparty agrees
(see matching.py); the operator's is matched at once. The buyer's funds are checked when the
trade becomes matched, since that is when its coins are reserved.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from settlement import errors
from settlement.chain.client import ChainClient, LockStatus, PreflightState
from settlement.chain.custody import Custody
from settlement.chain.net_settlement import NetSettlementContract
from settlement.chain.permits import permit_signer
from settlement.chain.trade_ids import ChainTradeKeys, chain_trade_key
from settlement.config import Settings
from settlement.domain.access import Actor
from settlement.domain.fx import FxQuote, check_fresh
from settlement.domain.journal import client_account
from settlement.domain.requests import PermitSignature, TradeRequest
from settlement.domain.trade import MatchedBy, SettlementMode, Side, TradeStatus, new_trade_id
from settlement.domain.window import LiquidityCover
from settlement.ledger import repository as repo
from settlement.ledger import window_store
from settlement.ledger.journal_store import JournalStore
from settlement.ledger.models import IdempotencyRecord, NetDebitCap, Participant, Trade, utcnow
from settlement.ledger.reference_data import ReferenceData
from settlement.money import canonical_decimal, format_coins, settlement_base_units, supported_currency
from settlement.processing.matching import TradeMatching
from settlement.processing.publisher import TradePublisher


def request_fingerprint(request: TradeRequest) -> str:
    """Stable hash of a trade request, for Idempotency-Key comparison (Decimals normalised)."""
    fields = {
        k: (canonical_decimal(v) if isinstance(v, Decimal) else v) for k, v in request.__dict__.items() if k != "permit"
    }
    fields["permit"] = request.permit.__dict__ if request.permit else None
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class TradeTerms:
    """A validated instruction: what both sides must agree on, priced at the current FX rate."""

    request: TradeRequest
    buyer: Participant
    seller: Participant
    currency: str
    quote: FxQuote
    amount_base_units: int


# A payer with more open gross trades than this keeps the quick, conservative figure.
PENDING_CHECKED_MAX = 5_000


@dataclass(frozen=True)
class PayerFunds:
    """A gross payer's figures on chain and what its matched trades still have to lock."""

    balance_base_units: int
    allowance_base_units: int
    reserved_base_units: int

    def free_balance(self, taken_base_units: int = 0) -> int:
        return self.balance_base_units - self.reserved_base_units - taken_base_units

    def free_allowance(self, taken_base_units: int = 0) -> int:
        return self.allowance_base_units - self.reserved_base_units - taken_base_units

    def covers(self, amount_base_units: int, needs_allowance: bool, taken_base_units: int = 0) -> bool:
        return self.free_balance(taken_base_units) >= amount_base_units and (
            not needs_allowance or self.free_allowance(taken_base_units) >= amount_base_units
        )


class TradeIntake:
    def __init__(
        self,
        db: Engine,
        chain: ChainClient,
        custody: Custody,
        journal: JournalStore,
        settings: Settings,
        publisher: TradePublisher,
        reference: ReferenceData,
    ) -> None:
        self.db = db
        self.reference = reference
        self.chain = chain
        self.custody = custody
        self.journal = journal
        self.settings = settings
        self.publisher = publisher
        self.fx_limits = settings.fx_limits()
        self.matching = TradeMatching(self.check_payer, publisher)
        self.chain_trade_keys = ChainTradeKeys()  # shared by single and batch intake
        self._net: NetSettlementContract | None = None

    @property
    def net(self) -> NetSettlementContract:
        """The deployment's SettlementNet, built once (its ABI encoder is not free)."""
        if self._net is None:
            self._net = NetSettlementContract(self.chain)
        return self._net

    def submit(self, request: TradeRequest, actor: Actor, idempotency_key: str | None = None) -> tuple[Trade, bool]:
        """Record an instruction. Returns (trade, changed): the new alleged trade, the trade it
        matched (both sides now agree), or, for a replayed Idempotency-Key, the original trade
        with changed=False. The same key with another body raises IdempotencyConflict."""
        fingerprint = request_fingerprint(request)
        with Session(self.db, expire_on_commit=False) as session:
            if idempotency_key:
                existing = self._replay(session, actor.id, idempotency_key, fingerprint)
                if existing is not None:
                    return existing, False
            try:
                trade, related = self._record(session, request, actor)
                if idempotency_key:
                    session.add(
                        IdempotencyRecord(
                            caller=actor.id, key=idempotency_key, request_hash=fingerprint, trade_id=trade.id
                        )
                    )
                session.commit()
            except (IntegrityError, errors.DuplicateTrade):
                # A concurrent retry with the same key may have committed since the replay check.
                session.rollback()
                if idempotency_key:
                    existing = self._replay(session, actor.id, idempotency_key, fingerprint)
                    if existing is not None:
                        return existing, False
                raise errors.DuplicateTrade(
                    f"trade_ref {request.trade_ref!r} is already used by this broker for another trade"
                ) from None
        self.publisher.publish(trade)
        for other in related if trade.mismatch_json else []:
            self.publisher.publish(other, kind="trade.mismatch")
        if trade.mismatch_json:
            self.publisher.publish(trade, kind="trade.mismatch")
        return trade, True

    def _record(self, session: Session, request: TradeRequest, actor: Actor) -> tuple[Trade, list[Trade]]:
        """Validate, then create the trade or match the counterparty's; (trade, other trades touched)."""
        if request.delivery_confirmed and not actor.is_operator:
            raise errors.Forbidden("only the operator submits a trade with its delivery already confirmed")
        terms = self._terms(session, request)
        if actor.is_operator:
            for party in (terms.buyer, terms.seller):
                self._check_ref_free(session, party.id, request.trade_ref)
            reserved, state = self._read_payer(session, terms.buyer, terms.seller)
            trade = self._new_trade(session, terms, actor, TradeStatus.PENDING, state.latest_timestamp)
            trade.buyer_ref = trade.seller_ref = request.trade_ref
            trade.matched_by, trade.matched_at = MatchedBy.OPERATOR, utcnow()
            self._preflight(session, state, trade, terms.buyer.address, reserved)
            self._insert(session, trade)
            if request.delivery_confirmed:
                self.confirm_at_once(session, [trade])
            return trade, []
        side = Side.BUYER if actor.participant_id == terms.buyer.id else Side.SELLER
        self._check_ref_free(session, actor.id, request.trade_ref)
        counterparty = terms.seller.id if side == Side.BUYER else terms.buyer.id
        alleged, near = self.matching.counterpart(session, self._matching_terms(terms), counterparty)
        if alleged is not None:
            if side == Side.BUYER and request.permit is not None and alleged.permit_json is None:
                alleged.permit_json = json.dumps(request.permit.__dict__)
            self.matching.match(session, alleged, side, request.trade_ref, MatchedBy.INSTRUCTION, actor)
            return alleged, []
        if side == Side.BUYER:  # the buyer hears at once what it cannot fund
            reserved, state = self._read_payer(session, terms.buyer, terms.seller)
            trade = self._new_trade(session, terms, actor, TradeStatus.UNMATCHED, state.latest_timestamp)
            trade.buyer_ref = request.trade_ref
            self._preflight(session, state, trade, terms.buyer.address, reserved)
        else:  # the buyer's funds are checked when it agrees
            trade = self._new_trade(session, terms, actor, TradeStatus.UNMATCHED, self.chain.latest_timestamp())
            trade.seller_ref = request.trade_ref
        self._insert(session, trade)
        return trade, self.matching.mark_near_matches(session, trade, near)

    def _replay(self, session: Session, caller: str, key: str, fingerprint: str) -> Trade | None:
        record = repo.idempotency_record(session, caller, key)
        if record is None:
            return None
        if record.request_hash != fingerprint:
            raise errors.IdempotencyConflict("this Idempotency-Key was used with a different request body")
        return repo.get_trade(session, record.trade_id)

    def confirm_at_once(self, session: Session, trades: list[Trade]) -> None:
        """The operator's matched-and-delivered submission: a net trade joins the open window, a
        gross one is released as soon as its lock lands."""
        net = [t for t in trades if t.settlement_mode == SettlementMode.NET]
        for trade in trades:
            trade.release_requested = True
            session.add(trade)
        if net:
            window_store.join(session, net)

    def settlement_mode(self, request: TradeRequest) -> SettlementMode:
        """The trade's mode (the default setting when the submitter names none), if it can settle so."""
        try:
            mode = SettlementMode(request.settlement_mode or self.settings.default_settlement_mode)
        except ValueError:
            raise errors.ValidationFailed("settlement_mode is gross or net") from None
        if mode == SettlementMode.NET:
            if self.chain.manifest.net is None:
                raise errors.NetModeUnavailable("this deployment has no net settlement contract: settle gross")
            if request.buyer_client_id is not None or request.seller_client_id is not None:
                raise errors.NetModeUnavailable(
                    "net mode settles brokers' positions; a trade for a client sub-account settles gross"
                )
            if request.permit is not None:
                raise errors.NetModeUnavailable(
                    "a permit authorises an escrow lock; a net trade draws on the settlement balance"
                )
        return mode

    def _terms(self, session: Session, request: TradeRequest) -> TradeTerms:
        reference = self.reference.snapshot(session)  # one version check for both parties and the rate
        terms = self.terms(request, reference.participant, reference.latest_fx_rate)
        for client_id, owner in ((request.buyer_client_id, terms.buyer), (request.seller_client_id, terms.seller)):
            if client_id is not None and repo.get_client(session, client_id).participant_id != owner.id:
                raise errors.UnknownClientAccount(f"client {client_id} does not belong to {owner.name}")
        return terms

    def terms(
        self,
        request: TradeRequest,
        participant: Callable[[str], Participant],
        latest_quote: Callable[[str], FxQuote | None],
    ) -> TradeTerms:
        """The pricing and party rules of one instruction, for a single submission and for a batch
        alike (a batch passes lookups it read once for all its trades)."""
        currency = supported_currency(request.currency)
        quote = latest_quote(currency)
        if quote is None:
            raise errors.MissingFxRate(f"no FX rate recorded for {currency}")
        check_fresh(quote, datetime.now(UTC), self.fx_limits)
        amount = settlement_base_units(request.quantity, request.price, quote.rate_to_usd)
        if request.buyer_id == request.seller_id:
            raise errors.SameParty("buyer and seller are the same broker")
        buyer = participant(request.buyer_id)
        seller = participant(request.seller_id)
        return TradeTerms(request, buyer, seller, currency, quote, amount)

    @staticmethod
    def _matching_terms(terms: TradeTerms) -> dict[str, object]:
        return {
            "buyer_id": terms.buyer.id,
            "seller_id": terms.seller.id,
            "instrument": terms.request.instrument,
            "quantity": terms.request.quantity,
            "price": terms.request.price,
            "currency": terms.currency,
        }

    @staticmethod
    def _check_ref_free(session: Session, participant_id: str, ref: str) -> None:
        if repo.trade_by_party_ref(session, participant_id, ref) is not None:
            raise errors.DuplicateTrade(f"trade_ref {ref!r} is already used by this broker for another trade")

    def _new_trade(
        self, session: Session, terms: TradeTerms, actor: Actor, status: TradeStatus, chain_now_s: int
    ) -> Trade:
        request = terms.request
        trade_id = new_trade_id()
        return Trade(
            id=trade_id,
            chain_trade_id="0x" + self.chain_trade_keys.next_id().hex(),
            trade_ref=request.trade_ref,
            submitted_by=actor.id,
            buyer_id=terms.buyer.id,
            seller_id=terms.seller.id,
            buyer_client_id=request.buyer_client_id,
            seller_client_id=request.seller_client_id,
            instrument=request.instrument,
            quantity=canonical_decimal(Decimal(request.quantity)),
            price=canonical_decimal(Decimal(request.price)),
            currency=terms.currency,
            fx_rate=str(terms.quote.rate_to_usd),
            fx_source=terms.quote.source,
            fx_as_of=terms.quote.as_of,
            settlement_amount_base_units=terms.amount_base_units,
            deadline=self.deadline_for(request.deadline, chain_now_s),
            status=status,
            permit_json=json.dumps(request.permit.__dict__) if request.permit else None,
            settlement_mode=self.settlement_mode(request),
        )

    @staticmethod
    def _insert(session: Session, trade: Trade) -> None:
        session.add(trade)
        session.flush()
        repo.transition_created(session, trade)

    def deadline_for(self, requested: datetime | None, chain_now_s: int) -> datetime:
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

    # ------------------------------------------------------------------ the payer's side, at match time

    def check_payer(self, session: Session, trade: Trade) -> None:
        """Chain-side checks when a trade becomes matched: what would make its lock revert later."""
        buyer = repo.get_participant(session, trade.buyer_id)
        seller = repo.get_participant(session, trade.seller_id)
        reserved, state = self._read_payer(session, buyer, seller)
        if int(repo.as_utc(trade.deadline).timestamp()) <= state.latest_timestamp:
            raise errors.DeadlineInPast("the trade's deadline has passed: submit it again")
        self._preflight(session, state, trade, buyer.address, reserved)

    def _read_payer(self, session: Session, buyer: Participant, seller: Participant) -> tuple[int, PreflightState]:
        """The buyer's reservation, then the chain's pre-flight (one round trip), in that order:
        see exact_funds for why the reservation comes first."""
        reserved = repo.reserved_base_units(session, buyer.id)
        return reserved, self.chain.preflight(buyer.address, seller.address)

    def exact_funds(self, session: Session, payer_id: str, payer: str, exclude_trade_id: str = "") -> PayerFunds | None:
        """The payer's figures with only the matched trades the escrow has not locked yet reserved.

        Why: the quick check reads the reservation before the chain (so a lock mined in between
        is counted twice, never missed), and the reservation keeps a trade whose lock is mined
        until the worker records it LOCKED. Either way the chain balance has already paid for
        that trade, and the quick check would refuse a payer that can pay. So a refusal is
        checked again: the payer's open trades (read before the chain), then its balance,
        allowance and those trades' locks, all at one block. None, keeping the quick figure,
        for a payer with more open trades than one check reads."""
        pending = [
            row
            for row in repo.pending_gross_of(session, payer_id, PENDING_CHECKED_MAX + 1)
            if row[0] != exclude_trade_id
        ]
        if len(pending) > PENDING_CHECKED_MAX:
            return None
        balance, allowance, locks = self.chain.payer_funds_at_one_block(
            payer, [chain_trade_key(chain_id) for _, chain_id, _ in pending]
        )
        still_to_lock = sum(
            amount for (_, _, amount), lock in zip(pending, locks, strict=True) if lock.status == LockStatus.NONE
        )
        return PayerFunds(balance, allowance, still_to_lock)

    def _preflight(self, session: Session, state: PreflightState, trade: Trade, payer: str, reserved: int) -> None:
        net = trade.settlement_mode == SettlementMode.NET
        if state.token_paused or (state.escrow_paused and not net):
            raise errors.Paused("the token or the escrow is paused")
        if state.payer_blacklisted or state.payee_blacklisted:
            raise errors.Blacklisted("a party to this trade is blacklisted by the token issuer")
        amount = trade.settlement_amount_base_units
        if net:
            debits, payees = {trade.buyer_id: [amount]}, [trade.seller_id]
            if not self.cover_fits(session, debits, {trade.buyer_id: payer}, payees)[trade.buyer_id][0]:
                raise errors.NetDebitCapExceeded(
                    f"the buyer's net debit cap does not cover {format_coins(amount)} coins on top of its open net "
                    "trades: it deposits more into its settlement balance, or the trade settles gross"
                )
            return
        needs_allowance = not self.custody.holds_key(payer) and trade.permit_json is None
        funds = PayerFunds(state.payer_balance_base_units, state.payer_allowance_base_units, reserved)
        if not funds.covers(amount, needs_allowance):
            funds = self.exact_funds(session, trade.buyer_id, payer, exclude_trade_id=trade.id) or funds
        if funds.free_balance() < amount:
            raise errors.InsufficientFunds(
                f"the buyer's free balance does not cover {format_coins(amount)} coins "
                "(its balance minus what its matched trades reserve)"
            )
        if trade.buyer_client_id is not None:
            client_balance = self.journal.balance(client_account(trade.buyer_client_id))
            client_reserved = repo.reserved_base_units(session, trade.buyer_id, trade.buyer_client_id)
            if client_balance - client_reserved < amount:
                raise errors.InsufficientFunds(
                    f"the buyer's client sub-ledger balance does not cover {format_coins(amount)} coins"
                )
        if self.custody.holds_key(payer):
            return  # custodial: the cycle approves the escrow itself before locking
        if trade.permit_json is not None:
            self._check_permit(payer, amount, PermitSignature(**json.loads(trade.permit_json)))
            return
        if funds.free_allowance() < amount:
            raise errors.InsufficientAllowance(
                f"the buyer's allowance to the escrow does not cover {format_coins(amount)} coins; "
                "the buyer approves the escrow or sends a permit"
            )

    def cover_fits(
        self, session: Session, debits: dict[str, list[int]], addresses: dict[str, str], payees: Sequence[str]
    ) -> dict[str, list[bool]]:
        """Mojaloop's liquidity-cover check for net trades, once per payer: each payer's new debits,
        in order, on top of its running exposure, within its net debit cap (each debit that fits
        counts toward the next). The caller refuses the debits that do not fit.

        The payees' exposure rows are locked with the payers', in one participant order, because
        the trades written next change theirs too: taken later, in another order, two writers
        each held a row the other wanted (PostgreSQL's 'deadlock detected')."""
        exposure = repo.net_exposure(session, sorted({*debits, *payees}))
        balances = self.net.balances_of([addresses[p] for p in debits])  # one round trip
        fits: dict[str, list[bool]] = {}
        for payer_id, amounts in debits.items():
            operator_cap = session.get(NetDebitCap, payer_id)
            cover = LiquidityCover(
                balances[addresses[payer_id]], None if operator_cap is None else int(operator_cap.cap_base_units)
            )
            owed, answers = exposure[payer_id], []
            for amount in amounts:
                ok = cover.covers(owed, amount)
                owed += amount if ok else 0
                answers.append(ok)
            fits[payer_id] = answers
        return fits

    def _check_permit(self, payer: str, amount: int, permit: PermitSignature) -> None:
        if permit.value_base_units < amount:
            raise errors.InvalidPermit(
                f"the permit's value {format_coins(permit.value_base_units)} coins is below the trade's "
                f"{format_coins(amount)} coins"
            )
        if permit.deadline <= self.chain.latest_timestamp():
            raise errors.InvalidPermit("permit deadline has passed")
        signer = permit_signer(self.chain, payer, permit)
        if signer is None or signer.lower() != payer.lower():
            raise errors.InvalidPermit("permit is not signed by the payer for its current nonce")
