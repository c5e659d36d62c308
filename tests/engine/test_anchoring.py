"""The journal anchored on chain: a rewrite with recomputed hashes passes the hash chain but not the anchors."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from settlement.config import Settings
from settlement.domain.access import Actor
from settlement.domain.journal import Posting as DraftPosting
from settlement.domain.journal import client_account
from settlement.ledger.journal_store import compute_hash, hash_fields
from settlement.service import SettlementService
from settlement.testing.devnet import Devnet
from tests.engine.conftest import Brokers, make_settings

pytestmark = pytest.mark.chain

OPERATOR = Actor.operator()
COINS = 10**6


def _clients_funded(service: SettlementService, brokers: Brokers) -> tuple[str, str]:
    """Two clients of one broker, each allocated coins: the sub-ledger a rewrite would move money in."""
    service.index()  # the broker's minted coins are in the ledger before they are allocated
    alice = service.add_client(OPERATOR, brokers.hk.id, "alice").id
    bob = service.add_client(OPERATOR, brokers.hk.id, "bob").id
    service.allocate(OPERATOR, brokers.hk.id, alice, 300_000 * COINS)
    service.allocate(OPERATOR, brokers.hk.id, bob, 10_000 * COINS)
    return alice, bob


def _move_between_clients(engine: Engine, seq: int, from_account: str, to_account: str) -> None:
    """What someone with write access to the database does: edit one entry's postings, then
    recompute that entry's hash, every later hash, and the head, with the journal's own hash rule."""
    with engine.begin() as conn:
        entries = [dict(r) for r in conn.execute(sa.text("SELECT * FROM journal_entry ORDER BY seq")).mappings()]
        postings: dict[int, list[DraftPosting]] = {}
        for row in conn.execute(sa.text("SELECT entry_seq, account, amount_base_units FROM posting")).mappings():
            postings.setdefault(int(row["entry_seq"]), []).append(
                DraftPosting(str(row["account"]), int(row["amount_base_units"]))
            )
        conn.execute(
            sa.text("UPDATE posting SET account = :to WHERE entry_seq = :seq AND account = :frm"),
            {"to": to_account, "seq": seq, "frm": from_account},
        )
        postings[seq] = [
            DraftPosting(to_account if p.account == from_account else p.account, p.amount_base_units)
            for p in postings[seq]
        ]
        prev: str | None = None
        for entry in entries:
            if entry["seq"] < seq:
                continue
            entry_any: dict[str, Any] = entry
            prev = entry_any["prev_hash"] if prev is None else prev
            new_hash = compute_hash(prev, entry_any["seq"], hash_fields(entry_any), postings[entry_any["seq"]])
            conn.execute(
                sa.text("UPDATE journal_entry SET prev_hash = :p, entry_hash = :h WHERE seq = :s"),
                {"p": prev, "h": new_hash, "s": entry_any["seq"]},
            )
            prev = new_hash
        conn.execute(sa.text("UPDATE journal_head SET entry_hash = :h"), {"h": prev})


def test_a_rewrite_before_the_last_anchor_is_caught(service: SettlementService, brokers: Brokers) -> None:
    alice, bob = _clients_funded(service, brokers)
    anchored = service.anchor_journal(OPERATOR)
    assert anchored is not None and anchored.sequence == service.journal.head()[0]
    alice_entry = next(
        r for r in service.journal.iter_records() if any(p.account == client_account(alice) for p in r.postings)
    )
    assert alice_entry.seq <= anchored.sequence

    _move_between_clients(service.db, alice_entry.seq, client_account(alice), client_account(bob))

    assert service.journal.balance(client_account(bob)) == 310_000 * COINS  # the money moved ...
    assert service.journal.verify().ok  # ... and the hash chain alone does not see it
    result = service.verify_journal(OPERATOR)
    assert not result.ok
    assert result.anchors_checked == 1
    assert any(seq == anchored.sequence and "rewritten after anchoring" in msg for seq, msg in result.problems)


def test_entries_after_the_last_anchor_are_only_hash_chained(service: SettlementService, brokers: Brokers) -> None:
    """The documented limit: what was written after the last anchor is protected by the hash chain
    alone, so anchor often (the worker's timer, every window close)."""
    _clients_funded(service, brokers)
    service.anchor_journal(OPERATOR)
    carol = service.add_client(OPERATOR, brokers.hk.id, "carol").id
    dave = service.add_client(OPERATOR, brokers.hk.id, "dave").id
    service.allocate(OPERATOR, brokers.hk.id, carol, 5 * COINS)
    service.allocate(OPERATOR, brokers.hk.id, dave, 5 * COINS)
    late_seq = service.journal.head()[0] - 1
    _move_between_clients(service.db, late_seq, client_account(carol), client_account(dave))
    assert service.verify_journal(OPERATOR).ok


def test_anchors_are_signed_by_their_own_key_and_only_when_the_head_moved(
    service: SettlementService, brokers: Brokers, isolated_devnet: Devnet
) -> None:
    _clients_funded(service, brokers)
    first = service.anchor_journal(OPERATOR)
    assert first is not None
    assert service.anchor_journal(OPERATOR) is None  # nothing new: no second anchor for the same head
    anchors = service.journal_anchors(OPERATOR)
    assert [a.sequence for a in anchors] == [first.sequence]
    manifest = isolated_devnet.manifest
    assert manifest.anchorer is not None and manifest.ledger_anchor is not None
    assert manifest.anchorer.address.lower() != manifest.agent.address.lower()
    w3 = isolated_devnet.chain().w3
    contract = w3.eth.contract(
        address=w3.to_checksum_address(manifest.ledger_anchor.address), abi=manifest.ledger_anchor.abi
    )
    logs = contract.events.JournalAnchored().get_logs(from_block=0)
    tx = w3.eth.get_transaction(logs[-1]["transactionHash"])
    assert tx["from"].lower() == manifest.anchorer.address.lower()


def test_the_worker_anchors_on_its_timer(isolated_devnet: Devnet, db_url: str, tmp_path: Any) -> None:
    settings: Settings = make_settings(isolated_devnet, db_url, tmp_path, anchor_interval_s=0.001)
    service = SettlementService(settings, manifest=isolated_devnet.manifest)
    try:
        service.participants.register("Harbour Securities", "HK")
        service.index()
        service.run_cycle()
        anchors = service.journal_anchors(OPERATOR)
        assert anchors and anchors[-1].sequence == service.journal.head()[0]
        assert service.verify_journal(OPERATOR).ok
    finally:
        service.close()
