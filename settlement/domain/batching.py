"""Splitting work into bounded pieces: batch calls, IN-lists, JSON-RPC batches.

One helper, so every place that must respect a limit (the escrow's batch size, a database's
bound-parameter count, an RPC node's batch size) splits the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def chunks(items: Sequence[T], size_max: int) -> list[Sequence[T]]:
    """Consecutive slices of at most size_max items, in order."""
    if size_max < 1:
        raise ValueError("size_max must be at least 1")
    return [items[i : i + size_max] for i in range(0, len(items), size_max)]
