"""Who may do what: the one authorization policy, shared by the API, the CLI and the dashboard.

Two kinds of caller exist: the operator (runs the service, acts for the depository and the
issuer) and a participant (a broker, identified by its id). A broker sees and acts on only what
it is party to; anything else is reported as *not found* rather than *forbidden*, so ids leak
nothing. The service enforces these rules; callers never re-decide them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from settlement import errors
from settlement.domain.trade import Side

OPERATOR_ID = "operator"
"""The `submitted_by` of trades the operator submits (participants are identified by id)."""


@dataclass(frozen=True)
class Actor:
    """The authenticated caller: the operator (participant_id None) or one participant."""

    participant_id: str | None = None

    @classmethod
    def operator(cls) -> Actor:
        return cls(None)

    @classmethod
    def participant(cls, participant_id: str) -> Actor:
        return cls(participant_id)

    @property
    def is_operator(self) -> bool:
        return self.participant_id is None

    @property
    def id(self) -> str:
        return OPERATOR_ID if self.participant_id is None else self.participant_id


class TradeParties(Protocol):
    """What the policy reads of a trade or a trade event."""

    @property
    def buyer_id(self) -> str: ...

    @property
    def seller_id(self) -> str: ...


class AllegedTrade(TradeParties, Protocol):
    @property
    def submitted_by(self) -> str: ...


def side_of(actor: Actor, trade: TradeParties) -> Side | None:
    """The actor's side of the trade: buyer, seller, operator, or None for a stranger."""
    if actor.is_operator:
        return Side.OPERATOR
    if actor.participant_id == trade.buyer_id:
        return Side.BUYER
    if actor.participant_id == trade.seller_id:
        return Side.SELLER
    return None


def may_see_trade(actor: Actor, trade: TradeParties) -> bool:
    return actor.is_operator or actor.participant_id in (trade.buyer_id, trade.seller_id)


def may_act_for(actor: Actor, participant_id: str) -> bool:
    """Participant-scoped resources (balances, clients, allocations): that participant or the operator."""
    return actor.is_operator or actor.participant_id == participant_id


def may_submit(actor: Actor, buyer_id: str, seller_id: str) -> bool:
    """A broker submits only trades it is a party to; the operator submits any."""
    return actor.is_operator or actor.participant_id in (buyer_id, seller_id)


def may_affirm(actor: Actor, trade: AllegedTrade) -> bool:
    """Only the counterparty (the party that did not submit it) affirms an alleged trade."""
    return side_of(actor, trade) in (Side.BUYER, Side.SELLER) and actor.id != trade.submitted_by


def may_withdraw(actor: Actor, trade: AllegedTrade) -> bool:
    """An alleged trade is withdrawn by its submitter (or the operator)."""
    return actor.is_operator or actor.id == trade.submitted_by


def may_confirm(actor: Actor, trade: TradeParties) -> bool:
    """Release needs the buyer (it received the securities) or the operator (for the depository).
    The seller never releases the buyer's coins to itself."""
    return side_of(actor, trade) in (Side.BUYER, Side.OPERATOR)


def may_report_delivery(actor: Actor, trade: TradeParties) -> bool:
    """The seller tells the buyer delivery was made; it cannot release."""
    return side_of(actor, trade) == Side.SELLER


def may_cancel(actor: Actor, trade: TradeParties) -> bool:
    """Either party may ask (a matched trade needs both) or the operator may cancel before release."""
    return side_of(actor, trade) is not None


def may_authorize_lock(actor: Actor, trade: TradeParties) -> bool:
    """Only the buyer signs the lock of its own coins."""
    return side_of(actor, trade) == Side.BUYER


def may_read_account(actor: Actor, account: str, own_accounts: set[str]) -> bool:
    """The operator reads any ledger account; a broker only its wallet and its clients'."""
    return actor.is_operator or account.lower() in {a.lower() for a in own_accounts}


def require_visible(actor: Actor, trade: TradeParties, trade_id: str) -> None:
    """A trade the actor may not see is 404, exactly as if it did not exist."""
    if not may_see_trade(actor, trade):
        raise errors.NotFound(f"no trade {trade_id}")


def require_operator(actor: Actor) -> None:
    if not actor.is_operator:
        raise errors.Forbidden("only the operator may do this")


def require_acts_for(actor: Actor, participant_id: str) -> None:
    if not may_act_for(actor, participant_id):
        raise errors.Forbidden("a participant may only see and act on its own account")
