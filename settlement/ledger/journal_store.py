"""The double-entry journal in SQL: append-only, hash-chained, and checkable from genesis.

Why a hash chain: the ledger is the audit record of whose money is where. Each entry's hash
covers its fields, its postings and the previous entry's hash, so an edit, a deletion, an
insertion or a reordering anywhere is found by verify(), which also names the entry.

Writers are serialised on the single journal_head row (SELECT ... FOR UPDATE on PostgreSQL;
the database write lock on SQLite), so seq numbers are gap-free and the chain never forks.
There is deliberately no update or delete API: corrections are new entries (REVERSAL).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, func
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, insert, select, update

from settlement import errors
from settlement.domain.anchors import AnchoredHead
from settlement.domain.journal import (
    GENESIS_HASH,
    EntryDraft,
    EntryKind,
    client_account,
    entry_hash,
    reversal_postings,
    transfer,
    wallet_account,
)
from settlement.domain.journal import Posting as DraftPosting
from settlement.ledger.amounts import exact_sum
from settlement.ledger.chunks import in_list_chunks
from settlement.ledger.models import ClientAccount, JournalEntry, JournalHead, Participant, Posting
from settlement.money import format_coins

HEAD_ID = 1
# The entry fields the hash covers, in addition to seq, prev_hash and the postings.
HASHED_FIELDS = (
    "kind",
    "description",
    "trade_id",
    "chain_id",
    "block_number",
    "block_hash",
    "tx_hash",
    "log_index",
    "reverses_seq",
    "created_at",
)
# verify reads the journal in pages of this many entries.
VERIFY_PAGE_ENTRIES_MAX = 5_000


@dataclass(frozen=True)
class JournalRecord:
    """One stored entry with its postings, as readers see it."""

    seq: int
    kind: str
    description: str
    trade_id: str | None
    chain_id: int | None
    block_number: int | None
    block_hash: str | None
    tx_hash: str | None
    log_index: int | None
    reverses_seq: int | None
    created_at: str
    prev_hash: str
    entry_hash: str
    postings: tuple[DraftPosting, ...]

    def reversal(self, reason: str) -> EntryDraft:
        """The entry that undoes this one, keeping its chain fields: the journal is append-only, so
        what a reorg took back is undone by a new entry, never by an edit."""
        return EntryDraft(
            kind=EntryKind.REVERSAL,
            postings=reversal_postings(self.postings),
            description=f"{reason}; reverses seq {self.seq} ({self.kind})",
            trade_id=self.trade_id,
            chain_id=self.chain_id,
            block_number=self.block_number,
            block_hash=self.block_hash,
            tx_hash=self.tx_hash,
            log_index=self.log_index,
            reverses_seq=self.seq,
        )


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    entries: int
    head_hash: str
    problems: list[tuple[int, str]]
    anchors_checked: int = 0
    latest_anchor: AnchoredHead | None = None


def hash_fields(source: JournalEntry | JournalRecord | dict[str, Any]) -> dict[str, object]:
    """The hashed fields of an entry, from a row, a record or a row dict."""
    if isinstance(source, dict):
        return {name: source[name] for name in HASHED_FIELDS}
    return {name: getattr(source, name) for name in HASHED_FIELDS}


def canonical_postings(postings: Sequence[DraftPosting]) -> list[DraftPosting]:
    """Postings in the order they are hashed: row order in SQL is not something to rely on."""
    return sorted(postings, key=lambda p: (p.account, p.amount_base_units))


def compute_hash(prev_hash: str, seq: int, fields: dict[str, object], postings: Sequence[DraftPosting]) -> str:
    return entry_hash(prev_hash, seq, fields, canonical_postings(postings))


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


class JournalStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._is_sqlite = engine.dialect.name == "sqlite"

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    # ------------------------------------------------------------------ writing

    def append(self, draft: EntryDraft, session: Session | None = None) -> JournalEntry:
        """Append one entry. With `session`, it joins the caller's transaction (no commit here).

        On SQLite, pass a session only before it has written anything else: the append takes
        the write lock with its first statement so concurrent appenders queue instead of failing.
        """
        if session is not None:
            return self._append_one(session, draft)
        with self.session() as own, own.begin():
            return self._append_one(own, draft)

    def append_many(self, drafts: Sequence[EntryDraft], session: Session) -> list[int]:
        """Append several entries under one head lock, in the caller's transaction; return their seqs.

        The indexer's path: one round of inserts per chunk of blocks instead of one per event.
        """
        if not drafts:
            return []
        head = self._lock_head(session)
        return [int(row["seq"]) for row in self._append_locked(session, head, list(drafts))]

    def allocate(self, participant_address: str, client_id: str, amount_base_units: int) -> JournalEntry:
        """Assign part of a broker's unallocated wallet balance to one of its clients.

        Raises InsufficientFunds if wallet:<addr> holds less than the amount in the ledger.
        """
        return self.move_within_omnibus(participant_address, client_id, amount_base_units, to_client=True)

    def move_within_omnibus(
        self, participant_address: str, client_id: str, amount_base_units: int, *, to_client: bool
    ) -> JournalEntry:
        if amount_base_units <= 0:
            raise errors.NonPositiveValue(f"allocation amount must be positive, got {amount_base_units}")
        wallet = wallet_account(participant_address)
        client = client_account(client_id)
        with self.session() as session, session.begin():
            participant = session.exec(
                select(Participant).where(func.lower(col(Participant.address)) == participant_address.lower())
            ).first()
            if participant is None:
                raise errors.UnknownParticipant(f"no participant with address {participant_address}")
            account = session.get(ClientAccount, client_id)
            if account is None or account.participant_id != participant.id:
                raise errors.UnknownClientAccount(f"client {client_id} is not a client of {participant.name}")
            head = self._lock_head(session)
            source = wallet if to_client else client
            available = self._balance(session, source)
            if available < amount_base_units:
                raise errors.InsufficientFunds(
                    f"{source} holds {format_coins(available)}, cannot move {format_coins(amount_base_units)}",
                    account=source,
                    available=available,
                    requested=amount_base_units,
                )
            action = "allocate {} to" if to_client else "deallocate {} from"
            draft = EntryDraft(
                kind=EntryKind.ALLOCATION,
                postings=transfer(wallet, client, amount_base_units)
                if to_client
                else transfer(client, wallet, amount_base_units),
                description=f"{action.format(format_coins(amount_base_units))} client {account.name} "
                f"of {participant.name}",
            )
            return JournalEntry.model_validate(self._append_locked(session, head, [draft])[0])

    def _append_one(self, session: Session, draft: EntryDraft) -> JournalEntry:
        head = self._lock_head(session)
        return JournalEntry.model_validate(self._append_locked(session, head, [draft])[0])

    def _lock_head(self, session: Session) -> tuple[int, str]:
        """Take the journal's write lock and return (seq, hash) of the last entry."""
        head_id = col(JournalHead.id) == HEAD_ID
        if self._is_sqlite:
            # A write as the first statement makes pysqlite BEGIN and take SQLite's write lock,
            # so no other writer can append between our read of the head and our insert.
            session.exec(update(JournalHead).where(head_id).values(seq=col(JournalHead.seq)))
        query = select(JournalHead.seq, JournalHead.entry_hash).where(head_id).with_for_update()
        row = session.exec(query).first()
        if row is None:
            try:
                with session.begin_nested():
                    session.exec(insert(JournalHead).values(id=HEAD_ID, seq=0, entry_hash=GENESIS_HASH))
            except IntegrityError:
                pass  # another writer created it first; the select below waits for its lock
            row = session.exec(query).one()
        return int(row[0]), str(row[1])

    def _append_locked(self, session: Session, head: tuple[int, str], drafts: list[EntryDraft]) -> list[dict[str, Any]]:
        """Insert the entries after `head` (already locked); return the inserted entry rows."""
        seq, prev = head
        created_at = now_iso()
        entry_rows: list[dict[str, Any]] = []
        posting_rows: list[dict[str, Any]] = []
        for draft in drafts:
            seq += 1
            row: dict[str, Any] = {
                "seq": seq,
                "prev_hash": prev,
                "kind": draft.kind,
                "description": draft.description,
                "trade_id": draft.trade_id,
                "chain_id": draft.chain_id,
                "block_number": draft.block_number,
                "block_hash": draft.block_hash,
                "tx_hash": draft.tx_hash,
                "log_index": draft.log_index,
                "reverses_seq": draft.reverses_seq,
                "created_at": created_at,
            }
            row["entry_hash"] = compute_hash(prev, seq, hash_fields(row), draft.postings)
            prev = str(row["entry_hash"])
            entry_rows.append(row)
            posting_rows.extend(
                {"entry_seq": seq, "account": p.account, "amount_base_units": p.amount_base_units}
                for p in draft.postings
            )
        # Core executemany on the session's connection: the ORM's bulk path costs more per row
        # than the hashing (a window journals thousands of obligations at once).
        connection = session.connection()
        connection.execute(insert(cast(Table, JournalEntry.__table__)), entry_rows)  # type: ignore[attr-defined]
        connection.execute(insert(cast(Table, Posting.__table__)), posting_rows)  # type: ignore[attr-defined]
        session.exec(update(JournalHead).where(col(JournalHead.id) == HEAD_ID).values(seq=seq, entry_hash=prev))
        return entry_rows

    # ------------------------------------------------------------------ reading

    def head(self) -> tuple[int, str]:
        """(seq, entry_hash) of the last entry, (0, GENESIS_HASH) for an empty journal."""
        with self.session() as session:
            row = session.exec(
                select(JournalHead.seq, JournalHead.entry_hash).where(col(JournalHead.id) == HEAD_ID)
            ).first()
        return (0, GENESIS_HASH) if row is None else (int(row[0]), str(row[1]))

    def balances(self, prefix: str | None = None) -> dict[str, int]:
        """Every account's balance (sum of its postings), optionally those starting with prefix."""
        query = select(Posting.account, exact_sum(Posting.amount_base_units)).group_by(col(Posting.account))
        if prefix:
            query = query.where(col(Posting.account).startswith(prefix, autoescape=True))
        with self.session() as session:
            return {str(account): int(total or 0) for account, total in session.exec(query)}

    def balance(self, account: str) -> int:
        with self.session() as session:
            return self._balance(session, account)

    @staticmethod
    def _balance(session: Session, account: str) -> int:
        total = session.exec(select(exact_sum(Posting.amount_base_units)).where(col(Posting.account) == account)).one()
        return int(total or 0)

    def entries(
        self, account: str | None = None, after_seq: int | None = None, limit: int = 100
    ) -> list[JournalRecord]:
        """Entries in seq order, after `after_seq`; pass the last returned seq to get the next page."""
        query = select(JournalEntry).order_by(col(JournalEntry.seq)).limit(max(1, min(limit, 10_000)))
        if after_seq is not None:
            query = query.where(col(JournalEntry.seq) > after_seq)
        if account is not None:
            touching = select(Posting.entry_seq).where(col(Posting.account) == account)
            query = query.where(col(JournalEntry.seq).in_(touching))
        with self.session() as session:
            rows = list(session.exec(query))
            postings = self._postings_for(session, [r.seq for r in rows])
        return [_record(row, postings.get(row.seq, ())) for row in rows]

    def records(self, seqs: Sequence[int], session: Session | None = None) -> list[JournalRecord]:
        """The entries with these seqs (in the given order), read in `session` if one is passed."""
        if session is None:
            with self.session() as own:
                return self.records(seqs, own)
        rows: dict[int, JournalEntry] = {}
        for chunk in in_list_chunks(seqs):
            rows.update((r.seq, r) for r in session.exec(select(JournalEntry).where(col(JournalEntry.seq).in_(chunk))))
        postings = self._postings_for(session, list(seqs))
        return [_record(rows[seq], postings.get(seq, ())) for seq in seqs if seq in rows]

    @staticmethod
    def _postings_for(session: Session, seqs: Sequence[int]) -> dict[int, tuple[DraftPosting, ...]]:
        found: dict[int, list[DraftPosting]] = {}
        for chunk in in_list_chunks(seqs):
            query = (
                select(Posting.entry_seq, Posting.account, Posting.amount_base_units)
                .where(col(Posting.entry_seq).in_(chunk))
                .order_by(col(Posting.entry_seq), col(Posting.id))
            )
            for entry_seq, account, amount in session.exec(query):
                found.setdefault(int(entry_seq), []).append(DraftPosting(str(account), int(amount)))
        return {seq: tuple(postings) for seq, postings in found.items()}

    def iter_records(self, page: int = VERIFY_PAGE_ENTRIES_MAX) -> Iterator[JournalRecord]:
        """Every entry in seq order, read a page at a time."""
        after: int | None = None
        while True:
            batch = self.entries(after_seq=after, limit=page)
            yield from batch
            if len(batch) < page:
                return
            after = batch[-1].seq

    # ------------------------------------------------------------------ verification

    def verify(self) -> VerifyResult:
        """Recompute the chain from genesis; name each entry that was edited, deleted, inserted or moved."""
        from settlement.ledger.journal_verify import verify_journal

        return verify_journal(self)

    def head_row(self) -> tuple[int, str] | None:
        """The head row as stored (seq, hash), or None before the first append."""
        with self.session() as session:
            row = session.exec(
                select(JournalHead.seq, JournalHead.entry_hash).where(col(JournalHead.id) == HEAD_ID)
            ).first()
        return None if row is None else (int(row[0]), str(row[1]))


def _record(row: JournalEntry, postings: tuple[DraftPosting, ...]) -> JournalRecord:
    return JournalRecord(
        seq=row.seq,
        kind=row.kind,
        description=row.description,
        trade_id=row.trade_id,
        chain_id=row.chain_id,
        block_number=row.block_number,
        block_hash=row.block_hash,
        tx_hash=row.tx_hash,
        log_index=row.log_index,
        reverses_seq=row.reverses_seq,
        created_at=row.created_at,
        prev_hash=row.prev_hash,
        entry_hash=row.entry_hash,
        postings=postings,
    )
