"""Netting invariants: positions sum to zero, net transfers settle every position, never more than gross."""

from __future__ import annotations

from collections import defaultdict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from settlement.domain.netting import NettingCycle, Obligation

BROKERS = ["HK", "CN-HK", "SG", "US"]

obligations = st.lists(
    st.tuples(st.sampled_from(BROKERS), st.sampled_from(BROKERS), st.integers(1, 10**12))
    .filter(lambda t: t[0] != t[1])
    .map(lambda t: Obligation(*t)),
    max_size=60,
)


@given(obligations)
def test_net_obligations_settle_every_position(gross: list[Obligation]) -> None:
    cycle = NettingCycle.of(gross)
    assert sum(cycle.net_positions.values()) == 0
    settled: dict[str, int] = defaultdict(int)
    for o in cycle.net_obligations:
        assert o.amount_base_units > 0
        settled[o.payer_id] -= o.amount_base_units
        settled[o.payee_id] += o.amount_base_units
    assert {k: v for k, v in settled.items() if v} == {k: v for k, v in cycle.net_positions.items() if v}
    assert cycle.net_base_units <= cycle.gross_base_units
    assert len(cycle.net_obligations) <= max(len(BROKERS) - 1, 0)


def test_a_round_trip_nets_to_nothing() -> None:
    cycle = NettingCycle.of([Obligation("HK", "SG", 500), Obligation("SG", "HK", 500)])
    assert cycle.net_obligations == ()
    assert cycle.gross_base_units == 1000


def test_a_chain_nets_to_one_transfer() -> None:
    cycle = NettingCycle.of([Obligation("HK", "CN-HK", 300), Obligation("CN-HK", "SG", 300)])
    assert [(o.payer_id, o.payee_id, o.amount_base_units) for o in cycle.net_obligations] == [("HK", "SG", 300)]


@pytest.mark.parametrize(
    "bad",
    [Obligation("HK", "HK", 1), Obligation("HK", "SG", 0), Obligation("HK", "SG", -5)],
)
def test_unsettleable_obligations_are_refused(bad: Obligation) -> None:
    with pytest.raises(ValueError):
        NettingCycle.of([bad])
