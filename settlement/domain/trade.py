"""The trade lifecycle as a state machine.

PENDING -> LOCKED -> RELEASED | REFUNDED, and PENDING -> FAILED (with a stable error code).
Nothing else: a released or refunded trade is final, and a failed trade never touched the chain.
"""

from __future__ import annotations

import uuid
from enum import StrEnum

from eth_utils.crypto import keccak

from settlement.errors import InvalidTransition


class TradeStatus(StrEnum):
    PENDING = "PENDING"
    LOCKED = "LOCKED"
    RELEASED = "RELEASED"
    REFUNDED = "REFUNDED"
    FAILED = "FAILED"


ALLOWED_TRANSITIONS: dict[TradeStatus, frozenset[TradeStatus]] = {
    TradeStatus.PENDING: frozenset({TradeStatus.LOCKED, TradeStatus.FAILED}),
    TradeStatus.LOCKED: frozenset({TradeStatus.RELEASED, TradeStatus.REFUNDED}),
    TradeStatus.RELEASED: frozenset(),
    TradeStatus.REFUNDED: frozenset(),
    TradeStatus.FAILED: frozenset(),
}
FINAL_STATUSES = frozenset(s for s, targets in ALLOWED_TRANSITIONS.items() if not targets)


def check_transition(current: TradeStatus, target: TradeStatus) -> None:
    """Raise InvalidTransition unless current -> target is in the lifecycle."""
    if target not in ALLOWED_TRANSITIONS[current]:
        raise InvalidTransition(f"trade cannot go from {current} to {target}", current=current, target=target)


def can_cancel(status: TradeStatus) -> bool:
    """Cancel (refund) is possible before release: while pending or locked."""
    return status in (TradeStatus.PENDING, TradeStatus.LOCKED)


def new_trade_id() -> str:
    return str(uuid.uuid4())


def chain_trade_id(trade_id: str) -> bytes:
    """The escrow's bytes32 key for a trade: keccak of our id, so it never collides across trades."""
    return keccak(text=f"settlement-trade:{trade_id}")
