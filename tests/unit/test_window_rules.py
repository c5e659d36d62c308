"""Net-mode rules: positions sum to zero, net equals gross, caps hold, a defaulter leaves cleanly."""

from __future__ import annotations

from collections import defaultdict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from settlement.domain.netting import Obligation
from settlement.domain.window import (
    LiquidityCover,
    WindowStatus,
    can_move,
    net_positions,
    split_settleable,
)

BROKERS = ["HK", "CN-HK", "SG", "US", "JP"]

obligations = st.lists(
    st.tuples(st.sampled_from(BROKERS), st.sampled_from(BROKERS), st.integers(1, 10**15))
    .filter(lambda t: t[0] != t[1])
    .map(lambda t: Obligation(*t)),
    max_size=80,
)
balances = st.dictionaries(st.sampled_from(BROKERS), st.integers(0, 10**16))


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


def test_a_trade_debits_a_positive_amount() -> None:
    with pytest.raises(ValueError):
        LiquidityCover(10).covers(0, 0)


def test_window_lifecycle() -> None:
    assert can_move(WindowStatus.OPEN, WindowStatus.CLOSED)
    assert can_move(WindowStatus.PENDING_SETTLEMENT, WindowStatus.SETTLED)
    assert not can_move(WindowStatus.OPEN, WindowStatus.SETTLED)
    assert not can_move(WindowStatus.SETTLED, WindowStatus.OPEN)
