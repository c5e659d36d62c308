"""Mirrors the token's and escrow's events into the journal: one balanced entry per economic event.

Why an indexer rather than writing the journal from the engine: the chain is the source of
truth, so the ledger is built from what the chain says happened, including transfers nobody
in this system initiated. The engine's own records are then reconciled against it.

Guarantees:
- each log is applied once: a ProcessedLog row is written in the same transaction as its
  entry, and its unique (chain_id, tx_hash, log_index) constraint is the last defence;
- a chunk of blocks is applied all-or-nothing, with the cursor (block number and hash) moved
  in the same transaction;
- reorgs are undone by REVERSAL entries (the journal stays append-only), then re-ingested.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, insert, select, update

from settlement.chain.client import ChainClient
from settlement.chain.events import EventDecoder
from settlement.domain.chain_events import ESCROW_EVENTS, ChainEvent, trade_key
from settlement.domain.journal import (
    ESCROW_UNASSIGNED_ACCOUNT,
    SUPPLY_ACCOUNT,
    EntryDraft,
    EntryKind,
    client_account,
    escrow_account,
    reversal_postings,
    transfer,
    wallet_account,
)
from settlement.errors import IndexerConflict, LedgerError, ReorgTooDeep
from settlement.ledger.chunks import in_list_chunks
from settlement.ledger.journal_store import JournalStore
from settlement.ledger.models import IndexedBlock, IndexerCursor, ProcessedLog, Trade, utcnow
from settlement.money import format_coins

ZERO_ADDRESS = "0x" + "00" * 20
_ATTEMPTS = 3


@dataclass(frozen=True)
class IndexResult:
    from_block: int
    to_block: int
    events_applied: int
    reorged_blocks: int


@dataclass(frozen=True)
class _TradeParties:
    trade_id: str
    buyer_client_id: str | None
    seller_client_id: str | None


@dataclass(frozen=True)
class _Planned:
    """What one economic event becomes: an entry (None for a zero-value transfer) and its logs."""

    draft: EntryDraft | None
    logs: tuple[ChainEvent, ...]


class Indexer:
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
        for _ in range(_ATTEMPTS):
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
        for attempt in range(_ATTEMPTS):
            try:
                return self._apply(start, end, end_hash, events, cursor)
            except IntegrityError:
                # A concurrent writer applied some of these logs first; re-plan without them.
                if attempt == _ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _apply(
        self, start: int, end: int, end_hash: str, events: list[ChainEvent], cursor: tuple[int, str] | None
    ) -> int:
        with self.journal.session() as session, session.begin():
            done = self._processed(session, {e.tx_hash for e in events})
            trades = self._trades(session, {trade_key(e) for e in events if e.name in ESCROW_EVENTS})
            planned = [
                p for p in self._plan(events, trades) if not any((log.tx_hash, log.log_index) in done for log in p.logs)
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
    def _trades(session: Session, chain_trade_ids: set[str]) -> dict[str, _TradeParties]:
        found: dict[str, _TradeParties] = {}
        for chunk in in_list_chunks(sorted(chain_trade_ids)):
            rows = session.exec(
                select(Trade.chain_trade_id, Trade.id, Trade.buyer_client_id, Trade.seller_client_id).where(
                    col(Trade.chain_trade_id).in_(chunk)
                )
            )
            for chain_id, trade_id, buyer_client, seller_client in rows:
                found[str(chain_id).lower()] = _TradeParties(trade_id, buyer_client, seller_client)
        return found

    # ------------------------------------------------------------------ posting rules

    def _plan(self, events: list[ChainEvent], trades: dict[str, _TradeParties]) -> list[_Planned]:
        planned: list[_Planned] = []
        start = 0
        while start < len(events):
            stop = start
            while stop < len(events) and events[stop].tx_hash == events[start].tx_hash:
                stop += 1
            planned.extend(self._plan_tx(events[start:stop], trades))
            start = stop
        return planned

    def _plan_tx(self, events: Sequence[ChainEvent], trades: dict[str, _TradeParties]) -> list[_Planned]:
        """Pair each escrow event with the escrow Transfer just before it in the same tx.

        The escrow moves the coins and then emits its event, so the Transfer carries no extra
        information; posting both would count the same coins twice.
        """
        escrow = self.decoder.escrow
        waiting: list[ChainEvent] = []
        planned: list[_Planned] = []
        for event in events:
            if event.name == "Transfer":
                if escrow in (_addr(event.args["from"]), _addr(event.args["to"])):
                    waiting.append(event)
                else:
                    planned.append(self._transfer_entry(event))
                continue
            inbound = event.name == "Locked"
            party = _addr(event.args["payee"] if event.name == "Released" else event.args["payer"])
            amount = int(event.args["amount"])
            match = next(
                (
                    t
                    for t in reversed(waiting)
                    if int(t.args["value"]) == amount
                    and (
                        (_addr(t.args["to"]) == escrow and _addr(t.args["from"]) == party)
                        if inbound
                        else (_addr(t.args["from"]) == escrow and _addr(t.args["to"]) == party)
                    )
                ),
                None,
            )
            if match is not None:
                waiting.remove(match)
            planned.append(self._escrow_entry(event, match, trades.get(trade_key(event))))
        planned.extend(self._transfer_entry(t) for t in waiting)
        planned.sort(key=lambda p: min(log.log_index for log in p.logs))
        return planned

    def _holder(self, address: str) -> str:
        if address == ZERO_ADDRESS:
            return SUPPLY_ACCOUNT
        if address == self.decoder.escrow:
            return ESCROW_UNASSIGNED_ACCOUNT
        return wallet_account(address)

    def _transfer_entry(self, event: ChainEvent) -> _Planned:
        sender, recipient = _addr(event.args["from"]), _addr(event.args["to"])
        amount = int(event.args["value"])
        if amount == 0:
            return _Planned(draft=None, logs=(event,))  # moves nothing; remembered as processed only
        kind = (
            EntryKind.MINT
            if sender == ZERO_ADDRESS
            else EntryKind.BURN
            if recipient == ZERO_ADDRESS
            else EntryKind.TRANSFER
        )
        source, target = self._holder(sender), self._holder(recipient)
        return _Planned(
            draft=self._draft(event, kind, source, target, amount, None, f"{kind.lower()} {format_coins(amount)}"),
            logs=(event,),
        )

    def _escrow_entry(self, event: ChainEvent, paired: ChainEvent | None, trade: _TradeParties | None) -> _Planned:
        key = trade_key(event)
        locked_in = escrow_account(key)
        amount = int(event.args["amount"])
        if event.name == "Locked":
            kind = EntryKind.LOCK
            payer = wallet_account(_addr(event.args["payer"]))
            source = client_account(trade.buyer_client_id) if trade and trade.buyer_client_id else payer
            target = locked_in
        elif event.name == "Released":
            kind = EntryKind.RELEASE
            payee = wallet_account(_addr(event.args["payee"]))
            source = locked_in
            target = client_account(trade.seller_client_id) if trade and trade.seller_client_id else payee
        else:
            kind = EntryKind.REFUND
            payer = wallet_account(_addr(event.args["payer"]))
            source = locked_in
            target = client_account(trade.buyer_client_id) if trade and trade.buyer_client_id else payer
        if paired is None:
            # No coins moved with this event in this tx (not something the escrow does):
            # keep the books on what the chain holds by parking the amount as unassigned.
            if kind == EntryKind.LOCK:
                source = ESCROW_UNASSIGNED_ACCOUNT
            else:
                target = ESCROW_UNASSIGNED_ACCOUNT
        description = f"{kind.lower()} {format_coins(amount)} trade {trade.trade_id if trade else key}"
        logs = (event,) if paired is None else (paired, event)
        return _Planned(
            draft=self._draft(event, kind, source, target, amount, trade.trade_id if trade else None, description),
            logs=logs,
        )

    def _draft(
        self,
        event: ChainEvent,
        kind: str,
        source: str,
        target: str,
        amount: int,
        trade_id: str | None,
        description: str,
    ) -> EntryDraft:
        return EntryDraft(
            kind=kind,
            postings=transfer(source, target, amount),
            description=f"{description}: {source} -> {target}",
            trade_id=trade_id,
            chain_id=self.chain_id,
            block_number=event.block_number,
            block_hash=event.block_hash,
            tx_hash=event.tx_hash,
            log_index=event.log_index,
        )

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
                EntryDraft(
                    kind=EntryKind.REVERSAL,
                    postings=reversal_postings(record.postings),
                    description=f"reorg: block {record.block_number} {record.block_hash} is no longer "
                    f"canonical; reverses seq {record.seq} ({record.kind})",
                    trade_id=record.trade_id,
                    chain_id=record.chain_id,
                    block_number=record.block_number,
                    block_hash=record.block_hash,
                    tx_hash=record.tx_hash,
                    log_index=record.log_index,
                    reverses_seq=record.seq,
                )
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


def _addr(value: object) -> str:
    return str(value).lower()
