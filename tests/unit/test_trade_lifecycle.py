"""The trade state machine: every allowed transition passes, every other one is refused."""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from settlement.chain.trade_ids import ChainTradeKeys, chain_trade_id
from settlement.domain.trade import (
    ALLOWED_TRANSITIONS,
    FINAL_STATUSES,
    Side,
    TradeStatus,
    can_cancel,
    cancel_takes_effect,
    check_can_cancel,
    check_can_confirm,
    check_can_withdraw,
    check_transition,
    differing_terms,
    is_due_for_refund,
    is_expired,
    new_trade_id,
    realignment_path,
)
from settlement.errors import InvalidTransition

S = TradeStatus

ALLOWED = [
    (S.UNMATCHED, S.PENDING),
    (S.UNMATCHED, S.WITHDRAWN),
    (S.UNMATCHED, S.LAPSED),
    (S.PENDING, S.LOCKED),
    (S.PENDING, S.FAILED),
    (S.LOCKED, S.RELEASED),
    (S.LOCKED, S.REFUNDED),
    (S.PENDING, S.IN_WINDOW),  # net: delivery confirmed, joins the open window
    (S.IN_WINDOW, S.SETTLED),  # net: its window's one transaction mined
    (S.IN_WINDOW, S.FAILED),  # net: refused (a party blocked, or expired waiting for cover)
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
    assert len(FORBIDDEN) == len(S) ** 2 - len(ALLOWED)


def test_final_statuses_have_no_way_out() -> None:
    assert {S.RELEASED, S.REFUNDED, S.FAILED, S.WITHDRAWN, S.LAPSED, S.RECOVERED, S.SETTLED} == FINAL_STATUSES


REALIGNED_ONLY = [
    (S.LOCKED, S.PENDING),
    (S.LOCKED, S.RECOVERED),
    (S.RELEASED, S.LOCKED),
    (S.REFUNDED, S.LOCKED),
    (S.RECOVERED, S.LOCKED),
]


@pytest.mark.parametrize(("current", "target"), REALIGNED_ONLY)
def test_moves_only_the_chain_imposes_need_a_realignment(current: TradeStatus, target: TradeStatus) -> None:
    with pytest.raises(InvalidTransition):
        check_transition(current, target)
    check_transition(current, target, realigned=True)


@pytest.mark.parametrize(
    ("current", "chain_says", "path"),
    [
        (S.LOCKED, S.RELEASED, [S.RELEASED]),  # a release whose receipt was lost
        (S.LOCKED, S.REFUNDED, [S.REFUNDED]),
        (S.LOCKED, S.RECOVERED, [S.RECOVERED]),  # the escrow's admin recovered a stranded lock
        (S.LOCKED, S.PENDING, [S.PENDING]),  # a reorg dropped the lock: locked again
        (S.PENDING, S.LOCKED, [S.LOCKED]),  # a lock whose receipt was lost
        (S.PENDING, S.RELEASED, [S.LOCKED, S.RELEASED]),  # every path goes through LOCKED
        (S.RELEASED, S.LOCKED, [S.LOCKED]),  # a reorg undid the payout: released again
        (S.RELEASED, S.PENDING, [S.LOCKED, S.PENDING]),
        (S.PENDING, S.PENDING, []),
        (S.LOCKED, S.LOCKED, []),
        (S.FAILED, S.LOCKED, []),  # a lock under a closed trade's id is a break, never adopted
        (S.WITHDRAWN, S.LOCKED, []),
        (S.UNMATCHED, S.LOCKED, []),
    ],
)
def test_realignment_path_follows_the_coins(current: TradeStatus, chain_says: TradeStatus, path: list[S]) -> None:
    assert realignment_path(current, chain_says) == path


@pytest.mark.parametrize(
    ("status", "cancellable"),
    [
        (S.UNMATCHED, False),
        (S.PENDING, True),
        (S.LOCKED, True),
        (S.RELEASED, False),
        (S.REFUNDED, False),
        (S.FAILED, False),
    ],
)
def test_cancel_only_before_release(status: TradeStatus, cancellable: bool) -> None:
    assert can_cancel(status) is cancellable


def test_chain_trade_ids_are_32_bytes_and_distinct() -> None:
    ids = [new_trade_id() for _ in range(200)]
    keys = {chain_trade_id(i) for i in ids}
    assert len(keys) == 200
    assert all(len(k) == 32 for k in keys)
    assert chain_trade_id(ids[0]) == chain_trade_id(ids[0])


def test_chain_trade_keys_count_up_under_one_prefix_per_allocator() -> None:
    """Consecutive ids from one allocator share the escrow's outcome words (128 ids a word);
    two allocators (two API processes) never hand out the same id."""
    first, second = ChainTradeKeys(), ChainTradeKeys()
    ids = [first.next_id() for _ in range(300)]
    assert all(len(i) == 32 for i in ids)
    assert len({i[:16] for i in ids}) == 1
    assert [int.from_bytes(i[16:], "big") for i in ids] == list(range(300))
    assert len({int.from_bytes(i, "big") >> 7 for i in ids}) == 3  # 300 trades, three words
    assert not set(ids) & {second.next_id() for _ in range(300)}


def test_chain_trade_keys_are_unique_across_threads() -> None:
    keys = ChainTradeKeys()
    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(lambda _: keys.next_id(), range(2_000)))
    assert len(set(ids)) == 2_000


