"""The IN-list splitter keeps every value, in order, and never exceeds the bound."""

from __future__ import annotations

import pytest

from settlement.ledger.chunks import in_list_chunks


@pytest.mark.parametrize(
    ("count", "values_max", "sizes"),
    [(0, 3, []), (1, 3, [1]), (3, 3, [3]), (7, 3, [3, 3, 1]), (1_001, 500, [500, 500, 1])],
)
def test_chunks_cover_the_values_in_order(count: int, values_max: int, sizes: list[int]) -> None:
    values = list(range(count))
    chunks = list(in_list_chunks(values, values_max))
    assert [len(c) for c in chunks] == sizes
    assert [v for c in chunks for v in c] == values


def test_a_bound_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        list(in_list_chunks([1], 0))
