"""Net-mode rules: positions sum to zero, net equals gross, caps hold, a defaulter leaves cleanly."""

from __future__ import annotations

import itertools
import random
from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from settlement.domain.netting import Obligation
from settlement.domain.window import (
    LiquidityCover,
    WindowStatus,
    can_move,
    net_positions,
    split_settleable,
)

# Up to a dozen participants and amounts up to 2**96 base units (far beyond any real supply), so
# the rules are exercised on exact big integers, not just on amounts a float would still get right.
BROKERS = ["HK", "CN-HK", "SG", "US", "JP", "UK", "DE", "FR", "CH", "AU", "CA", "IN"]
AMOUNT_MAX = 2**96

obligations = st.lists(
    st.tuples(st.sampled_from(BROKERS), st.sampled_from(BROKERS), st.integers(1, AMOUNT_MAX))
    .filter(lambda t: t[0] != t[1])
    .map(lambda t: Obligation(*t)),
    max_size=80,
)
# Balances on the same scale as the trades, so some windows cover everyone and others do not.
balances = st.dictionaries(
    st.sampled_from(BROKERS), st.one_of(st.integers(0, 4 * AMOUNT_MAX), st.integers(AMOUNT_MAX, 40 * AMOUNT_MAX))
)


def apply_gross(start: dict[str, int], trades: list[Obligation]) -> dict[str, int]:
    after: dict[str, int] = defaultdict(int, start)
    for o in trades:
        after[o.payer_id] -= o.amount_base_units
        after[o.payee_id] += o.amount_base_units
    return {k: v for k, v in after.items() if v}


@given(obligations)
def test_positions_sum_to_zero(trades: list[Obligation]) -> None:
    assert sum(net_positions(trades).values()) == 0


@given(obligations, balances)
def test_applying_net_positions_equals_applying_every_trade(trades: list[Obligation], start: dict[str, int]) -> None:
    net = {k: v for k, v in net_positions(trades).items()}
    after_net: dict[str, int] = defaultdict(int, start)
    for participant, position in net.items():
        after_net[participant] += position
    assert {k: v for k, v in after_net.items() if v} == apply_gross(start, trades)


@given(obligations, balances, st.sets(st.sampled_from(BROKERS), max_size=2))
def test_what_settles_leaves_no_balance_negative(
    trades: list[Obligation], start: dict[str, int], blocked: set[str]
) -> None:
    split = split_settleable(trades, start, blocked)
    assert sum(split.positions.values()) == 0
    for participant, position in split.positions.items():
        assert start.get(participant, 0) + position >= 0
        assert participant not in split.excluded_participants
    assert len(split.settling) + len(split.leaving) == len(trades)
    assert blocked <= split.excluded_participants
    for o in split.leaving:  # a trade leaves only with a participant that cannot settle
        assert o.payer_id in split.excluded_participants or o.payee_id in split.excluded_participants


@given(obligations)
def test_positions_name_exactly_the_window_participants(trades: list[Obligation]) -> None:
    assert set(net_positions(trades)) == {o.payer_id for o in trades} | {o.payee_id for o in trades}


@given(obligations, balances, st.sets(st.sampled_from(BROKERS), max_size=3))
def test_every_trade_between_participants_who_stay_settles_and_no_other(
    trades: list[Obligation], start: dict[str, int], blocked: set[str]
) -> None:
    split = split_settleable(trades, start, blocked)
    out = split.excluded_participants
    assert split.settling == tuple(o for o in trades if o.payer_id not in out and o.payee_id not in out)
    assert split.leaving == tuple(o for o in trades if o.payer_id in out or o.payee_id in out)
    assert split.positions == net_positions(split.settling)
    assert not any(o.payer_id in blocked or o.payee_id in blocked for o in split.settling)


def _position(participant: str, trades: list[Obligation], without: frozenset[str]) -> int:
    """The participant's net position over the trades that touch no one in `without`, summed here
    trade by trade (not through net_positions)."""
    total = 0
    for o in trades:
        if o.payer_id in without or o.payee_id in without:
            continue
        if o.payer_id == participant:
            total -= o.amount_base_units
        if o.payee_id == participant:
            total += o.amount_base_units
    return total


