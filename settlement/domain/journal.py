"""Double-entry journal rules and the tamper-evident hash chain (pure functions).

Sign convention: an account's balance is the sum of its postings; a holding is positive.
Counter-accounts such as the issuer's supply go negative. Every entry sums to zero.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from settlement.errors import UnbalancedEntry

GENESIS_HASH = "0" * 64

# Account names. A reader of the journal can tell whose money it is from the name alone.
WALLET_PREFIX = "wallet:"
CLIENT_PREFIX = "client:"
ESCROW_PREFIX = "escrow:"
SUPPLY_ACCOUNT = "issuer:supply"
ESCROW_UNASSIGNED_ACCOUNT = ESCROW_PREFIX + "unassigned"
SETTLEMENT_PREFIX = "settlement:"
# Coins the net settlement contract holds beyond every settlement balance (sent to it directly).
SETTLEMENT_UNASSIGNED_ACCOUNT = SETTLEMENT_PREFIX + "unassigned"
OBLIGATION_PREFIX = "obligation:"


def wallet_account(address: str) -> str:
    """The unallocated part of an on-chain wallet (a broker's omnibus wallet, or any other)."""
    return f"{WALLET_PREFIX}{address.lower()}"


def client_account(client_id: str) -> str:
    """A broker's client: exists only in the ledger, inside the broker's omnibus wallet."""
    return f"{CLIENT_PREFIX}{client_id}"


def escrow_account(chain_trade_id_hex: str) -> str:
    """Coins held by the escrow for one open trade."""
    return f"{ESCROW_PREFIX}{chain_trade_id_hex.lower()}"


def settlement_account(address: str) -> str:
    """A broker's pre-funded settlement balance in the net settlement contract (net mode): still
    the broker's money, so the omnibus rule counts it next to the wallet."""
    return f"{SETTLEMENT_PREFIX}{address.lower()}"


def obligation_account(window_id: int, address: str) -> str:
    """What a broker owes (negative) or is owed in one net settlement window, trade by trade: a
    memo account. Summed per window it is the broker's net position, which reconcile compares
    with the position the chain applied."""
    return f"{OBLIGATION_PREFIX}{window_id}:{address.lower()}"


def parse_obligation_account(account: str) -> tuple[int, str] | None:
    """(window id, address) of an obligation account, else None."""
    if not account.startswith(OBLIGATION_PREFIX):
        return None
    window, _, address = account.removeprefix(OBLIGATION_PREFIX).partition(":")
    return (int(window), address) if window.isdigit() and address else None


class EntryKind:
    MINT = "MINT"
    BURN = "BURN"
    TRANSFER = "TRANSFER"
    LOCK = "LOCK"
    RELEASE = "RELEASE"
    REFUND = "REFUND"
    RECOVERY = "RECOVERY"
    DEPOSIT = "DEPOSIT"  # wallet -> settlement balance (net mode's lock)
    WITHDRAWAL = "WITHDRAWAL"  # settlement balance -> wallet (net mode's release)
    NET_SETTLEMENT = "NET_SETTLEMENT"  # one window's net positions between settlement balances
    OBLIGATION = "OBLIGATION"  # one net trade's obligation, settled by its window (memo accounts)
    ALLOCATION = "ALLOCATION"
    REVERSAL = "REVERSAL"


@dataclass(frozen=True)
class Posting:
    account: str
    amount_base_units: int


@dataclass(frozen=True)
class EntryDraft:
    """A journal entry before it gets its sequence number and hash."""

    kind: str
    postings: tuple[Posting, ...]
    description: str = ""
    trade_id: str | None = None
    chain_id: int | None = None
    block_number: int | None = None
    block_hash: str | None = None
    tx_hash: str | None = None
    log_index: int | None = None
    reverses_seq: int | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_balanced(self.postings)


def check_balanced(postings: Iterable[Posting]) -> None:
    postings = list(postings)
    if len(postings) < 2:
        raise UnbalancedEntry("an entry needs at least two postings")
    total = sum(p.amount_base_units for p in postings)
    if total != 0:
        raise UnbalancedEntry(f"postings sum to {total}, not zero")


def transfer(from_account: str, to_account: str, amount_base_units: int) -> tuple[Posting, ...]:
    """The two postings that move an amount from one account to another."""
    if amount_base_units < 0:
        raise UnbalancedEntry("a transfer amount cannot be negative")
    return (Posting(from_account, -amount_base_units), Posting(to_account, amount_base_units))


def reversal_postings(postings: Iterable[Posting]) -> tuple[Posting, ...]:
    return tuple(Posting(p.account, -p.amount_base_units) for p in postings)


def balances(postings: Iterable[Posting]) -> dict[str, int]:
    result: dict[str, int] = defaultdict(int)
    for p in postings:
        result[p.account] += p.amount_base_units
    return dict(result)


def entry_hash(prev_hash: str, seq: int, fields: dict[str, object], postings: Iterable[Posting]) -> str:
    """sha256 over the previous hash, the entry's own fields and its postings, canonically encoded.

    Changing, deleting, inserting or reordering any entry changes every hash after it.
    """
    body = {
        "prev": prev_hash,
        "seq": seq,
        "fields": {k: fields[k] for k in sorted(fields)},
        "postings": [[p.account, p.amount_base_units] for p in postings],
    }
    encoded = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()