@dataclass
class _Intents:
    status: str
    release_requested: bool = False
    cancel_requested: bool = False
    buyer_cancel_requested: bool = False
    seller_cancel_requested: bool = False
    deadline: datetime = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("buyer_asked", "seller_asked", "side", "takes_effect"),
    [
        (True, False, Side.BUYER, False),
        (False, True, Side.SELLER, False),
        (True, True, Side.SELLER, True),
        (True, True, Side.BUYER, True),
        (False, False, Side.OPERATOR, True),
    ],
)
def test_a_matched_trade_is_cancelled_by_both_parties_or_the_operator(
    buyer_asked: bool, seller_asked: bool, side: Side, takes_effect: bool
) -> None:
    assert cancel_takes_effect(buyer_asked, seller_asked, side) is takes_effect


def test_an_alleged_trade_is_neither_confirmed_nor_cancelled_but_withdrawn() -> None:
    alleged = _Intents(S.UNMATCHED)
    with pytest.raises(InvalidTransition):
        check_can_confirm(alleged)
    with pytest.raises(InvalidTransition):
        check_can_cancel(alleged, Side.BUYER)
    check_can_withdraw(S.UNMATCHED)
    with pytest.raises(InvalidTransition):
        check_can_withdraw(S.PENDING)


def test_after_confirmation_only_the_operator_cancels() -> None:
    confirmed = _Intents(S.LOCKED, release_requested=True)
    with pytest.raises(InvalidTransition):
        check_can_cancel(confirmed, Side.SELLER)
    check_can_cancel(confirmed, Side.OPERATOR)


def test_differing_terms_names_each_field() -> None:
    a: dict[str, object] = {
        "buyer_id": "b",
        "seller_id": "s",
        "instrument": "X",
        "quantity": 1,
        "price": 2,
        "currency": "USD",
    }
    assert differing_terms(a, dict(a)) == []
    assert differing_terms(a, {**a, "price": 3, "currency": "HKD"}) == ["price", "currency"]


def test_expiry_reads_naive_datetimes_as_utc() -> None:
    deadline = datetime(2030, 1, 1, 0, 0, 10)
    at = int(datetime(2030, 1, 1, 0, 0, 10, tzinfo=UTC).timestamp())
    assert not is_expired(deadline, at) and is_expired(deadline, at + 1)
    assert is_due_for_refund(_Intents(S.LOCKED, cancel_requested=True), 0)
    assert not is_due_for_refund(_Intents(S.PENDING, cancel_requested=True), 0)
