"""The trade lifecycle: statuses, the transitions between them, and the parties' intents.

UNMATCHED (alleged by one party) -> PENDING (matched: both sides agreed) -> LOCKED -> RELEASED |
REFUNDED; UNMATCHED -> WITHDRAWN (by its submitter) | LAPSED (nobody affirmed it in the match
window); PENDING -> FAILED (with a stable error code). Nothing else: released, refunded,
withdrawn, lapsed and failed trades are final, and only a matched trade is ever locked.

Net mode (settlement_mode "net") never locks a trade in the escrow: PENDING (matched; it
reserves against the payer's net debit cap) -> IN_WINDOW (delivery confirmed; waiting in a
settlement window) -> SETTLED (its window's one net settlement transaction is mined), or
PENDING | IN_WINDOW -> FAILED (cancelled, expired, or refused for a participant that cannot
settle). The engine keeps the two paths apart: a gross trade never enters a window and a net
trade is never locked.

The chain is the source of truth, so it may impose a few more moves the service never makes
on its own (REALIGNMENTS): a lock recovered by the escrow's admin (LOCKED -> RECOVERED), a lock
or a payout undone by a reorg (LOCKED -> PENDING, RELEASED | REFUNDED -> LOCKED). They are
applied only after reading the escrow, and recorded as realigned from the chain.

Beside the status, a trade carries two intents the parties expressed and the settlement cycle
acts on: `release_requested` (delivery confirmed) and `cancel_requested`. The rules for setting
them and for when a trade is due for its next on-chain step live here, in one place, so the
intake, the cycle and the recovery cannot disagree about them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from settlement.errors import InvalidTransition


class TradeStatus(StrEnum):
    UNMATCHED = "UNMATCHED"
    PENDING = "PENDING"
    LOCKED = "LOCKED"
    RELEASED = "RELEASED"
    REFUNDED = "REFUNDED"
    FAILED = "FAILED"
    WITHDRAWN = "WITHDRAWN"
    LAPSED = "LAPSED"
    RECOVERED = "RECOVERED"  # the escrow's timelocked recovery paid the lock out (both parties blacklisted)
    IN_WINDOW = "IN_WINDOW"  # net: delivery confirmed, waiting for its window's settlement
    SETTLED = "SETTLED"  # net: settled by its window's one net settlement transaction


class SettlementMode(StrEnum):
    """How a trade's coins move: its own escrow lock (gross) or its window's net positions (net)."""

    GROSS = "gross"
    NET = "net"


class MatchedBy(StrEnum):
    """How both sides came to agree on a trade."""

    AFFIRM = "affirm"  # the counterparty affirmed the alleged trade
    INSTRUCTION = "instruction"  # the counterparty submitted the same terms
    OPERATOR = "operator"  # a matching utility (the operator) submitted it matched


class Side(StrEnum):
    """Who acts on a trade: one of its parties, or the operator."""

    BUYER = "buyer"
    SELLER = "seller"
    OPERATOR = "operator"


MATCHING_TERMS = ("buyer_id", "seller_id", "instrument", "quantity", "price", "currency")
NEAR_MATCH_TERMS = ("quantity", "price", "currency")  # same parties and instrument, these differ


class SettlementStep(StrEnum):
    """The on-chain step a transaction takes for its trades (what a batch call does)."""

    LOCK = "lock"
    RELEASE = "release"
    REFUND = "refund"

    @property
    def target(self) -> TradeStatus:
        """The status a trade reaches when this step is mined."""
        return _STEP_TARGETS[self]


_STEP_TARGETS = {
    SettlementStep.LOCK: TradeStatus.LOCKED,
    SettlementStep.RELEASE: TradeStatus.RELEASED,
    SettlementStep.REFUND: TradeStatus.REFUNDED,
}

ALLOWED_TRANSITIONS: dict[TradeStatus, frozenset[TradeStatus]] = {
    TradeStatus.UNMATCHED: frozenset({TradeStatus.PENDING, TradeStatus.WITHDRAWN, TradeStatus.LAPSED}),
    TradeStatus.PENDING: frozenset({TradeStatus.LOCKED, TradeStatus.IN_WINDOW, TradeStatus.FAILED}),
    TradeStatus.IN_WINDOW: frozenset({TradeStatus.SETTLED, TradeStatus.FAILED}),
    TradeStatus.LOCKED: frozenset({TradeStatus.RELEASED, TradeStatus.REFUNDED}),
    TradeStatus.RELEASED: frozenset(),
    TradeStatus.REFUNDED: frozenset(),
    TradeStatus.FAILED: frozenset(),
    TradeStatus.WITHDRAWN: frozenset(),
    TradeStatus.LAPSED: frozenset(),
    TradeStatus.RECOVERED: frozenset(),
    TradeStatus.SETTLED: frozenset(),
}
FINAL_STATUSES = frozenset(s for s, targets in ALLOWED_TRANSITIONS.items() if not targets)

# Moves only the chain imposes (never the service's own decision): see the module docstring.
REALIGNMENTS: dict[TradeStatus, frozenset[TradeStatus]] = {
    TradeStatus.LOCKED: frozenset({TradeStatus.PENDING, TradeStatus.RECOVERED}),
    TradeStatus.RELEASED: frozenset({TradeStatus.LOCKED}),
    TradeStatus.REFUNDED: frozenset({TradeStatus.LOCKED}),
    TradeStatus.RECOVERED: frozenset({TradeStatus.LOCKED}),
    # A reorg undid the window's settlement transaction: back in the window until the chain settles it.
    TradeStatus.SETTLED: frozenset({TradeStatus.IN_WINDOW}),
}
# Where the escrow's word can move a trade: matched trades that are (or were) on their way to a lock.
_REALIGNABLE = frozenset(
    {TradeStatus.PENDING, TradeStatus.LOCKED, TradeStatus.RELEASED, TradeStatus.REFUNDED, TradeStatus.RECOVERED}
)


class TradeIntents(Protocol):
    """What the intent rules read of a trade (the stored trade row satisfies it)."""

    status: str
    release_requested: bool
    cancel_requested: bool
    buyer_cancel_requested: bool
    seller_cancel_requested: bool
    deadline: datetime


def check_transition(current: TradeStatus, target: TradeStatus, *, realigned: bool = False) -> None:
    """Raise InvalidTransition unless current -> target is in the lifecycle (or, realigned from
    the chain, one of the moves only the chain imposes)."""
    allowed = ALLOWED_TRANSITIONS[current] | (REALIGNMENTS.get(current, frozenset()) if realigned else frozenset())
    if target not in allowed:
        raise InvalidTransition(f"trade cannot go from {current} to {target}", current=current, target=target)


def realignment_path(current: TradeStatus, chain_says: TradeStatus) -> list[TradeStatus]:
    """The steps that take a trade from `current` to the status its escrow lock implies.

    `chain_says` is PENDING for no lock, else LOCKED, RELEASED, REFUNDED or RECOVERED. Every
    path goes through LOCKED, as the coins did; a trade the service has closed without a lock
    (FAILED, WITHDRAWN, LAPSED, UNMATCHED) is not moved: a lock under its id is a break for
    reconcile to show, not something to adopt. A trade that was never locked (PENDING) while
    the chain has no lock needs nothing either."""
    if current == chain_says or current not in _REALIGNABLE or chain_says not in _REALIGNABLE:
        return []
    path = [] if current == TradeStatus.LOCKED else [TradeStatus.LOCKED]
    if chain_says != TradeStatus.LOCKED:
        path.append(chain_says)
    steps, at = [], current
    for step in path:
        check_transition(at, step, realigned=True)
        steps.append(step)
        at = step
    return steps


def can_cancel(status: TradeStatus) -> bool:
    """Cancel (refund) is possible for a matched trade before release: while pending or locked."""
    return status in (TradeStatus.PENDING, TradeStatus.LOCKED)


def is_matched(status: TradeStatus) -> bool:
    """Both sides agreed (and it has not been withdrawn or lapsed)."""
    return status not in (TradeStatus.UNMATCHED, TradeStatus.WITHDRAWN, TradeStatus.LAPSED)


def confirm_is_noop(trade: TradeIntents) -> bool:
    """Confirming again what is already released or confirmed changes nothing (a safe retry)."""
    if trade.status in (TradeStatus.RELEASED, TradeStatus.IN_WINDOW, TradeStatus.SETTLED):
        return True
    return trade.release_requested and not trade.cancel_requested


def check_can_confirm(trade: TradeIntents) -> None:
    """Delivery can be confirmed once matched, while the trade is open and nobody cancelled it."""
    if trade.status == TradeStatus.UNMATCHED:
        raise InvalidTransition("the trade is not matched yet: the counterparty has not agreed to it")
    if trade.status not in (TradeStatus.PENDING, TradeStatus.LOCKED) or trade.cancel_requested:
        raise InvalidTransition(f"trade is {trade.status}; delivery can no longer be confirmed")


def cancel_is_noop(trade: TradeIntents, side: Side) -> bool:
    """Cancelling again (a refunded trade, or one this side already asked to cancel) is a safe retry."""
    if trade.status == TradeStatus.REFUNDED or trade.cancel_requested:
        return True
    return (side == Side.BUYER and trade.buyer_cancel_requested) or (
        side == Side.SELLER and trade.seller_cancel_requested
    )


def check_can_cancel(trade: TradeIntents, side: Side) -> None:
    """A matched trade before release; once delivery is confirmed only the operator may still cancel."""
    if trade.status == TradeStatus.UNMATCHED:
        raise InvalidTransition("the trade is not matched: its submitter withdraws it, or it lapses")
    if not can_cancel(TradeStatus(trade.status)):
        raise InvalidTransition(f"trade is {trade.status}; it can no longer be cancelled")
    if trade.release_requested and side != Side.OPERATOR:
        raise InvalidTransition("delivery was confirmed; only the operator can cancel now")


def cancel_takes_effect(buyer_asked: bool, seller_asked: bool, side: Side) -> bool:
    """A matched trade is cancelled by both parties (the second one triggers it) or by the operator."""
    return side == Side.OPERATOR or (buyer_asked and seller_asked)


def check_can_withdraw(status: TradeStatus) -> None:
    """Only an alleged (unmatched) trade is withdrawn; a matched one needs both sides to cancel."""
    if status != TradeStatus.UNMATCHED:
        raise InvalidTransition(f"trade is {status}; only an unmatched trade can be withdrawn")


def differing_terms(a: dict[str, object], b: dict[str, object]) -> list[str]:
    """The matching terms on which two instructions disagree (empty: they match)."""
    return [name for name in MATCHING_TERMS if a[name] != b[name]]


def is_due_for_release(trade: TradeIntents) -> bool:
    return trade.status == TradeStatus.LOCKED and trade.release_requested and not trade.cancel_requested


def is_expired(deadline: datetime, chain_now_s: int) -> bool:
    """Past its deadline by the chain's clock (the escrow's clock is the one that counts).

    A naive datetime is UTC (SQLite returns them naive; everything stored is UTC)."""
    aware = deadline if deadline.tzinfo else deadline.replace(tzinfo=UTC)
    return int(aware.timestamp()) < chain_now_s


def is_due_for_refund(trade: TradeIntents, chain_now_s: int) -> bool:
    """Locked and either cancelled or expired: the agent refunds it (anyone could, once expired)."""
    return trade.status == TradeStatus.LOCKED and (trade.cancel_requested or is_expired(trade.deadline, chain_now_s))


def new_trade_id() -> str:
    return str(uuid.uuid4())
