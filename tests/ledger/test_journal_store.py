"""The SQL journal: balanced, append-only, serialised, and verify() names the tampered entry."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from settlement import errors
from settlement.domain.journal import (
    SUPPLY_ACCOUNT,
    EntryDraft,
    EntryKind,
    Posting,
    client_account,
    transfer,
    wallet_account,
)
from settlement.ledger.journal_store import JournalStore, compute_hash, hash_fields
from tests.ledger.factories import add_client, add_participant

ALICE = "0x00000000000000000000000000000000000a11ce"
BOB = "0x0000000000000000000000000000000000000b0b"

# ---------------------------------------------------------------------------- properties

_accounts = st.sampled_from(["wallet:a", "wallet:b", "client:c", "escrow:d", SUPPLY_ACCOUNT])
_amounts = st.integers(min_value=-(10**15), max_value=10**15)


@st.composite
def balanced_drafts(draw: st.DrawFn) -> EntryDraft:
    legs = draw(st.lists(st.tuples(_accounts, _amounts), min_size=1, max_size=4))
    postings = [Posting(account, amount) for account, amount in legs]
    postings.append(Posting(draw(_accounts), -sum(p.amount_base_units for p in postings)))
    return EntryDraft(kind=draw(st.sampled_from([EntryKind.TRANSFER, EntryKind.MINT])), postings=tuple(postings))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drafts=st.lists(balanced_drafts(), min_size=1, max_size=6))
def test_any_balanced_entries_keep_every_entry_and_the_total_at_zero(
    journal: JournalStore, drafts: list[EntryDraft]
) -> None:
    before, _ = journal.head()
    for draft in drafts:
        journal.append(draft)
    written = journal.entries(after_seq=before, limit=len(drafts) + 1)
    assert [r.seq for r in written] == list(range(before + 1, before + len(drafts) + 1))
    assert all(sum(p.amount_base_units for p in r.postings) == 0 for r in written)
    assert sum(journal.balances().values()) == 0
    result = journal.verify()
    assert result.ok, result.problems
    assert result.head_hash == journal.head()[1]


def test_an_unbalanced_entry_never_reaches_the_store() -> None:
    with pytest.raises(errors.UnbalancedEntry):
        EntryDraft(kind=EntryKind.TRANSFER, postings=(Posting("wallet:a", 5), Posting("wallet:b", -4)))


# ---------------------------------------------------------------------------- tamper evidence

ENTRIES = 6


def _fill(journal: JournalStore) -> None:
    journal.append(EntryDraft(kind=EntryKind.MINT, postings=transfer(SUPPLY_ACCOUNT, wallet_account(ALICE), 1_000)))
    for n in range(2, ENTRIES + 1):
        journal.append(
            EntryDraft(
                kind=EntryKind.TRANSFER,
                postings=transfer(wallet_account(ALICE), wallet_account(BOB), n),
                description=f"payment {n}",
            )
        )


Rows = list[dict[str, Any]]


def _rewrite(engine: Engine, change: Callable[[Rows, Rows], None]) -> None:
    """Read every entry and posting, let `change` edit them, and write them all back (raw SQL)."""
    with engine.begin() as conn:
        entries = [dict(r) for r in conn.execute(sa.text("SELECT * FROM journal_entry ORDER BY seq")).mappings()]
        postings = [dict(r) for r in conn.execute(sa.text("SELECT * FROM posting ORDER BY id")).mappings()]
        for posting in postings:  # raw SQL: the amount is decimal text on SQLite, NUMERIC on PostgreSQL
            posting["amount_base_units"] = int(posting["amount_base_units"])
        conn.execute(sa.text("DELETE FROM posting"))
        conn.execute(sa.text("DELETE FROM journal_entry"))
        change(entries, postings)
        for row in entries:
            conn.execute(sa.text(f"INSERT INTO journal_entry ({', '.join(row)}) VALUES (:{', :'.join(row)})"), row)
        for posting in postings:
            posting.pop("id")
            conn.execute(
                sa.text("INSERT INTO posting (entry_seq, account, amount_base_units) VALUES (:s, :a, :m)"),
                {"s": posting["entry_seq"], "a": posting["account"], "m": posting["amount_base_units"]},
            )


def _forged(entries: Rows, seq: int, prev_hash: str) -> tuple[dict[str, Any], Rows]:
    """A well-formed entry whose hash is right for its place: what a careful forger would write."""
    template = dict(entries[0], seq=seq, prev_hash=prev_hash, description="forged", kind=EntryKind.TRANSFER)
    legs = ((wallet_account(BOB), -7), (wallet_account(ALICE), 7))
    postings: Rows = [{"id": 0, "entry_seq": seq, "account": a, "amount_base_units": m} for a, m in legs]
    template["entry_hash"] = compute_hash(
        prev_hash, seq, hash_fields(template), [Posting(p["account"], p["amount_base_units"]) for p in postings]
    )
    return template, postings


def _renumber(entries: Rows, postings: Rows, from_seq: int, by: int) -> None:
    for row in entries:
        if row["seq"] >= from_seq:
            row["seq"] += by
    for posting in postings:
        if posting["entry_seq"] >= from_seq:
            posting["entry_seq"] += by


def _insert_in_middle(entries: Rows, postings: Rows) -> None:
    _renumber(entries, postings, 3, 1)
    row, legs = _forged(entries, 3, entries[1]["entry_hash"])
    entries.insert(2, row)
    postings.extend(legs)


def _delete_and_renumber(entries: Rows, postings: Rows) -> None:
    entries[:] = [r for r in entries if r["seq"] != 3]
    postings[:] = [p for p in postings if p["entry_seq"] != 3]
    _renumber(entries, postings, 4, -1)


def _swap_3_and_4(entries: Rows, postings: Rows) -> None:
    for row in entries:
        row["seq"] = {3: 4, 4: 3}.get(row["seq"], row["seq"])
    for posting in postings:
        posting["entry_seq"] = {3: 4, 4: 3}.get(posting["entry_seq"], posting["entry_seq"])


def _rehash_4(entries: Rows, postings: Rows) -> None:
    row = entries[3]
    row["description"] = "quietly changed"
    legs = [Posting(p["account"], p["amount_base_units"]) for p in postings if p["entry_seq"] == 4]
    row["entry_hash"] = compute_hash(row["prev_hash"], 4, hash_fields(row), legs)


def _append_behind_head(entries: Rows, postings: Rows) -> None:
    row, legs = _forged(entries, ENTRIES + 1, entries[-1]["entry_hash"])
    entries.append(row)
    postings.extend(legs)


def _sql(*statements: str) -> Callable[[Engine], None]:
    def run(engine: Engine) -> None:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(sa.text(statement))

    return run


def _rows(change: Callable[[Rows, Rows], None]) -> Callable[[Engine], None]:
    return lambda engine: _rewrite(engine, change)


TAMPERING: list[tuple[str, Callable[[Engine], None], int, str]] = [
    # name, what was done behind the ledger's back, the seq verify must name, a word it must say
    ("edited amount", _sql("UPDATE posting SET amount_base_units = amount_base_units * 2 WHERE entry_seq = 3"), 3, "edited"),
    ("edited field", _sql("UPDATE journal_entry SET description = 'nothing to see' WHERE seq = 4"), 4, "edited"),
    ("edited trade id", _sql("UPDATE journal_entry SET trade_id = 'someone-else' WHERE seq = 2"), 2, "edited"),
    ("unbalanced leg", _sql("UPDATE posting SET amount_base_units = 0 WHERE entry_seq = 5 AND amount_base_units > 0"), 5, "unbalanced"),
    ("deleted entry", _sql("DELETE FROM posting WHERE entry_seq = 3", "DELETE FROM journal_entry WHERE seq = 3"), 3, "missing"),
    ("deleted last entry", _sql("DELETE FROM posting WHERE entry_seq = 6", "DELETE FROM journal_entry WHERE seq = 6"), 6, "missing"),
    ("deleted and renumbered", _rows(_delete_and_renumber), 3, "deleted"),
    ("inserted in the middle", _rows(_insert_in_middle), 3, "inserted"),
    ("inserted behind the head", _rows(_append_behind_head), ENTRIES + 1, "inserted"),
    ("swapped pair", _rows(_swap_3_and_4), 3, "reordered"),
    ("rewritten with a fresh hash", _rows(_rehash_4), 4, "rewritten"),
    ("head moved", _sql("UPDATE journal_head SET entry_hash = 'ff' WHERE id = 1"), ENTRIES, "head"),
]  # fmt: skip


@pytest.mark.parametrize(("tamper", "seq", "word"), [case[1:] for case in TAMPERING], ids=[c[0] for c in TAMPERING])
def test_verify_names_the_tampered_entry(
    engine: Engine, journal: JournalStore, tamper: Callable[[Engine], None], seq: int, word: str
) -> None:
    _fill(journal)
    assert journal.verify().ok
    tamper(engine)
    result = journal.verify()
    assert not result.ok
    first_seq, first_message = result.problems[0]
    assert first_seq == seq, result.problems
    assert word in first_message, result.problems


# ---------------------------------------------------------------------------- reading


def test_entries_paginate_by_cursor_and_filter_by_account(journal: JournalStore) -> None:
    _fill(journal)
    journal.append(EntryDraft(kind=EntryKind.MINT, postings=transfer(SUPPLY_ACCOUNT, wallet_account(BOB), 5)))
    pages, after = [], None
    while page := journal.entries(account=wallet_account(BOB), after_seq=after, limit=2):
        pages.append([r.seq for r in page])
        after = page[-1].seq
    assert pages == [[2, 3], [4, 5], [6, 7]]
    assert journal.balances(prefix="wallet:") == {wallet_account(ALICE): 1_000 - 20, wallet_account(BOB): 25}
    assert journal.balance(SUPPLY_ACCOUNT) == -1_005
    assert journal.balance("wallet:nobody") == 0


def test_an_append_in_a_rolled_back_caller_transaction_leaves_nothing(journal: JournalStore) -> None:
    draft = EntryDraft(kind=EntryKind.MINT, postings=transfer(SUPPLY_ACCOUNT, wallet_account(ALICE), 9))
    with journal.session() as session:
        session.begin()
        assert journal.append(draft, session=session).seq == 1
        session.rollback()
    assert journal.head()[0] == 0
    assert journal.append(draft).seq == 1


def test_concurrent_appenders_get_a_gap_free_unforked_chain(journal: JournalStore) -> None:
    threads, per_thread = 4, 15
    failures: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(per_thread):
                journal.append(EntryDraft(kind=EntryKind.TRANSFER, postings=transfer("wallet:a", "wallet:b", 1)))
        except BaseException as exc:  # surfaced below, with the thread's traceback
            failures.append(exc)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not failures
    result = journal.verify()
    assert result.ok, result.problems
    assert result.entries == threads * per_thread
    assert journal.balance("wallet:b") == threads * per_thread


# ---------------------------------------------------------------------------- allocation


def test_allocate_and_deallocate_move_money_inside_the_omnibus_wallet(engine: Engine, journal: JournalStore) -> None:
    broker = add_participant(engine, ALICE)
    client = add_client(engine, broker, "Client One")
    journal.append(EntryDraft(kind=EntryKind.MINT, postings=transfer(SUPPLY_ACCOUNT, wallet_account(ALICE), 100)))

    entry = journal.allocate(ALICE.upper().replace("0X", "0x"), client.id, 60)
    assert entry.kind == EntryKind.ALLOCATION
    assert journal.balance(wallet_account(ALICE)) == 40
    assert journal.balance(client_account(client.id)) == 60
    with pytest.raises(errors.InsufficientFunds):
        journal.allocate(ALICE, client.id, 41)
    with pytest.raises(errors.InsufficientFunds):
        journal.move_within_omnibus(ALICE, client.id, 61, to_client=False)
    journal.move_within_omnibus(ALICE, client.id, 60, to_client=False)
    assert journal.balance(wallet_account(ALICE)) == 100
    assert journal.balance(client_account(client.id)) == 0
    assert journal.verify().ok


def test_allocate_refuses_unknown_or_foreign_clients(engine: Engine, journal: JournalStore) -> None:
    alice, bob = add_participant(engine, ALICE), add_participant(engine, BOB)
    bobs_client = add_client(engine, bob, "Bob's client")
    with pytest.raises(errors.UnknownClientAccount):
        journal.allocate(ALICE, bobs_client.id, 1)
    with pytest.raises(errors.UnknownClientAccount):
        journal.allocate(ALICE, "no-such-client", 1)
    with pytest.raises(errors.UnknownParticipant):
        journal.allocate("0x" + "12" * 20, bobs_client.id, 1)
    with pytest.raises(errors.NonPositiveValue):
        journal.allocate(alice.address, bobs_client.id, 0)
    assert journal.head()[0] == 0


def test_concurrent_allocations_never_overdraw_the_wallet(engine: Engine, journal: JournalStore) -> None:
    broker = add_participant(engine, ALICE)
    client = add_client(engine, broker, "Client One")
    journal.append(EntryDraft(kind=EntryKind.MINT, postings=transfer(SUPPLY_ACCOUNT, wallet_account(ALICE), 100)))
    outcomes: list[str] = []

    def take() -> None:
        try:
            journal.allocate(ALICE, client.id, 30)
            outcomes.append("ok")
        except errors.InsufficientFunds:
            outcomes.append("refused")

    workers = [threading.Thread(target=take) for _ in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sorted(outcomes) == ["ok"] * 3 + ["refused"] * 3
    assert journal.balance(wallet_account(ALICE)) == 10
