"""The periodic realignment sweep: divergence nobody's call has revealed yet is healed anyway.

A failed call reveals a lost receipt (NotLocked, AlreadyLocked; see submission.py), but a reorg
that drops a lock the service booked, or a lock the escrow's admin recovered, makes no call
fail until the deadline. So every `every_cycles` cycles, and at the next cycle after the
indexer rewound a reorg, the LOCKED trades are read back from the escrow in batched reads,
`trades_max` per cycle (a keyset cursor walks through them all over successive sweeps); after a
rewind, every trade booked above the fork block is read first (the reorg may have undone its
lock or its payout).
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, or_, select

from settlement.domain.trade import TradeStatus
from settlement.ledger.models import Trade
from settlement.processing.fork_marker import ForkMarker
from settlement.processing.recovery import Recovery

log = logging.getLogger(__name__)


class RealignmentSweep:
    def __init__(self, db: Engine, recovery: Recovery, every_cycles: int, trades_max: int) -> None:
        if every_cycles < 1 or trades_max < 1:
            raise ValueError("every_cycles and trades_max must be >= 1")
        self.db = db
        self.recovery = recovery
        self.every_cycles = every_cycles
        self.trades_max = trades_max
        self._cycles_to_wait = 0  # the first cycle sweeps: a restart may follow a reorg
        self._after: tuple[datetime, str] | None = None  # where the walk through LOCKED trades stands
        self._fork = ForkMarker()  # noted by the indexer's rewind, taken by the next sweep

    def after_rewind(self, fork_block: int) -> None:
        """The indexer undid blocks above `fork_block`: sweep at the next cycle, payouts above it included."""
        self._fork.note(fork_block)

    def run_if_due(self) -> int:
        """Sweep if it is time (or a reorg was seen); returns how many trades moved."""
        if self._cycles_to_wait > 0 and not self._fork.noted:
            self._cycles_to_wait -= 1
            return 0
        self._cycles_to_wait = self.every_cycles - 1
        fork_block = self._fork.take()
        with Session(self.db) as session:
            ids = [] if fork_block is None else self._booked_above(session, fork_block, self.trades_max)
            ids += self._next_locked(session)
        moved = self.recovery.realign(ids)
        if moved:
            log.warning(
                "realignment sweep: %d of %d trades read back moved to the escrow's state", len(moved), len(ids)
            )
        return len(moved)

    def _next_locked(self, session: Session) -> list[str]:
        query = select(Trade.created_at, Trade.id).where(Trade.status == TradeStatus.LOCKED)
        if self._after is not None:
            created_at, trade_id = self._after
            query = query.where(
                (col(Trade.created_at) > created_at)
                | ((col(Trade.created_at) == created_at) & (col(Trade.id) > trade_id))
            )
        rows = session.exec(query.order_by(col(Trade.created_at), col(Trade.id)).limit(self.trades_max)).all()
        # A short page means the walk reached the end: the next sweep starts from the first again.
        self._after = (rows[-1][0], rows[-1][1]) if len(rows) == self.trades_max else None
        return [str(trade_id) for _, trade_id in rows]

    @staticmethod
    def _booked_above(session: Session, fork_block: int, limit: int) -> list[str]:
        query = (
            select(Trade.id)
            .where(
                or_(
                    col(Trade.lock_block) > fork_block,
                    col(Trade.release_block) > fork_block,
                    col(Trade.refund_block) > fork_block,
                )
            )
            .order_by(col(Trade.created_at), col(Trade.id))
            .limit(limit)
        )
        return [str(trade_id) for trade_id in session.exec(query).all()]
