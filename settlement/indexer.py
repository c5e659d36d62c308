"""Mirrors the token's, escrow's and net settlement contract's events into the journal: one balanced entry per economic event.

Why an indexer rather than writing the journal from the engine: the chain is the source of
truth, so the ledger is built from what the chain says happened, including transfers nobody
in this system initiated. The engine's own records are then reconciled against it.

Guarantees:
- each log is applied once: a ProcessedLog row is written in the same transaction as its
  entry, and its unique (chain_id, tx_hash, log_index) constraint is the last defence;
- a chunk of blocks is applied all-or-nothing, with the cursor (block number and hash) moved
  in the same transaction;
- reorgs are undone by REVERSAL entries (the journal stays append-only), then re-ingested.

Only the I/O lives here (cursor, fetching, applying, rewinding): logs are decoded by
settlement.chain.events and the accounts each event moves are settlement.domain.posting's rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, insert, select, update

from settlement.chain.client import ChainClient
from settlement.chain.events import EventDecoder
from settlement.domain.chain_events import ChainEvent
from settlement.domain.posting import PostingRules, TradeParties, escrow_trade_keys
from settlement.errors import IndexerConflict, LedgerError, ReorgTooDeep
from settlement.ledger.chunks import in_list_chunks
from settlement.ledger.journal_store import JournalStore
from settlement.ledger.models import IndexedBlock, IndexerCursor, ProcessedLog, Trade, utcnow

_ATTEMPTS_MAX = 3


@dataclass(frozen=True)
class IndexResult:
    from_block: int
    to_block: int
    events_applied: int
    reorged_blocks: int


class Indexer:
    """Cursor, fetching, applying and reorg rewind: one I/O job, whose steps share the cursor's
    compare-and-set; at ~270 lines it is a little over our class guide, kept whole so the
    all-or-nothing rules of a chunk read in one place (the accounting is in domain/posting.py)."""

    def __init__(
        self,
        chain: ChainClient,
        engine: Engine,
        journal: JournalStore,
        confirmation_depth: int = 0,
        chunk_blocks: int = 2_000,
        reorg_window_blocks: int = 64,
    ) -> None:
        if chunk_blocks < 1 or reorg_window_blocks < 1 or confirmation_depth < 0:
            raise ValueError("chunk_blocks and reorg_window_blocks must be >= 1, confirmation_depth >= 0")
        self.chain = chain
        self.engine = engine
        self.journal = journal
        self.confirmation_depth = confirmation_depth
        self.chunk_blocks = chunk_blocks
        self.reorg_window_blocks = reorg_window_blocks
        self.chain_id = chain.chain_id
        self.deploy_block = chain.manifest.deploy_block
        self.decoder = EventDecoder(chain)
        self.rules = PostingRules(self.chain_id, self.decoder.escrow, self.decoder.net)
        # Told the fork block after a rewind: trades the service booked above it may have lost
        # their lock or payout on chain, and the journal alone cannot move a trade back.
        self.on_rewind: Callable[[int], None] | None = None

    # ------------------------------------------------------------------ driving

    def run_once(self) -> IndexResult:
        """Undo any reorg, then apply at most one chunk of confirmed blocks."""
        reorged = self._rewind_if_reorged()
        cursor = self.cursor()
        start = cursor[0] + 1 if cursor else self.deploy_block
        safe_head = self.chain.block_number() - self.confirmation_depth
        end = min(safe_head, start + self.chunk_blocks - 1)
        if end < start:
            return IndexResult(from_block=start, to_block=start - 1, events_applied=0, reorged_blocks=reorged)
        applied = self._ingest(start, end, cursor)
        return IndexResult(from_block=start, to_block=end, events_applied=applied, reorged_blocks=reorged)

    def run_until_head(self) -> IndexResult:
        """run_once until the cursor reaches the confirmed head as it was when this started."""
        target = self.chain.block_number() - self.confirmation_depth
        first = self.run_once()
        applied, reorged, last = first.events_applied, first.reorged_blocks, first
        while last.to_block < target and last.to_block >= last.from_block:
            last = self.run_once()
            applied += last.events_applied
            reorged += last.reorged_blocks
        return IndexResult(
            from_block=first.from_block, to_block=last.to_block, events_applied=applied, reorged_blocks=reorged
        )

    def cursor(self) -> tuple[int, str] | None:
        """(last indexed block, its hash), or None before the first run."""
        with Session(self.engine) as session:
            row = session.get(IndexerCursor, self.chain_id)
            return None if row is None else (row.last_block, row.last_block_hash)

    # ------------------------------------------------------------------ reading the chain

    def _fetch(self, start: int, end: int) -> tuple[list[ChainEvent], str]:
        """Decoded events in [start, end] in chain order, and end's hash, from one consistent chain."""
        for _ in range(_ATTEMPTS_MAX):
            end_hash = self.chain.block_hash(end)
            logs = self.chain.get_logs(start, end, self.decoder.addresses, self.decoder.topics)
            if end_hash is not None and self.chain.block_hash(end) == end_hash:
                events = [e for e in map(self.decoder.decode, logs) if e is not None]
                events.sort(key=lambda e: (e.block_number, e.tx_index, e.log_index))
                return events, end_hash
        raise LedgerError(f"blocks {start}..{end} kept changing while being read (reorg in progress?)")

    # ------------------------------------------------------------------ ingesting

    def _ingest(self, start: int, end: int, cursor: tuple[int, str] | None) -> int:
        events, end_hash = self._fetch(start, end)
        for attempt in range(_ATTEMPTS_MAX):
            try:
                return self._apply(start, end, end_hash, events, cursor)
            except IntegrityError:
                # A concurrent writer applied some of these logs first; re-plan without them.
                if attempt == _ATTEMPTS_MAX - 1:
                    raise
        raise AssertionError("unreachable")

    def _apply(
        self, start: int, end: int, end_hash: str, events: list[ChainEvent], cursor: tuple[int, str] | None
    ) -> int:
        with self.journal.session() as session, session.begin():
            done = self._processed(session, {e.tx_hash for e in events})
            trades = self._trades(session, escrow_trade_keys(events))
            planned = [
                p
                for p in self.rules.plan(events, trades)
                if not any((log.tx_hash, log.log_index) in done for log in p.logs)
            ]
            drafts = [p.draft for p in planned if p.draft is not None]
            seqs = iter(self.journal.append_many(drafts, session))
            log_rows: list[dict[str, object]] = []
            for p in planned:
                seq = next(seqs) if p.draft is not None else None
                log_rows.extend(
                    {
                        "chain_id": self.chain_id,
                        "tx_hash": log.tx_hash,
                        "log_index": log.log_index,
                        "block_number": log.block_number,
                        "block_hash": log.block_hash,
                        "entry_seq": seq,
                    }
                    for log in p.logs
                )
            if log_rows:
                session.exec(insert(ProcessedLog), params=log_rows)
            blocks = {e.block_number: e.block_hash for e in events}
            blocks[end] = end_hash  # the checkpoint: lets the next run notice a reorg below it
            session.exec(
                delete(IndexedBlock).where(
                    col(IndexedBlock.chain_id) == self.chain_id,
                    col(IndexedBlock.block_number) >= start,
                    col(IndexedBlock.block_number) <= end,
                )
            )
            session.exec(
                insert(IndexedBlock),
                params=[
                    {"chain_id": self.chain_id, "block_number": n, "block_hash": h} for n, h in sorted(blocks.items())
                ],
            )
            self._move_cursor(session, cursor, (end, end_hash))
            return sum(len(p.logs) for p in planned)

    def _move_cursor(self, session: Session, expected: tuple[int, str] | None, new: tuple[int, str] | None) -> None:
        """Compare-and-set, so two indexers on one database cannot both apply the same range.

        new=None removes the cursor: the next run starts again from the deployment block.
        """
        if new is None:
            assert expected is not None
            removed = session.exec(
                delete(IndexerCursor).where(
                    col(IndexerCursor.chain_id) == self.chain_id,
                    col(IndexerCursor.last_block) == expected[0],
                    col(IndexerCursor.last_block_hash) == expected[1],
                )
            )
            if removed.rowcount != 1:
                raise IndexerConflict(f"the indexer cursor moved from block {expected[0]} during this run")
            return
        if expected is None:
            existing = session.get(IndexerCursor, self.chain_id)
            if existing is not None:
                raise IndexerConflict("the indexer cursor appeared while this run was applying blocks")
            session.add(IndexerCursor(chain_id=self.chain_id, last_block=new[0], last_block_hash=new[1]))
            session.flush()
            return
        result = session.exec(
            update(IndexerCursor)
            .where(
                col(IndexerCursor.chain_id) == self.chain_id,
                col(IndexerCursor.last_block) == expected[0],
                col(IndexerCursor.last_block_hash) == expected[1],
            )
            .values(last_block=new[0], last_block_hash=new[1], updated_at=utcnow())
        )
        if result.rowcount != 1:
            raise IndexerConflict(f"the indexer cursor moved from block {expected[0]} during this run")

    def _processed(self, session: Session, tx_hashes: set[str]) -> set[tuple[str, int]]:
        found: set[tuple[str, int]] = set()
        for chunk in in_list_chunks(sorted(tx_hashes)):
            rows = session.exec(
                select(ProcessedLog.tx_hash, ProcessedLog.log_index).where(
                    col(ProcessedLog.chain_id) == self.chain_id,
                    col(ProcessedLog.tx_hash).in_(chunk),
                )
            )
            found.update((str(h), int(n)) for h, n in rows)
        return found

    @staticmethod
    def _trades(session: Session, chain_trade_ids: set[str]) -> dict[str, TradeParties]:
        """The parties of the trades these escrow events name, keyed as the posting rules look them up."""
        found: dict[str, TradeParties] = {}
        for chunk in in_list_chunks(sorted(chain_trade_ids)):
            rows = session.exec(
                select(Trade.chain_trade_id, Trade.id, Trade.buyer_client_id, Trade.seller_client_id).where(
                    col(Trade.chain_trade_id).in_(chunk)
                )
            )
            for chain_id, trade_id, buyer_client, seller_client in rows:
                found[str(chain_id).lower()] = TradeParties(trade_id, buyer_client, seller_client)
        return found

    # ------------------------------------------------------------------ reorgs

    def _rewind_if_reorged(self) -> int:
        """If the cursor's block is no longer canonical, reverse what came after the fork; return depth."""
        cursor = self.cursor()
        if cursor is None:
            return 0
        last, last_hash = cursor
        if self.chain.block_hash(last) == last_hash:
            return 0
        fork = self._newest_canonical_stored_block(last)
        self._rewind(cursor, fork)
        if self.on_rewind is not None:
            self.on_rewind(fork[0])
        return last - fork[0]

    def _newest_canonical_stored_block(self, last: int) -> tuple[int, str]:
        floor = last - self.reorg_window_blocks
        with Session(self.engine) as session:
            stored = session.exec(
                select(IndexedBlock.block_number, IndexedBlock.block_hash)
                .where(
                    col(IndexedBlock.chain_id) == self.chain_id,
                    col(IndexedBlock.block_number) < last,
                    col(IndexedBlock.block_number) >= floor,
                )
                .order_by(col(IndexedBlock.block_number).desc())
            ).all()
        for number, block_hash in stored:
            if self.chain.block_hash(number) == block_hash:
                return int(number), str(block_hash)
        if floor < self.deploy_block:
            # Everything indexed is inside the window: start again from the deployment.
            return self.deploy_block - 1, ""
        raise ReorgTooDeep(
            f"no block indexed in {floor}..{last} is still canonical; the reorg is deeper than "
            f"reorg_window_blocks={self.reorg_window_blocks}",
            last_block=last,
        )

    def _rewind(self, cursor: tuple[int, str], fork: tuple[int, str]) -> None:
        """Reverse every entry applied from blocks after the fork (newest first), forget their logs."""
        fork_block = fork[0]
        with self.journal.session() as session, session.begin():
            seqs = [
                int(seq)
                for seq in session.exec(
                    select(ProcessedLog.entry_seq)
                    .distinct()
                    .where(
                        col(ProcessedLog.chain_id) == self.chain_id,
                        col(ProcessedLog.block_number) > fork_block,
                        col(ProcessedLog.entry_seq).is_not(None),
                    )
                    .order_by(col(ProcessedLog.entry_seq).desc())
                )
                if seq is not None
            ]
            drafts = [
                record.reversal(f"reorg: block {record.block_number} {record.block_hash} is no longer canonical")
                for record in self.journal.records(seqs, session)
            ]
            self.journal.append_many(drafts, session)
            for table in (ProcessedLog, IndexedBlock):
                session.exec(
                    delete(table).where(
                        col(table.chain_id) == self.chain_id,
                        col(table.block_number) > fork_block,
                    )
                )
            self._move_cursor(session, cursor, None if fork_block < self.deploy_block else fork)
