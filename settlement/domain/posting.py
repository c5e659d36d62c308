"""Posting rules: which accounts each decoded chain event moves, as journal entry drafts.

Pure on purpose: no database, no chain. The indexer feeds events in and stores what comes out,
so the accounting can be tested exhaustively without anvil and changed without touching I/O.

Rules, per transaction (events in log order):
- Transfer from the zero address is a MINT out of the issuer's supply, to it a BURN, else a
  TRANSFER between wallets; a zero-value Transfer moves nothing (no entry, log still consumed).
- Locked / Released / Refunded move coins between a party and the trade's escrow account; a
  party with a client sub-account on the trade (the Trade row) is posted to that client.
- The escrow's own Transfer is folded into the escrow event it pairs with, so coins are counted
  once; an unpaired escrow event or Transfer touches `escrow:unassigned` instead.
- Net mode (SettlementNet): Deposited moves a broker's wallet into its settlement balance
  (`settlement:<address>`), Withdrawn back, each with its Transfer folded in the same way (an
  unpaired one touches `settlement:unassigned`). A window's NetPositionApplied events (one
  settleWindow tx) become ONE entry between the settlement balances, its WindowSettled log
  consumed with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from settlement.domain.chain_events import (
    DEPOSITED,
    ESCROW_EVENTS,
    LOCKED,
    NET_POSITION_APPLIED,
    RECOVERED,
    RELEASED,
    TRANSFER,
    WINDOW_SETTLED,
    WITHDRAWN,
    ChainEvent,
    trade_key,
)
from settlement.domain.journal import (
    ESCROW_UNASSIGNED_ACCOUNT,
    SETTLEMENT_UNASSIGNED_ACCOUNT,
    SUPPLY_ACCOUNT,
    EntryDraft,
    EntryKind,
    Posting,
    client_account,
    escrow_account,
    settlement_account,
    transfer,
    wallet_account,
)
from settlement.money import format_coins

ZERO_ADDRESS = "0x" + "00" * 20


@dataclass(frozen=True)
class TradeParties:
    """What the ledger knows about an escrowed trade that the chain does not: its id and clients."""

    trade_id: str
    buyer_client_id: str | None
    seller_client_id: str | None


@dataclass(frozen=True)
class PlannedEntry:
    """What one economic event becomes: an entry (None for a zero-value transfer) and its logs."""

    draft: EntryDraft | None
    logs: tuple[ChainEvent, ...]


def escrow_trade_keys(events: Iterable[ChainEvent]) -> set[str]:
    """The chain trade ids whose TradeParties plan() can use: the caller looks these up."""
    return {trade_key(e) for e in events if e.name in ESCROW_EVENTS}


class PostingRules:
    """The posting rules for one chain, one escrow contract and (net mode) one SettlementNet."""

    def __init__(self, chain_id: int, escrow_address: str, net_address: str | None = None) -> None:
        self.chain_id = chain_id
        self.escrow = escrow_address.lower()
        self.net = net_address.lower() if net_address else None

    def plan(self, events: Sequence[ChainEvent], trades: Mapping[str, TradeParties]) -> list[PlannedEntry]:
        """Entries for `events`, which must be in chain order (a tx's logs adjacent, by log index).

        `trades` maps chain trade ids to their parties; a trade missing from it is posted to
        the wallets on chain. Every event ends up in exactly one PlannedEntry's logs.
        """
        planned: list[PlannedEntry] = []
        start = 0
        while start < len(events):
            stop = start
            while stop < len(events) and events[stop].tx_hash == events[start].tx_hash:
                stop += 1
            planned.extend(self._plan_tx(events[start:stop], trades))
            start = stop
        return planned

    def _plan_tx(self, events: Sequence[ChainEvent], trades: Mapping[str, TradeParties]) -> list[PlannedEntry]:
        """Pair each escrow (or net) event with the contract's Transfer just before it in the same tx.

        The contract moves the coins and then emits its event, so the Transfer carries no extra
        information; posting both would count the same coins twice.
        """
        contracts = {self.escrow} | ({self.net} if self.net else set())
        waiting: list[ChainEvent] = []
        planned: list[PlannedEntry] = []
        windows: dict[int, list[ChainEvent]] = {}
        for event in events:
            if event.name == TRANSFER:
                if contracts & {_addr(event.args["from"]), _addr(event.args["to"])}:
                    waiting.append(event)
                else:
                    planned.append(self._transfer_entry(event))
                continue
            if event.name in (NET_POSITION_APPLIED, WINDOW_SETTLED):
                windows.setdefault(int(event.args["windowId"]), []).append(event)
                continue
            net_event = event.name in (DEPOSITED, WITHDRAWN)
            contract = self.net if net_event else self.escrow
            inbound = event.name in (LOCKED, DEPOSITED)
            party_arg = {RELEASED: "payee", RECOVERED: "to", DEPOSITED: "participant", WITHDRAWN: "participant"}
            party = _addr(event.args[party_arg.get(event.name, "payer")])
            amount_base_units = int(event.args["amount"])
            match = next(
                (
                    t
                    for t in reversed(waiting)
                    if int(t.args["value"]) == amount_base_units
                    and (
                        (_addr(t.args["to"]) == contract and _addr(t.args["from"]) == party)
                        if inbound
                        else (_addr(t.args["from"]) == contract and _addr(t.args["to"]) == party)
                    )
                ),
                None,
            )
            if match is not None:
                waiting.remove(match)
            if net_event:
                planned.append(self._liquidity_entry(event, match))
            else:
                planned.append(self._escrow_entry(event, match, trades.get(trade_key(event))))
        planned.extend(self._transfer_entry(t) for t in waiting)
        planned.extend(self._window_entry(window_id, logs) for window_id, logs in windows.items())
        planned.sort(key=lambda p: min(log.log_index for log in p.logs))
        return planned

    def _holder(self, address: str) -> str:
        if address == ZERO_ADDRESS:
            return SUPPLY_ACCOUNT
        if address == self.escrow:
            return ESCROW_UNASSIGNED_ACCOUNT
        if address == self.net:
            return SETTLEMENT_UNASSIGNED_ACCOUNT
        return wallet_account(address)

    def _transfer_entry(self, event: ChainEvent) -> PlannedEntry:
        sender, recipient = _addr(event.args["from"]), _addr(event.args["to"])
        amount_base_units = int(event.args["value"])
        if amount_base_units == 0:
            return PlannedEntry(draft=None, logs=(event,))  # moves nothing; remembered as processed only
        kind = (
            EntryKind.MINT
            if sender == ZERO_ADDRESS
            else EntryKind.BURN
            if recipient == ZERO_ADDRESS
            else EntryKind.TRANSFER
        )
        source, target = self._holder(sender), self._holder(recipient)
        description = f"{kind.lower()} {format_coins(amount_base_units)}"
        return PlannedEntry(
            draft=self._draft(event, kind, source, target, amount_base_units, None, description),
            logs=(event,),
        )

    def _escrow_entry(self, event: ChainEvent, paired: ChainEvent | None, trade: TradeParties | None) -> PlannedEntry:
        key = trade_key(event)
        locked_in = escrow_account(key)
        amount_base_units = int(event.args["amount"])
        if event.name == LOCKED:
            kind = EntryKind.LOCK
            payer = wallet_account(_addr(event.args["payer"]))
            source = client_account(trade.buyer_client_id) if trade and trade.buyer_client_id else payer
            target = locked_in
        elif event.name == RELEASED:
            kind = EntryKind.RELEASE
            payee = wallet_account(_addr(event.args["payee"]))
            source = locked_in
            target = client_account(trade.seller_client_id) if trade and trade.seller_client_id else payee
        elif event.name == RECOVERED:
            kind = EntryKind.RECOVERY  # to the recovery address the operator scheduled, after the timelock
            source = locked_in
            target = wallet_account(_addr(event.args["to"]))
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
        trade_id = trade.trade_id if trade else None
        description = f"{kind.lower()} {format_coins(amount_base_units)} trade {trade.trade_id if trade else key}"
        logs = (event,) if paired is None else (paired, event)
        return PlannedEntry(
            draft=self._draft(event, kind, source, target, amount_base_units, trade_id, description),
            logs=logs,
        )

    def _liquidity_entry(self, event: ChainEvent, paired: ChainEvent | None) -> PlannedEntry:
        """Deposited: wallet -> settlement balance; Withdrawn: the reverse. Unpaired (no coins
        moved in this tx): the other side is `settlement:unassigned`, as for the escrow."""
        participant = _addr(event.args["participant"])
        wallet, balance = wallet_account(participant), settlement_account(participant)
        amount_base_units = int(event.args["amount"])
        if event.name == DEPOSITED:
            kind = EntryKind.DEPOSIT
            source = wallet if paired is not None else SETTLEMENT_UNASSIGNED_ACCOUNT
            target = balance
        else:
            kind = EntryKind.WITHDRAWAL
            source = balance
            target = wallet if paired is not None else SETTLEMENT_UNASSIGNED_ACCOUNT
        description = f"{kind.lower()} {format_coins(amount_base_units)}"
        logs = (event,) if paired is None else (paired, event)
        return PlannedEntry(
            draft=self._draft(event, kind, source, target, amount_base_units, None, description), logs=logs
        )

    def _window_entry(self, window_id: int, logs: list[ChainEvent]) -> PlannedEntry:
        """One window's NetPositionApplied events as one entry (positions sum to zero on chain),
        WindowSettled consumed with it. The entry carries WindowSettled's log index if present."""
        positions: dict[str, int] = {}
        for log in logs:
            if log.name == NET_POSITION_APPLIED:
                account = settlement_account(_addr(log.args["participant"]))
                positions[account] = positions.get(account, 0) + int(log.args["position"])
        postings = tuple(Posting(a, p) for a, p in sorted(positions.items()) if p != 0)
        if len(postings) < 2 or sum(p.amount_base_units for p in postings) != 0:
            # Nothing moved (or a malformed window the contract would never emit): keep the logs
            # as processed; a non-zero sum shows up in reconcile as a window break.
            return PlannedEntry(draft=None, logs=tuple(logs))
        anchor = next((log for log in logs if log.name == WINDOW_SETTLED), logs[-1])
        moved = sum(p.amount_base_units for p in postings if p.amount_base_units > 0)
        draft = EntryDraft(
            kind=EntryKind.NET_SETTLEMENT,
            postings=postings,
            description=f"{window_description(window_id)}: {len(postings)} settlement balances, "
            f"{format_coins(moved)} moved",
            chain_id=self.chain_id,
            block_number=anchor.block_number,
            block_hash=anchor.block_hash,
            tx_hash=anchor.tx_hash,
            log_index=anchor.log_index,
        )
        return PlannedEntry(draft=draft, logs=tuple(logs))

    def _draft(
        self,
        event: ChainEvent,
        kind: str,
        source: str,
        target: str,
        amount_base_units: int,
        trade_id: str | None,
        description: str,
    ) -> EntryDraft:
        return EntryDraft(
            kind=kind,
            postings=transfer(source, target, amount_base_units),
            description=f"{description}: {source} -> {target}",
            trade_id=trade_id,
            chain_id=self.chain_id,
            block_number=event.block_number,
            block_hash=event.block_hash,
            tx_hash=event.tx_hash,
            log_index=event.log_index,
        )


WINDOW_DESCRIPTION_PREFIX = "net settlement window "


def window_description(window_id: int) -> str:
    """How a NET_SETTLEMENT entry names its window: reconcile reads the id back from it."""
    return f"{WINDOW_DESCRIPTION_PREFIX}{window_id}"


def window_id_of(description: str) -> int | None:
    """The window id a NET_SETTLEMENT entry's description names, or None."""
    if not description.startswith(WINDOW_DESCRIPTION_PREFIX):
        return None
    head = description.removeprefix(WINDOW_DESCRIPTION_PREFIX).split(":", 1)[0]
    return int(head) if head.isdigit() else None


def _addr(value: object) -> str:
    return str(value).lower()
