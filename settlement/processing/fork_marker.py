"""The indexer's word to the cycle that a reorg undid blocks: the lowest fork since it was last read.

The indexer rewinds on its own thread, beside the settlement cycle, so the realignment sweep and
the settlement windows each keep one of these: the rewind notes its fork, the next cycle takes it
and reads back from the chain what the service had booked above it.
"""

from __future__ import annotations

import threading


class ForkMarker:
    def __init__(self) -> None:
        self._fork_block: int | None = None
        self._lock = threading.Lock()

    def note(self, fork_block: int) -> None:
        """A rewind above `fork_block`; two before the next take leave the lower (it covers both)."""
        with self._lock:
            self._fork_block = fork_block if self._fork_block is None else min(self._fork_block, fork_block)

    @property
    def noted(self) -> bool:
        with self._lock:
            return self._fork_block is not None

    def take(self) -> int | None:
        """The fork noted since the last take, if any, and clear it."""
        with self._lock:
            fork_block, self._fork_block = self._fork_block, None
            return fork_block
