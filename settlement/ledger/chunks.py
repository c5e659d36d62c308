"""Splitting long IN (...) lists, so a query never exceeds what a database accepts in one statement.

SQLite caps bound parameters per statement (32,766 by default, 999 on old builds); PostgreSQL
plans a huge IN list slowly. Every `.in_(values)` over an unbounded list goes through here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from settlement.domain.batching import chunks

T = TypeVar("T")

IN_LIST_VALUES_MAX = 500


def in_list_chunks(values: Sequence[T], values_max: int = IN_LIST_VALUES_MAX) -> list[Sequence[T]]:
    """`values` in order, as consecutive slices of at most `values_max` items (none if empty)."""
    return chunks(values, values_max)
