"""The trade state machine: every allowed transition passes, every other one is refused."""

from __future__ import annotations

import itertools

import pytest

from settlement.chain.trade_ids import chain_trade_id
from settlement.domain.trade import (
    ALLOWED_TRANSITIONS,
    FINAL_STATUSES,
    TradeStatus,
    can_cancel,
    check_transition,
    new_trade_id,
)
from settlement.errors import InvalidTransition

S = TradeStatus

ALLOWED = [
    (S.PENDING, S.LOCKED),
    (S.PENDING, S.FAILED),
    (S.LOCKED, S.RELEASED),
    (S.LOCKED, S.REFUNDED),
]
FORBIDDEN = [pair for pair in itertools.product(S, S) if pair not in ALLOWED]


@pytest.mark.parametrize(("current", "target"), ALLOWED)
def test_allowed_transition_passes(current: TradeStatus, target: TradeStatus) -> None:
    check_transition(current, target)


@pytest.mark.parametrize(("current", "target"), FORBIDDEN)
def test_forbidden_transition_raises(current: TradeStatus, target: TradeStatus) -> None:
    with pytest.raises(InvalidTransition) as info:
        check_transition(current, target)
    assert info.value.code == "invalid_transition"


def test_exactly_the_lifecycle_is_allowed() -> None:
    allowed = {(a, b) for a, targets in ALLOWED_TRANSITIONS.items() for b in targets}
    assert allowed == set(ALLOWED)
    assert len(FORBIDDEN) == len(S) ** 2 - 4


def test_final_statuses_have_no_way_out() -> None:
    assert {S.RELEASED, S.REFUNDED, S.FAILED} == FINAL_STATUSES


@pytest.mark.parametrize(
    ("status", "cancellable"),
    [(S.PENDING, True), (S.LOCKED, True), (S.RELEASED, False), (S.REFUNDED, False), (S.FAILED, False)],
)
def test_cancel_only_before_release(status: TradeStatus, cancellable: bool) -> None:
    assert can_cancel(status) is cancellable


def test_chain_trade_ids_are_32_bytes_and_distinct() -> None:
    ids = [new_trade_id() for _ in range(200)]
    keys = {chain_trade_id(i) for i in ids}
    assert len(keys) == 200
    assert all(len(k) == 32 for k in keys)
    assert chain_trade_id(ids[0]) == chain_trade_id(ids[0])