# Few enough participants that every subset of the excluded ones can be tried.
SMALL = BROKERS[:6]
small_obligations = st.lists(
    st.tuples(st.sampled_from(SMALL), st.sampled_from(SMALL), st.integers(1, 100))
    .filter(lambda t: t[0] != t[1])
    .map(lambda t: Obligation(*t)),
    max_size=14,
)
small_balances = st.dictionaries(st.sampled_from(SMALL), st.integers(0, 150))


@settings(deadline=None)
@given(small_obligations, small_balances, st.sets(st.sampled_from(SMALL), max_size=2))
def test_only_blocked_or_short_participants_are_excluded(
    trades: list[Obligation], start: dict[str, int], blocked: set[str]
) -> None:
    """The rule removes a participant only for a cause: it is blocked, or it is short once the
    trades of some of the other excluded participants (the blocked ones among them) are gone."""
    split = split_settleable(trades, start, blocked)
    for participant in split.excluded_participants - blocked:
        others = sorted(split.excluded_participants - blocked - {participant})
        removable = (
            frozenset(blocked) | frozenset(chosen)
            for k in range(len(others) + 1)
            for chosen in itertools.combinations(others, k)
        )
        assert any(start.get(participant, 0) + _position(participant, trades, gone) < 0 for gone in removable), (
            f"{participant} was excluded with no shortfall to justify it"
        )


@given(obligations, balances, st.sets(st.sampled_from(BROKERS), max_size=3))
def test_what_settles_is_a_fixed_point_of_the_rule(
    trades: list[Obligation], start: dict[str, int], blocked: set[str]
) -> None:
    """Offered again on its own, what settles settles whole: the rule removed no more than it had to
    for the balances it checked."""
    split = split_settleable(trades, start, blocked)
    again = split_settleable(split.settling, start, blocked)
    assert again.settling == split.settling
    assert again.leaving == ()
    assert again.excluded_participants == frozenset(blocked)


@given(obligations, balances, st.sets(st.sampled_from(BROKERS), max_size=3), st.randoms(use_true_random=False))
def test_who_is_excluded_does_not_depend_on_trade_order(
    trades: list[Obligation], start: dict[str, int], blocked: set[str], rnd: random.Random
) -> None:
    shuffled = list(trades)
    rnd.shuffle(shuffled)
    assert (
        split_settleable(shuffled, start, blocked).excluded_participants
        == split_settleable(trades, start, blocked).excluded_participants
    )


@given(obligations, st.sets(st.sampled_from(BROKERS), max_size=3), st.lists(st.integers(0, AMOUNT_MAX), min_size=12))
def test_when_every_balance_covers_its_gross_payments_only_the_blocked_leave(
    trades: list[Obligation], blocked: set[str], spare: list[int]
) -> None:
    paid: dict[str, int] = defaultdict(int)
    for o in trades:
        paid[o.payer_id] += o.amount_base_units
    start = {b: paid[b] + extra for b, extra in zip(BROKERS, spare, strict=False)}
    split = split_settleable(trades, start, blocked)
    assert split.excluded_participants == frozenset(blocked)


@given(obligations, st.lists(st.integers(0, AMOUNT_MAX), min_size=12))
def test_a_window_whose_net_positions_are_covered_settles_whole(trades: list[Obligation], spare: list[int]) -> None:
    """Netting is the point: a payer whose gross payments exceed its balance still settles when its
    net debit fits."""
    positions = net_positions(trades)
    start = {b: max(0, -positions.get(b, 0)) + extra for b, extra in zip(BROKERS, spare, strict=False)}
    split = split_settleable(trades, start)
    assert split.settling == tuple(trades)
    assert split.leaving == ()
    assert split.excluded_participants == frozenset()


def test_a_net_debit_within_the_balance_settles_though_gross_payments_exceed_it() -> None:
    trades = [Obligation("HK", "SG", 1_000), Obligation("SG", "HK", 900)]
    split = split_settleable(trades, {"HK": 100, "SG": 0})
    assert split.settling == tuple(trades)
    assert split.positions == {"HK": -100, "SG": 100}


