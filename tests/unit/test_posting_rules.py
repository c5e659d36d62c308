"""Posting rules without a chain: a table of every event kind, and a property test against a reference model.

The reference model (TigerBeetle's auditor idea) books the economic actions directly, without
looking at logs; the posting rules only see the logs the chain would emit for those actions.
Agreement between the two is evidence the rules neither lose, double nor misroute coins.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from settlement.domain.chain_events import LOCKED, RECOVERED, REFUNDED, RELEASED, TRANSFER, ChainEvent
from settlement.domain.journal import (
    ESCROW_UNASSIGNED_ACCOUNT,
    SUPPLY_ACCOUNT,
    EntryDraft,
    EntryKind,
    balances,
    client_account,
    escrow_account,
    wallet_account,
)
from settlement.domain.posting import ZERO_ADDRESS, PlannedEntry, PostingRules, TradeParties, escrow_trade_keys

CHAIN_ID = 31337
ESCROW = "0x" + "e5" * 20
ALICE, BOB, CAROL = "0x" + "a1" * 20, "0x" + "b2" * 20, "0x" + "c3" * 20
RULES = PostingRules(CHAIN_ID, ESCROW.upper().replace("0X", "0x"))  # the manifest may spell it checksummed

WITH_CLIENTS, NO_CLIENTS, UNKNOWN = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32
TRADES = {
    "0x" + WITH_CLIENTS.hex(): TradeParties("trade-clients", buyer_client_id="buyer-c", seller_client_id="seller-c"),
    "0x" + NO_CLIENTS.hex(): TradeParties("trade-plain", buyer_client_id=None, seller_client_id=None),
}

W_ALICE, W_BOB, W_CAROL = wallet_account(ALICE), wallet_account(BOB), wallet_account(CAROL)
C_BUYER, C_SELLER = client_account("buyer-c"), client_account("seller-c")
E_CLIENTS, E_PLAIN, E_UNKNOWN = (escrow_account("0x" + k.hex()) for k in (WITH_CLIENTS, NO_CLIENTS, UNKNOWN))
SUPPLY, UNASSIGNED = SUPPLY_ACCOUNT, ESCROW_UNASSIGNED_ACCOUNT
MINT, BURN, MOVE = EntryKind.MINT, EntryKind.BURN, EntryKind.TRANSFER
LOCK, RELEASE, REFUND = EntryKind.LOCK, EntryKind.RELEASE, EntryKind.REFUND

Log = tuple[str, dict[str, Any]]


# Logs as EventDecoder yields them: lowercase addresses, int amounts, bytes32 trade ids.
def tr(sender: str, recipient: str, value_base_units: int) -> Log:
    return TRANSFER, {"from": sender, "to": recipient, "value": value_base_units}


def locked(trade: bytes, payer: str, payee: str, amount_base_units: int) -> Log:
    args = {"tradeId": trade, "payer": payer, "payee": payee, "amount": amount_base_units, "deadline": 2_000_000_000}
    return LOCKED, args


def released(trade: bytes, payee: str, amount_base_units: int) -> Log:
    return RELEASED, {"tradeId": trade, "payee": payee, "amount": amount_base_units}


def refunded(trade: bytes, payer: str, amount_base_units: int) -> Log:
    return REFUNDED, {"tradeId": trade, "payer": payer, "amount": amount_base_units, "by": ESCROW}


def recovered(trade: bytes, to: str, amount_base_units: int) -> Log:
    return RECOVERED, {"tradeId": trade, "to": to, "amount": amount_base_units}


def one_tx(logs: Sequence[Log], tx: int = 1, block: int = 10, first_log_index: int = 0) -> list[ChainEvent]:
    return [
        ChainEvent(name, args, block, f"0x{block:064x}", f"0x{tx:064x}", tx, first_log_index + i)
        for i, (name, args) in enumerate(logs)
    ]


Expected = tuple[str, str, str, int, str | None] | None  # kind, from, to, amount, trade_id; None: no entry


def _moves(draft: EntryDraft | None) -> Expected:
    """A draft as (kind, from_account, to_account, amount, trade_id), checking it balances."""
    if draft is None:
        return None
    assert sum(p.amount_base_units for p in draft.postings) == 0
    (out,) = [p for p in draft.postings if p.amount_base_units < 0]
    (into,) = [p for p in draft.postings if p.amount_base_units > 0]
    return draft.kind, out.account, into.account, into.amount_base_units, draft.trade_id


# fmt: off
CASES: list[tuple[str, list[Log], list[Expected]]] = [
    ("mint",                       [tr(ZERO_ADDRESS, ALICE, 100)],                              [(MINT, SUPPLY, W_ALICE, 100, None)]),
    ("burn",                       [tr(ALICE, ZERO_ADDRESS, 40)],                               [(BURN, W_ALICE, SUPPLY, 40, None)]),
    ("transfer",                   [tr(ALICE, BOB, 7)],                                         [(MOVE, W_ALICE, W_BOB, 7, None)]),
    ("zero-value transfer",        [tr(ALICE, BOB, 0)],                                         [None]),
    ("lock paired",                [tr(ALICE, ESCROW, 30), locked(NO_CLIENTS, ALICE, BOB, 30)], [(LOCK, W_ALICE, E_PLAIN, 30, "trade-plain")]),
    ("release paired",             [tr(ESCROW, BOB, 30), released(NO_CLIENTS, BOB, 30)],        [(RELEASE, E_PLAIN, W_BOB, 30, "trade-plain")]),
    ("refund paired",              [tr(ESCROW, ALICE, 30), refunded(NO_CLIENTS, ALICE, 30)],    [(REFUND, E_PLAIN, W_ALICE, 30, "trade-plain")]),
    ("lock unpaired",              [locked(NO_CLIENTS, ALICE, BOB, 30)],                        [(LOCK, UNASSIGNED, E_PLAIN, 30, "trade-plain")]),
    ("release unpaired",           [released(NO_CLIENTS, BOB, 30)],                             [(RELEASE, E_PLAIN, UNASSIGNED, 30, "trade-plain")]),
    ("refund unpaired",            [refunded(NO_CLIENTS, ALICE, 30)],                           [(REFUND, E_PLAIN, UNASSIGNED, 30, "trade-plain")]),
    ("stray transfer into escrow", [tr(ALICE, ESCROW, 5)],                                      [(MOVE, W_ALICE, UNASSIGNED, 5, None)]),
    ("stray transfer from escrow", [tr(ESCROW, BOB, 5)],                                        [(MOVE, UNASSIGNED, W_BOB, 5, None)]),
    ("lock from buyer's client",   [tr(ALICE, ESCROW, 30), locked(WITH_CLIENTS, ALICE, BOB, 30)], [(LOCK, C_BUYER, E_CLIENTS, 30, "trade-clients")]),
    ("release to seller's client", [tr(ESCROW, BOB, 30), released(WITH_CLIENTS, BOB, 30)],     [(RELEASE, E_CLIENTS, C_SELLER, 30, "trade-clients")]),
    ("refund to buyer's client",   [tr(ESCROW, ALICE, 30), refunded(WITH_CLIENTS, ALICE, 30)], [(REFUND, E_CLIENTS, C_BUYER, 30, "trade-clients")]),
    ("lock of unknown trade",      [tr(ALICE, ESCROW, 30), locked(UNKNOWN, ALICE, BOB, 30)],    [(LOCK, W_ALICE, E_UNKNOWN, 30, None)]),
    ("release of unknown trade",   [tr(ESCROW, BOB, 30), released(UNKNOWN, BOB, 30)],           [(RELEASE, E_UNKNOWN, W_BOB, 30, None)]),
    ("refund of unknown trade",    [tr(ESCROW, ALICE, 30), refunded(UNKNOWN, ALICE, 30)],       [(REFUND, E_UNKNOWN, W_ALICE, 30, None)]),
    ("recovery paired",            [tr(ESCROW, CAROL, 30), recovered(NO_CLIENTS, CAROL, 30)],   [(EntryKind.RECOVERY, E_PLAIN, W_CAROL, 30, "trade-plain")]),
    ("recovery unpaired",          [recovered(NO_CLIENTS, CAROL, 30)],                          [(EntryKind.RECOVERY, E_PLAIN, UNASSIGNED, 30, "trade-plain")]),
    ("amount mismatch: no pair",   [tr(ALICE, ESCROW, 29), locked(NO_CLIENTS, ALICE, BOB, 30)], [(MOVE, W_ALICE, UNASSIGNED, 29, None), (LOCK, UNASSIGNED, E_PLAIN, 30, "trade-plain")]),
    ("payer mismatch: no pair",    [tr(BOB, ESCROW, 30), locked(NO_CLIENTS, ALICE, BOB, 30)],   [(MOVE, W_BOB, UNASSIGNED, 30, None), (LOCK, UNASSIGNED, E_PLAIN, 30, "trade-plain")]),
    ("direction mismatch: no pair", [tr(ESCROW, ALICE, 30), locked(NO_CLIENTS, ALICE, BOB, 30)], [(MOVE, UNASSIGNED, W_ALICE, 30, None), (LOCK, UNASSIGNED, E_PLAIN, 30, "trade-plain")]),
    ("pairs the nearest Transfer",  [tr(ALICE, ESCROW, 5), tr(ALICE, ESCROW, 5), locked(NO_CLIENTS, ALICE, BOB, 5)], [(MOVE, W_ALICE, UNASSIGNED, 5, None), (LOCK, W_ALICE, E_PLAIN, 5, "trade-plain")]),
    ("batch of two locks",         [tr(ALICE, ESCROW, 10), locked(NO_CLIENTS, ALICE, BOB, 10), tr(ALICE, ESCROW, 20), locked(WITH_CLIENTS, ALICE, BOB, 20)], [(LOCK, W_ALICE, E_PLAIN, 10, "trade-plain"), (LOCK, C_BUYER, E_CLIENTS, 20, "trade-clients")]),
    ("log-index order kept",       [tr(ALICE, BOB, 1), tr(ALICE, ESCROW, 30), locked(NO_CLIENTS, ALICE, BOB, 30), tr(BOB, ALICE, 2)], [(MOVE, W_ALICE, W_BOB, 1, None), (LOCK, W_ALICE, E_PLAIN, 30, "trade-plain"), (MOVE, W_BOB, W_ALICE, 2, None)]),
]
# fmt: on


@pytest.mark.parametrize(
    ("logs", "expected"), [(logs, expected) for _, logs, expected in CASES], ids=[c[0] for c in CASES]
)
def test_each_event_kind_moves_the_right_accounts(logs: list[Log], expected: list[Expected]) -> None:
    events = one_tx(logs)
    planned = RULES.plan(events, TRADES)
    assert [_moves(p.draft) for p in planned] == expected
    assert sorted(log.log_index for p in planned for log in p.logs) == [e.log_index for e in events]


def test_a_paired_entry_carries_the_escrow_event_and_consumes_both_logs() -> None:
    events = one_tx([tr(ALICE, ESCROW, 30), locked(NO_CLIENTS, ALICE, BOB, 30)], tx=7, block=42, first_log_index=3)
    (entry,) = RULES.plan(events, TRADES)
    assert entry.logs == (events[0], events[1])
    assert entry.draft is not None
    assert (entry.draft.chain_id, entry.draft.block_number, entry.draft.tx_hash, entry.draft.log_index) == (
        CHAIN_ID,
        42,
        events[1].tx_hash,
        4,
    )
    assert entry.draft.block_hash == events[1].block_hash
    assert entry.draft.description == f"lock 0.00003 trade trade-plain: {W_ALICE} -> {E_PLAIN}"


def test_descriptions_name_the_chain_trade_id_when_the_trade_is_unknown() -> None:
    (entry,) = RULES.plan(one_tx([refunded(UNKNOWN, ALICE, 1_500_000)]), TRADES)
    assert entry.draft is not None
    assert entry.draft.description == f"refund 1.5 trade 0x{UNKNOWN.hex()}: {E_UNKNOWN} -> {UNASSIGNED}"
    (mint,) = RULES.plan(one_tx([tr(ZERO_ADDRESS, ALICE, 2_000_000)]), TRADES)
    assert mint.draft is not None
    assert mint.draft.description == f"mint 2: {SUPPLY} -> {W_ALICE}"


def test_an_escrow_transfer_never_pairs_with_an_event_of_another_tx() -> None:
    first = one_tx([tr(ALICE, ESCROW, 30)], tx=1)
    events = first + one_tx([locked(NO_CLIENTS, ALICE, BOB, 30)], tx=2, first_log_index=1)
    assert [_moves(p.draft) for p in RULES.plan(events, TRADES)] == [
        (MOVE, W_ALICE, UNASSIGNED, 30, None),
        (LOCK, UNASSIGNED, E_PLAIN, 30, "trade-plain"),
    ]


def test_the_trades_to_look_up_are_those_escrow_events_name() -> None:
    events = one_tx([tr(ALICE, ESCROW, 30), locked(NO_CLIENTS, ALICE, BOB, 30), released(UNKNOWN, BOB, 1)])
    assert escrow_trade_keys(events) == {"0x" + NO_CLIENTS.hex(), "0x" + UNKNOWN.hex()}


# ---------------------------------------------------------------------------- reference model

WALLETS = tuple("0x" + f"{n:02x}" * 20 for n in (0xA1, 0xB2, 0xC3))
CLIENTS_PER_WALLET = 2
AMOUNT_BASE_UNITS_MAX = 1_000
FUNDING = 5 * AMOUNT_BASE_UNITS_MAX  # each wallet's opening mint, so most actions have coins to move


@dataclass(frozen=True)
class OpenLock:
    payer: str
    payee: str
    amount_base_units: int
    trade_id: str | None  # None: the database never heard of the trade
    buyer_account: str  # where a refund goes back to: the buyer's client if the trade names one
    seller_account: str  # where a release goes: the seller's client if the trade names one


@dataclass
class Model:
    """What the books must say, computed from the actions themselves (never from logs)."""

    ledger: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    chain: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))  # on-chain token balances
    entries: list[tuple[str, str | None]] = field(default_factory=list)  # (kind, trade_id), in chain order
    client_owner: dict[str, str] = field(default_factory=dict)  # client account -> its broker's wallet
    open_locks: dict[bytes, OpenLock] = field(default_factory=dict)
    trades_used: int = 0

    def book(self, kind: str, from_account: str, to_account: str, amount_base_units: int, trade_id: str | None) -> None:
        self.ledger[from_account] -= amount_base_units
        self.ledger[to_account] += amount_base_units
        if amount_base_units:
            self.entries.append((kind, trade_id))

    def chain_move(self, sender: str, recipient: str, amount_base_units: int) -> None:
        self.chain[sender] -= amount_base_units
        self.chain[recipient] += amount_base_units


@dataclass
class Scenario:
    txs: list[list[Log]]  # what the chain emits, one list of logs a tx
    trades: dict[str, TradeParties]  # what the database knows: the posting rules' other input
    model: Model


Action = tuple[str, int, int, int, int, int, bool, int]

# An action is a tuple of small ints; `_play` reads it against the model's state, so every
# generated sequence is one the chain accepts (no overdraft, release/refund only of open locks).
actions = st.lists(
    st.tuples(
        st.sampled_from(["mint", "burn", "transfer", "stray", "lock", "lock", "release", "refund"]),
        st.integers(0, len(WALLETS) - 1),
        st.integers(0, len(WALLETS) - 1),
        st.integers(0, AMOUNT_BASE_UNITS_MAX),
        st.integers(-1, CLIENTS_PER_WALLET - 1),  # buyer's client; -1: none
        st.integers(-1, CLIENTS_PER_WALLET - 1),  # seller's client; -1: none
        st.booleans(),  # the trade is in the database (else: unknown to the ledger)
        st.integers(0, 2),  # 0: starts a new tx, else joins the current one (a batch)
    ),
    max_size=40,
)


def _play(plan: list[Action]) -> Scenario:
    """Apply the actions to the model and render the logs the token and escrow would emit."""
    model, trades = Model(), dict[str, TradeParties]()
    txs: list[list[Log]] = [[tr(ZERO_ADDRESS, wallet, FUNDING) for wallet in WALLETS]]
    for wallet in WALLETS:
        model.chain_move(ZERO_ADDRESS, wallet, FUNDING)
        model.book(MINT, SUPPLY, wallet_account(wallet), FUNDING, None)
    for kind, a, b, amount, buyer_c, seller_c, known, join in plan:
        if join == 0:
            txs.append([])
        logs, sender, recipient = txs[-1], WALLETS[a], WALLETS[b]
        if kind == "mint":
            logs.append(tr(ZERO_ADDRESS, recipient, amount))
            model.chain_move(ZERO_ADDRESS, recipient, amount)
            model.book(MINT, SUPPLY, wallet_account(recipient), amount, None)
        elif kind == "burn":
            amount = min(amount, model.chain[sender])
            logs.append(tr(sender, ZERO_ADDRESS, amount))
            model.chain_move(sender, ZERO_ADDRESS, amount)
            model.book(BURN, wallet_account(sender), SUPPLY, amount, None)
        elif kind in ("transfer", "stray"):
            to = ESCROW if kind == "stray" else recipient
            amount = min(amount, model.chain[sender])
            logs.append(tr(sender, to, amount))
            model.chain_move(sender, to, amount)
            model.book(MOVE, wallet_account(sender), UNASSIGNED if to == ESCROW else wallet_account(to), amount, None)
        elif kind == "lock":
            _lock(model, trades, logs, a, b, amount, buyer_c, seller_c, known)
        elif model.open_locks:  # release or refund of one of the open locks
            trade = list(model.open_locks)[b % len(model.open_locks)]
            lock = model.open_locks.pop(trade)
            amount = lock.amount_base_units
            if kind == "release":
                to, target, entry_kind = lock.payee, lock.seller_account, RELEASE
                logs += [tr(ESCROW, lock.payee, amount), released(trade, lock.payee, amount)]
            else:
                to, target, entry_kind = lock.payer, lock.buyer_account, REFUND
                logs += [tr(ESCROW, lock.payer, amount), refunded(trade, lock.payer, amount)]
            model.chain_move(ESCROW, to, amount)
            model.book(entry_kind, escrow_account("0x" + trade.hex()), target, amount, lock.trade_id)
    return Scenario([tx for tx in txs if tx], trades, model)


def _lock(
    model: Model,
    trades: dict[str, TradeParties],
    logs: list[Log],
    a: int,
    b: int,
    amount: int,
    buyer_c: int,
    seller_c: int,
    known: bool,
) -> None:
    # The escrow refuses a zero amount and payer == payee, so the payee is one of the others.
    payer, payee = WALLETS[a], WALLETS[(a + 1 + b % 2) % len(WALLETS)]
    amount = min(amount, model.chain[payer])
    if amount == 0:
        return
    model.trades_used += 1
    trade = model.trades_used.to_bytes(32, "big")
    buyer = f"{payer}-client{buyer_c}" if buyer_c >= 0 else None
    seller = f"{payee}-client{seller_c}" if seller_c >= 0 else None
    trade_id = f"trade-{model.trades_used}" if known else None
    if trade_id is not None:
        trades["0x" + trade.hex()] = TradeParties(trade_id, buyer, seller)
    buyer_account = client_account(buyer) if trade_id and buyer else wallet_account(payer)
    seller_account = client_account(seller) if trade_id and seller else wallet_account(payee)
    for account, wallet in ((buyer_account, payer), (seller_account, payee)):
        if account != wallet_account(wallet):
            model.client_owner[account] = wallet
    model.open_locks[trade] = OpenLock(payer, payee, amount, trade_id, buyer_account, seller_account)
    logs += [tr(payer, ESCROW, amount), locked(trade, payer, payee, amount)]
    model.chain_move(payer, ESCROW, amount)
    model.book(LOCK, buyer_account, escrow_account("0x" + trade.hex()), amount, trade_id)


def _events(txs: list[list[Log]]) -> list[ChainEvent]:
    """Two txs a block, log indexes counted per block as the node does."""
    events: list[ChainEvent] = []
    for n, logs in enumerate(txs):
        block = 100 + n // 2
        first = 0 if n % 2 == 0 else len(txs[n - 1])
        events += one_tx(logs, tx=n + 1, block=block, first_log_index=first)
    return events


def _nonzero(accounts: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in accounts.items() if v}


@settings(max_examples=300, deadline=None)
@given(actions)
def test_posting_rules_agree_with_a_reference_model(plan: list[Action]) -> None:
    scenario = _play(plan)
    model, events = scenario.model, _events(scenario.txs)
    planned = RULES.plan(events, scenario.trades)
    drafts = [p.draft for p in planned if p.draft is not None]

    for draft in drafts:
        assert sum(p.amount_base_units for p in draft.postings) == 0
    posted = [(log.tx_hash, log.log_index) for p in planned for log in p.logs]
    assert len(posted) == len(set(posted)) == len(events)  # every log once, none twice
    assert all(
        p.draft is None for p in planned if any(log.name == TRANSFER and log.args["value"] == 0 for log in p.logs)
    )

    books = balances(posting for d in drafts for posting in d.postings)
    assert _nonzero(books) == _nonzero(model.ledger)
    assert [(d.kind, d.trade_id) for d in drafts] == model.entries

    # The auditor's view: the books agree with what the chain holds, whatever the rules did inside.
    assert -books.get(SUPPLY, 0) == sum(v for k, v in model.chain.items() if k != ZERO_ADDRESS)
    escrow_books = sum(v for k, v in books.items() if k.startswith("escrow:"))
    assert escrow_books == model.chain[ESCROW]
    locked_books = escrow_books - books.get(UNASSIGNED, 0)  # less coins sent to the escrow outside a lock
    assert locked_books == sum(lock.amount_base_units for lock in model.open_locks.values())
    for trade, lock in model.open_locks.items():
        assert books.get(escrow_account("0x" + trade.hex()), 0) == lock.amount_base_units
    for wallet in WALLETS:
        clients = sum(v for k, v in books.items() if model.client_owner.get(k) == wallet)
        assert books.get(wallet_account(wallet), 0) + clients == model.chain[wallet]


@settings(max_examples=100, deadline=None)
@given(actions)
def test_planning_block_by_block_gives_the_same_entries(plan: list[Action]) -> None:
    """The indexer plans one chunk of blocks at a time; where a chunk ends must not matter."""
    scenario = _play(plan)
    events = _events(scenario.txs)
    whole = RULES.plan(events, scenario.trades)
    by_block: list[PlannedEntry] = []
    for block in sorted({e.block_number for e in events}):
        by_block += RULES.plan([e for e in events if e.block_number == block], scenario.trades)
    assert by_block == whole
