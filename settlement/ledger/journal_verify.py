"""Verifying the journal's hash chain: recompute it from genesis and name what was changed.

Kept apart from the store that writes the journal; both use the one hash rule
(settlement.domain.journal.entry_hash via journal_store.compute_hash), so writer and verifier
cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from settlement.domain.journal import GENESIS_HASH
from settlement.ledger.journal_store import (
    JournalRecord,
    JournalStore,
    VerifyResult,
    compute_hash,
    hash_fields,
)

# Renumbering by more than this is reported as an edit rather than as a shift.
_SHIFT_DETECTED_MAX = 3


def verify_journal(store: JournalStore) -> VerifyResult:
    """Recompute the chain from genesis; name each entry that was edited, deleted, inserted or moved."""
    facts = [_Facts.of(record) for record in store.iter_records()]
    head = store.head_row()
    problems = _diagnose(facts, head)
    return VerifyResult(
        ok=not problems,
        entries=len(facts),
        head_hash=facts[-1].entry_hash if facts else GENESIS_HASH,
        problems=problems,
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
            for shift in range(1, _SHIFT_DETECTED_MAX + 1):
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