def test_one_unit_short_is_excluded() -> None:
    split = split_settleable([Obligation("HK", "SG", 101)], {"HK": 100})
    assert split.excluded_participants == {"HK"}
    assert split.settling == ()
    assert split.positions == {}


def test_a_blacklisted_participant_takes_only_its_own_trades_out() -> None:
    trades = [Obligation("HK", "SG", 100), Obligation("SG", "US", 40), Obligation("US", "HK", 30)]
    split = split_settleable(trades, {"HK": 100, "SG": 0, "US": 0}, blocked={"US"})
    assert split.settling == (Obligation("HK", "SG", 100),)
    assert split.positions == {"HK": -100, "SG": 100}
    assert split.excluded_participants == {"US"}


def test_removal_cascades_when_a_payer_loses_its_incoming_leg() -> None:
    # SG can pay US only because HK pays SG first; HK is blocked, so SG falls short too.
    trades = [Obligation("HK", "SG", 100), Obligation("SG", "US", 100)]
    split = split_settleable(trades, {"HK": 100, "SG": 0, "US": 0}, blocked={"HK"})
    assert split.settling == ()
    assert split.excluded_participants == {"HK", "SG"}


@pytest.mark.parametrize(
    ("balance", "operator_cap", "current", "new", "covered"),
    [
        (1_000, None, 0, 1_000, True),
        (1_000, None, 1, 1_000, False),
        (1_000, 500, 0, 500, True),
        (1_000, 500, 0, 501, False),
        (1_000, 5_000, 900, 100, True),  # an operator cap above the balance does not raise it
        (1_000, 5_000, 900, 101, False),
    ],
)
def test_liquidity_cover(balance: int, operator_cap: int | None, current: int, new: int, covered: bool) -> None:
    assert LiquidityCover(balance, operator_cap).covers(current, new) is covered


@pytest.mark.parametrize("new", [0, -1, -(2**96)])
def test_a_trade_debits_a_positive_amount(new: int) -> None:
    with pytest.raises(ValueError):
        LiquidityCover(10).covers(0, new)
    with pytest.raises(ValueError):
        LiquidityCover(10, 5).covers(0, new)


caps = st.one_of(st.none(), st.integers(0, AMOUNT_MAX))


@given(st.integers(0, AMOUNT_MAX), caps, st.integers(-AMOUNT_MAX, AMOUNT_MAX))
def test_a_debit_exactly_at_the_cap_is_covered_and_one_unit_more_is_not(
    balance: int, operator_cap: int | None, current: int
) -> None:
    cover = LiquidityCover(balance, operator_cap)
    cap = balance if operator_cap is None else min(balance, operator_cap)
    assert cover.cap_base_units == cap
    room = cap - current
    assert cover.headroom_base_units(current) == room
    if room >= 1:
        assert cover.covers(current, room)
    assert not cover.covers(current, max(room, 0) + 1)


@given(st.integers(0, AMOUNT_MAX), st.integers(0, AMOUNT_MAX), st.integers(0, AMOUNT_MAX), st.integers(1, AMOUNT_MAX))
def test_the_lower_of_balance_and_operator_cap_wins(balance: int, operator_cap: int, current: int, new: int) -> None:
    covered = LiquidityCover(balance, operator_cap).covers(current, new)
    assert covered == (
        LiquidityCover(balance).covers(current, new) and LiquidityCover(operator_cap).covers(current, new)
    )


def test_an_operator_cap_of_zero_covers_nothing() -> None:
    assert not LiquidityCover(1_000, 0).covers(0, 1)


def test_window_lifecycle() -> None:
    assert can_move(WindowStatus.OPEN, WindowStatus.CLOSED)
    assert can_move(WindowStatus.PENDING_SETTLEMENT, WindowStatus.SETTLED)
    assert not can_move(WindowStatus.OPEN, WindowStatus.SETTLED)
    assert not can_move(WindowStatus.SETTLED, WindowStatus.OPEN)
