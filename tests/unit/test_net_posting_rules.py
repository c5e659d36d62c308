"""Net mode's posting rules without a chain: deposits, withdrawals and settled windows, table-driven.

The liquidity events fold their Transfer exactly as the escrow's do; a window is one entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from settlement.domain.chain_events import (
    DEPOSITED,
    NET_POSITION_APPLIED,
    TRANSFER,
    WINDOW_SETTLED,
    WITHDRAWN,
    ChainEvent,
)
from settlement.domain.journal import (
    SETTLEMENT_UNASSIGNED_ACCOUNT,
    EntryDraft,
    EntryKind,
    balances,
    settlement_account,
    wallet_account,
)
from settlement.domain.posting import PostingRules, window_description, window_id_of

CHAIN_ID = 31337
ESCROW, NET = "0x" + "e5" * 20, "0x" + "4e" * 20
ALICE, BOB, CAROL = "0x" + "a1" * 20, "0x" + "b2" * 20, "0x" + "c3" * 20
RULES = PostingRules(CHAIN_ID, ESCROW, NET.upper().replace("0X", "0x"))  # the manifest may spell it checksummed
W_ALICE, W_BOB = wallet_account(ALICE), wallet_account(BOB)
S_ALICE, S_BOB, S_CAROL = settlement_account(ALICE), settlement_account(BOB), settlement_account(CAROL)
UNASSIGNED = SETTLEMENT_UNASSIGNED_ACCOUNT
DEPOSIT, WITHDRAWAL, MOVE = EntryKind.DEPOSIT, EntryKind.WITHDRAWAL, EntryKind.TRANSFER

Log = tuple[str, dict[str, Any]]


def tr(sender: str, recipient: str, value_base_units: int) -> Log:
    return TRANSFER, {"from": sender, "to": recipient, "value": value_base_units}


def deposited(who: str, amount_base_units: int, after: int = 0) -> Log:
    return DEPOSITED, {"participant": who, "amount": amount_base_units, "balanceAfter": after}


def withdrawn(who: str, amount_base_units: int, after: int = 0) -> Log:
    return WITHDRAWN, {"participant": who, "amount": amount_base_units, "balanceAfter": after}


def applied(window: int, who: str, position: int) -> Log:
    return NET_POSITION_APPLIED, {"windowId": window, "participant": who, "position": position, "balanceAfter": 0}


def settled(window: int, participants: int) -> Log:
    return WINDOW_SETTLED, {"windowId": window, "tradesRoot": b"\x11" * 32, "tradeCount": 3, "participantCount": 3}


def one_tx(logs: Sequence[Log], tx: int = 1, block: int = 10) -> list[ChainEvent]:
    return [
        ChainEvent(name, args, block, f"0x{block:064x}", f"0x{tx:064x}", tx, i) for i, (name, args) in enumerate(logs)
    ]


Moves = tuple[str, str, str, int] | None


def _moves(draft: EntryDraft | None) -> Moves:
    if draft is None:
        return None
    (out,) = [p for p in draft.postings if p.amount_base_units < 0]
    (into,) = [p for p in draft.postings if p.amount_base_units > 0]
    return draft.kind, out.account, into.account, into.amount_base_units


# fmt: off
CASES: list[tuple[str, list[Log], list[Moves]]] = [
    ("deposit paired",            [tr(ALICE, NET, 50), deposited(ALICE, 50)],  [(DEPOSIT, W_ALICE, S_ALICE, 50)]),
    ("withdrawal paired",         [tr(NET, ALICE, 20), withdrawn(ALICE, 20)],  [(WITHDRAWAL, S_ALICE, W_ALICE, 20)]),
    ("deposit unpaired",          [deposited(ALICE, 50)],                      [(DEPOSIT, UNASSIGNED, S_ALICE, 50)]),
    ("withdrawal unpaired",       [withdrawn(ALICE, 20)],                      [(WITHDRAWAL, S_ALICE, UNASSIGNED, 20)]),
    ("stray transfer into net",   [tr(BOB, NET, 5)],                           [(MOVE, W_BOB, UNASSIGNED, 5)]),
    ("stray transfer out of net", [tr(NET, BOB, 5)],                           [(MOVE, UNASSIGNED, W_BOB, 5)]),
    ("deposit: other payer",      [tr(BOB, NET, 50), deposited(ALICE, 50)],    [(MOVE, W_BOB, UNASSIGNED, 50), (DEPOSIT, UNASSIGNED, S_ALICE, 50)]),
    ("deposit: other amount",     [tr(ALICE, NET, 49), deposited(ALICE, 50)],  [(MOVE, W_ALICE, UNASSIGNED, 49), (DEPOSIT, UNASSIGNED, S_ALICE, 50)]),
    ("escrow transfer never pairs a deposit", [tr(ALICE, ESCROW, 50), deposited(ALICE, 50)],
     [(MOVE, W_ALICE, "escrow:unassigned", 50), (DEPOSIT, UNASSIGNED, S_ALICE, 50)]),
    ("two-party window",          [applied(3, ALICE, -70), applied(3, BOB, 70), settled(3, 2)], [(EntryKind.NET_SETTLEMENT, S_ALICE, S_BOB, 70)]),
    ("zero-sum window of zeros",  [applied(4, ALICE, 0), settled(4, 1)],       [None]),
]
# fmt: on


@pytest.mark.parametrize(("logs", "expected"), [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_each_net_event_moves_the_right_accounts(logs: list[Log], expected: list[Moves]) -> None:
    events = one_tx(logs)
    planned = RULES.plan(events, {})
    assert [_moves(p.draft) for p in planned] == expected
    assert sorted(log.log_index for p in planned for log in p.logs) == [e.log_index for e in events]


def test_a_window_is_one_balanced_entry_tagged_with_its_id_consuming_every_log() -> None:
    events = one_tx([applied(9, ALICE, -700), applied(9, BOB, 450), applied(9, CAROL, 250), settled(9, 3)], tx=5)
    (entry,) = RULES.plan(events, {})
    assert entry.draft is not None and entry.draft.kind == EntryKind.NET_SETTLEMENT
    assert balances(entry.draft.postings) == {S_ALICE: -700, S_BOB: 450, S_CAROL: 250}
    assert entry.logs == tuple(events)
    assert entry.draft.log_index == 3 and entry.draft.tx_hash == events[0].tx_hash  # WindowSettled's
    assert entry.draft.description.startswith(window_description(9) + ":")
    assert window_id_of(entry.draft.description) == 9
    assert window_id_of("lock 1 trade x") is None


def test_net_events_are_ignored_as_coins_without_a_net_contract() -> None:
    """A deployment without SettlementNet: transfers to that address are ordinary wallets."""
    rules = PostingRules(CHAIN_ID, ESCROW)
    (entry,) = rules.plan(one_tx([tr(ALICE, NET, 5)]), {})
    assert _moves(entry.draft) == (MOVE, W_ALICE, wallet_account(NET), 5)


def test_deposits_then_a_window_then_withdrawals_keep_the_books_on_the_chain() -> None:
    txs = [
        [tr(ALICE, NET, 1_000), deposited(ALICE, 1_000)],
        [tr(BOB, NET, 500), deposited(BOB, 500)],
        [applied(1, ALICE, -300), applied(1, BOB, 300), settled(1, 2)],
        [tr(NET, BOB, 800), withdrawn(BOB, 800)],
    ]
    events = [e for n, logs in enumerate(txs) for e in one_tx(logs, tx=n + 1, block=10 + n)]
    drafts = [p.draft for p in RULES.plan(events, {}) if p.draft is not None]
    books = balances(p for d in drafts for p in d.postings)
    assert {k: v for k, v in books.items() if v} == {W_ALICE: -1_000, W_BOB: 300, S_ALICE: 700}


# ---------------------------------------------------------------------------- reference model

BROKERS = (ALICE, BOB, CAROL)
FUNDING = 10_000

net_actions = st.lists(
    st.tuples(
        st.sampled_from(["deposit", "deposit", "withdraw", "window", "stray", "transfer"]),
        st.integers(0, len(BROKERS) - 1),
        st.integers(0, len(BROKERS) - 1),
        st.integers(0, 2_000),
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(net_actions)
def test_net_posting_rules_agree_with_the_contract_s_balances(plan: list[tuple[str, int, int, int]]) -> None:
    """Play actions against a model of the token and SettlementNet, emit the logs they would, and
    check the books: each settlement account is the contract's balance, the wallets are the
    token's, and everything the contract holds is in settlement:*."""
    wallets = dict.fromkeys(BROKERS, FUNDING)
    in_net = dict.fromkeys(BROKERS, 0)
    stray, txs, windows = 0, [], 0
    for kind, a, b, amount in plan:
        who, other = BROKERS[a], BROKERS[b]
        if kind == "deposit" and (amount := min(amount, wallets[who])) > 0:
            wallets[who] -= amount
            in_net[who] += amount
            txs.append([tr(who, NET, amount), deposited(who, amount, in_net[who])])
        elif kind == "withdraw" and (amount := min(amount, in_net[who])) > 0:
            in_net[who] -= amount
            wallets[who] += amount
            txs.append([tr(NET, who, amount), withdrawn(who, amount, in_net[who])])
        elif kind == "window" and who != other and (amount := min(amount, in_net[who])) > 0:
            windows += 1
            in_net[who] -= amount
            in_net[other] += amount
            ordered = sorted([(who, -amount), (other, amount)])
            txs.append([*(applied(windows, p, q) for p, q in ordered), settled(windows, 2)])
        elif kind == "stray" and (amount := min(amount, wallets[who])) > 0:
            wallets[who] -= amount
            stray += amount
            txs.append([tr(who, NET, amount)])
        elif kind == "transfer" and (amount := min(amount, wallets[who])) > 0:
            wallets[who] -= amount
            wallets[other] += amount
            txs.append([tr(who, other, amount)])
    events = [e for n, logs in enumerate(txs) for e in one_tx(logs, tx=n + 1, block=10 + n)]
    planned = RULES.plan(events, {})
    assert sorted((log.tx_hash, log.log_index) for p in planned for log in p.logs) == sorted(
        (e.tx_hash, e.log_index) for e in events
    )
    books = balances(p for d in (p.draft for p in planned) if d is not None for p in d.postings)
    for broker in BROKERS:
        assert books.get(settlement_account(broker), 0) == in_net[broker]
        assert FUNDING + books.get(wallet_account(broker), 0) == wallets[broker]
    assert books.get(UNASSIGNED, 0) == stray
    kinds = [p.draft.kind for p in planned if p.draft is not None]
    assert kinds.count(EntryKind.NET_SETTLEMENT) == windows
