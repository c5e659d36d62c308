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
from typing import Any

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, insert, select, update

from settlement import errors
from settlement.domain.journal import (
    GENESIS_HASH,
    EntryDraft,
    EntryKind,
    client_account,
    entry_hash,
    transfer,
    wallet_account,
)
from settlement.domain.journal import Posting as DraftPosting
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
# Renumbering by more than this is reported as an edit rather than as a shift.
_MAX_SHIFT_DETECTED = 3
_VERIFY_PAGE = 5_000


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


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    entries: int
    head_hash: str
    problems: list[tuple[int, str]]


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
        return self._move_within_omnibus(participant_address, client_id, amount_base_units, to_client=True)

    def deallocate(self, participant_address: str, client_id: str, amount_base_units: int) -> JournalEntry:
        """Return part of a client's balance to the broker's unallocated wallet balance."""
        return self._move_within_omnibus(participant_address, client_id, amount_base_units, to_client=False)

    def _move_within_omnibus(
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
        session.exec(insert(JournalEntry), params=entry_rows)
        session.exec(insert(Posting), params=posting_rows)
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
        query = select(Posting.account, func.sum(Posting.amount_base_units)).group_by(col(Posting.account))
        if prefix:
            query = query.where(col(Posting.account).startswith(prefix, autoescape=True))
        with self.session() as session:
            # PostgreSQL sums bigint into numeric (Decimal): int() is exact.
            return {str(account): int(total or 0) for account, total in session.exec(query)}

    def balance(self, account: str) -> int:
        with self.session() as session:
            return self._balance(session, account)

    @staticmethod
    def _balance(session: Session, account: str) -> int:
        total = session.exec(
            select(func.coalesce(func.sum(Posting.amount_base_units), 0)).where(col(Posting.account) == account)
        ).one()
        return int(total)

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

    def entry(self, seq: int) -> JournalRecord | None:
        with self.session() as session:
            row = session.get(JournalEntry, seq)
            if row is None:
                return None
            return _record(row, self._postings_for(session, [seq]).get(seq, ()))

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

    def iter_records(self, page: int = _VERIFY_PAGE) -> Iterator[JournalRecord]:
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
        facts = [_Facts.of(record) for record in self.iter_records()]
        with self.session() as session:
            head_row = session.exec(
                select(JournalHead.seq, JournalHead.entry_hash).where(col(JournalHead.id) == HEAD_ID)
            ).first()
        head = None if head_row is None else (int(head_row[0]), str(head_row[1]))
        problems = _diagnose(facts, head)
        return VerifyResult(
            ok=not problems,
            entries=len(facts),
            head_hash=facts[-1].entry_hash if facts else GENESIS_HASH,
            problems=problems,
        )


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


@dataclass(frozen=True)
class _Facts:
    """What verify needs to know about one stored entry, computed once."""

    seq: int
    prev_hash: str
    entry_hash: str
    intact: bool  # stored hash matches its own prev_hash, seq, fields and postings
    written_as: int | None  # if not intact: the seq under which the stored hash does verify
    posting_sum: int
    posting_count: int

    @classmethod
    def of(cls, record: JournalRecord) -> _Facts:
        fields = hash_fields(record)
        intact = compute_hash(record.prev_hash, record.seq, fields, record.postings) == record.entry_hash
        written_as = None
        if not intact:
            for shift in range(1, _MAX_SHIFT_DETECTED + 1):
                for candidate in (record.seq + shift, record.seq - shift):
                    if candidate > 0 and (
                        compute_hash(record.prev_hash, candidate, fields, record.postings) == record.entry_hash
                    ):
                        written_as = candidate
                        break
                if written_as is not None:
                    break
        return cls(
            seq=record.seq,
            prev_hash=record.prev_hash,
            entry_hash=record.entry_hash,
            intact=intact,
            written_as=written_as,
            posting_sum=sum(p.amount_base_units for p in record.postings),
            posting_count=len(record.postings),
        )


def _diagnose(facts: list[_Facts], head: tuple[int, str] | None) -> list[tuple[int, str]]:
    """Turn per-entry facts into (seq, message) problems that name the culprit, not the symptoms."""
    problems: dict[int, list[str]] = {}

    def report(seq: int, message: str) -> None:
        if message not in problems.setdefault(seq, []):
            problems[seq].append(message)

    def hash_before(i: int) -> str:
        return facts[i - 1].entry_hash if i > 0 else GENESIS_HASH

    expected = 1
    skip_next = False
    previous_shift = 0
    for i, fact in enumerate(facts):
        gap = fact.seq > expected
        for missing in range(expected, fact.seq):
            report(missing, f"missing: entry deleted (seq {expected - 1} is followed by seq {fact.seq})")
        if fact.seq < expected:
            report(fact.seq, "duplicate seq")
        expected = max(expected, fact.seq + 1)
        if fact.posting_sum != 0 or fact.posting_count < 2:
            report(fact.seq, f"unbalanced: {fact.posting_count} postings sum to {fact.posting_sum}, not zero")
        if skip_next:
            skip_next = False
            continue
        shift = 0 if fact.written_as is None else fact.seq - fact.written_as
        if fact.intact:
            if i == 0 and fact.seq == 1 and fact.prev_hash != GENESIS_HASH:
                report(fact.seq, "hash rewritten: the first entry does not link to the genesis hash")
            elif fact.prev_hash != hash_before(i) and not gap and i > 0 and facts[i - 1].seq not in problems:
                report(
                    facts[i - 1].seq,
                    f"hash rewritten: seq {fact.seq} is chained to a different hash for seq {facts[i - 1].seq}",
                )
        elif fact.written_as is None:
            report(fact.seq, "edited: stored hash does not match the entry's fields and postings")
        elif (
            fact.written_as == fact.seq + 1
            and i + 1 < len(facts)
            and facts[i + 1].seq == fact.seq + 1
            and facts[i + 1].written_as == fact.seq
        ):
            report(fact.seq, f"reordered: entries at seq {fact.seq} and {fact.seq + 1} have swapped places")
            report(fact.seq + 1, f"reordered: entries at seq {fact.seq} and {fact.seq + 1} have swapped places")
            skip_next = True
        elif shift > 0 and shift != previous_shift:
            inserted_at = i - shift
            if inserted_at >= 0 and fact.prev_hash == hash_before(inserted_at):
                for j in range(inserted_at, i):
                    report(facts[j].seq, f"inserted: not in the chain (seq {fact.seq} links past it)")
            report(fact.seq, f"renumbered: written as seq {fact.written_as}; entries from here on moved up {shift}")
        elif shift < 0 and shift != previous_shift:
            report(
                fact.seq,
                f"deleted before this entry: it was written as seq {fact.written_as} and the entries "
                f"from here on were renumbered down {-shift}",
            )
        previous_shift = shift

    last_seq = facts[-1].seq if facts else 0
    if head is None:
        if facts:
            report(last_seq, "journal head row missing")
    else:
        head_seq, head_hash = head
        for fact in facts:
            if fact.seq > head_seq:
                report(fact.seq, f"inserted: beyond the journal head (seq {head_seq}), written without append")
        for seq in range(last_seq + 1, head_seq + 1):
            report(seq, f"missing: deleted from the end (the journal head says seq {head_seq})")
        at_head = next((f for f in reversed(facts) if f.seq == head_seq), None)
        if at_head is not None and at_head.entry_hash != head_hash:
            report(head_seq, "the journal head's hash does not match this entry's hash")
        if head_seq == 0 and head_hash != GENESIS_HASH:
            report(0, "the journal head's hash is not the genesis hash of an empty journal")
    return [(seq, message) for seq in sorted(problems) for message in problems[seq]]
