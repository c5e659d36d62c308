"""Reconciliation: does the ledger say what the chain says, at one block height?

Both sides are read at the same block (the indexer cursor's by default, chain reads with
block_identifier), so activity after that block cannot show up as a false break. Every break
carries the on-chain figure and the ledger figure, so an operator sees the size of the gap.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import or_
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from settlement.chain.client import ChainClient, LockStatus
from settlement.chain.contract_calls import LockOrder
from settlement.chain.events import EventDecoder
from settlement.chain.merkle import TradeLeaf, merkle_root
from settlement.chain.net_settlement import NetSettlementContract
from settlement.chain.trade_ids import chain_trade_key
from settlement.domain.chain_events import NET_POSITION_APPLIED
from settlement.domain.journal import (
    CLIENT_PREFIX,
    ESCROW_PREFIX,
    ESCROW_UNASSIGNED_ACCOUNT,
    SETTLEMENT_PREFIX,
    SETTLEMENT_UNASSIGNED_ACCOUNT,
    SUPPLY_ACCOUNT,
    WALLET_PREFIX,
    EntryKind,
    client_account,
    escrow_account,
    parse_obligation_account,
    settlement_account,
    wallet_account,
)
from settlement.domain.posting import window_id_of
from settlement.domain.trade import TradeStatus
from settlement.errors import LedgerError
from settlement.ledger.amounts import exact_sum
from settlement.ledger.models import (
    ClientAccount,
    IndexerCursor,
    JournalEntry,
    Participant,
    Posting,
    SettlementWindowRecord,
    Trade,
)
from settlement.money import format_coins

# Blocks per eth_getLogs request when reading a net contract's window events back.
NET_LOG_CHUNK_BLOCKS = 10_000

# The escrow status each trade status implies; every other status implies no lock at all.
EXPECTED_LOCK_STATUS = {
    TradeStatus.LOCKED: LockStatus.LOCKED,
    TradeStatus.RELEASED: LockStatus.RELEASED,
    TradeStatus.REFUNDED: LockStatus.REFUNDED,
    TradeStatus.RECOVERED: LockStatus.RECOVERED,
}


class BreakKind:
    OMNIBUS = "omnibus"  # a broker's wallet + settlement balance on chain vs unallocated + settlement + clients
    NEGATIVE_UNALLOCATED = "negative_unallocated"
    NEGATIVE_CLIENT = "negative_client"
    UNKNOWN_CLIENT = "unknown_client"  # money on a client account no broker owns
    WALLET = "wallet"  # any other wallet the ledger knows
    ESCROW_BALANCE = "escrow_balance"  # escrow's token balance vs every escrow:* account
    ESCROW_LOCKED = "escrow_locked"  # totalLocked() vs the per-trade escrow accounts
    LOCK = "lock"  # one trade's lock amount / status
    TRADE_STATUS = "trade_status"  # the trade's status and its lock on chain disagree
    LOCK_TERMS = "lock_terms"  # a lock under a trade's id with other payer, payee, amount or deadline
    SUPPLY = "supply"  # totalSupply() vs what the ledger says was issued
    LEDGER_TOTAL = "ledger_total"  # postings no longer sum to zero
    NET_BALANCE = "net_balance"  # one settlement:<address> account vs SettlementNet.balanceOf
    NET_TOTAL = "net_total"  # Σ settlement:<address> accounts vs SettlementNet.totalBalances()
    NET_HELD = "net_held"  # Σ settlement:* accounts vs the token balance SettlementNet holds
    NET_SURPLUS = "net_surplus"  # coins sent to SettlementNet outside a deposit (rescuable)
    NET_WINDOW = "net_window"  # a settled window's position for one broker: ledger vs NetPositionApplied
    WINDOW_OBLIGATIONS = "window_obligations"  # Σ a window's per-trade obligations vs the position the chain applied
    WINDOW_ROOT = "window_root"  # the window's Merkle root recomputed from its obligations vs the chain's
    WINDOW_TRADES = "window_trades"  # how many trades the window's obligations hold vs the chain's count


@dataclass(frozen=True)
class Break:
    kind: str
    account: str
    on_chain: int | None  # None where the figure exists only in the ledger (a client's share)
    ledger: int
    detail: str

    @property
    def difference(self) -> int | None:
        return None if self.on_chain is None else self.ledger - self.on_chain


@dataclass(frozen=True)
class ReconciliationReport:
    balanced: bool
    block_number: int
    breaks: list[Break]
    checks: int = 0
    accounts: dict[str, int] = field(default_factory=dict, repr=False)


def reconcile(chain: ChainClient, engine: Engine, block: int | None = None) -> ReconciliationReport:
    """Compare chain and ledger at `block` (default: the block the indexer has reached)."""
    with Session(engine) as session:
        cursor = session.get(IndexerCursor, chain.chain_id)
        if cursor is None:
            raise LedgerError("nothing indexed yet: run the indexer before reconciling")
        if block is None:
            block = cursor.last_block
        elif block > cursor.last_block:
            raise LedgerError(f"the ledger is indexed to block {cursor.last_block}, not {block}")
        balances = _ledger_balances(session, block)
        participants = list(session.exec(select(Participant).order_by(col(Participant.name))))
        clients = list(session.exec(select(ClientAccount).order_by(col(ClientAccount.name))))
        session_trades = [
            t
            for t in session.exec(select(Trade).order_by(col(Trade.created_at)))
            if all(b is None or b <= block for b in (t.lock_block, t.release_block, t.refund_block))
        ]
        addresses = {p.id: p.address for p in participants}
        ledger_windows = _ledger_windows(session, block)
        obligations = _window_obligations(session, block)
        locked_trades = {
            t.chain_trade_id.lower(): t
            for t in session.exec(
                select(Trade).where(
                    col(Trade.status) == TradeStatus.LOCKED.value,
                    or_(col(Trade.lock_block).is_(None), col(Trade.lock_block) <= block),
                )
            )
        }
    net = NetSettlementContract(chain) if chain.manifest.net is not None else None
    checker = _Checker(chain, block, balances, net)
    checker.participants(participants, clients)
    checker.other_wallets({p.address.lower() for p in participants})
    checker.escrow()
    if net is not None:
        checker.settlement_balances(net, {p.address.lower() for p in participants})
        on_chain_positions = checker.windows(net, ledger_windows)
        checker.window_obligations(net, obligations, on_chain_positions)
    checker.locks(locked_trades)
    checker.trades(session_trades, addresses)
    checker.supply()
    return ReconciliationReport(
        balanced=not checker.breaks,
        block_number=block,
        breaks=checker.breaks,
        checks=checker.checks,
        accounts=balances,
    )


def _ledger_balances(session: Session, block: int) -> dict[str, int]:
    """Balances from entries up to `block`; entries with no block (allocations) always count.

    A REVERSAL carries the block of the entry it reverses, so both sit on the same side of
    any height and cancel out there.
    """
    query = (
        select(Posting.account, exact_sum(Posting.amount_base_units))
        .join(JournalEntry, col(JournalEntry.seq) == col(Posting.entry_seq))
        .where(or_(col(JournalEntry.block_number).is_(None), col(JournalEntry.block_number) <= block))
        .group_by(col(Posting.account))
    )
    return {str(account): int(total or 0) for account, total in session.exec(query)}


def _ledger_windows(session: Session, block: int) -> dict[int, dict[str, int]]:
    """Each settled window's net positions (settlement account -> amount) as the journal has them
    up to `block`: NET_SETTLEMENT entries, less any a reorg reversed."""
    reversed_seqs = {
        int(seq)
        for seq in session.exec(
            select(JournalEntry.reverses_seq).where(
                col(JournalEntry.reverses_seq).is_not(None), col(JournalEntry.block_number) <= block
            )
        )
        if seq is not None
    }
    rows = session.exec(
        select(JournalEntry.seq, JournalEntry.description, Posting.account, Posting.amount_base_units)
        .join(Posting, col(Posting.entry_seq) == col(JournalEntry.seq))
        .where(col(JournalEntry.kind) == EntryKind.NET_SETTLEMENT, col(JournalEntry.block_number) <= block)
    )
    windows: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for seq, description, account, amount in rows:
        window_id = window_id_of(description)
        if int(seq) in reversed_seqs or window_id is None:
            continue
        windows[window_id][str(account)] += int(amount)
    return {w: dict(p) for w, p in windows.items()}


@dataclass(frozen=True)
class _Obligation:
    chain_trade_id: str
    payer: str
    payee: str
    amount_base_units: int


def _window_obligations(session: Session, block: int) -> dict[int, list[_Obligation]]:
    """Each window settled by `block` (by the window's record), its trades' obligation entries:
    what the window's root and net positions are recomputed from."""
    settled = {
        int(w.id): w
        for w in session.exec(
            select(SettlementWindowRecord).where(
                col(SettlementWindowRecord.settlement_block).is_not(None),
                col(SettlementWindowRecord.settlement_block) <= block,
            )
        )
        if w.id is not None
    }
    if not settled:
        return {}
    # A window whose settlement a reorg undid had its obligations reversed (SettlementWindows.
    # _unsettle); settled again, it journals them anew: only the live ones count.
    reversed_seqs = select(JournalEntry.reverses_seq).where(col(JournalEntry.reverses_seq).is_not(None))
    rows = session.exec(
        select(JournalEntry.seq, Trade.chain_trade_id, Posting.account, Posting.amount_base_units)
        .join(Posting, col(Posting.entry_seq) == col(JournalEntry.seq))
        .join(Trade, col(Trade.id) == col(JournalEntry.trade_id))
        .where(col(JournalEntry.kind) == EntryKind.OBLIGATION, col(JournalEntry.seq).not_in(reversed_seqs))
    )
    entries: dict[int, dict[str, object]] = defaultdict(dict)
    for seq, chain_trade_id, account, amount in rows:
        parsed = parse_obligation_account(str(account))
        if parsed is None:
            continue
        window_id, address = parsed
        entry = entries[int(seq)]
        entry["window"], entry["trade"] = window_id, str(chain_trade_id)
        entry["payer" if int(amount) < 0 else "payee"] = address
        entry["amount"] = abs(int(amount))
    windows: dict[int, list[_Obligation]] = {w: [] for w in settled}
    for entry in entries.values():
        window_id = int(str(entry["window"]))
        if window_id in windows:
            windows[window_id].append(
                _Obligation(
                    str(entry["trade"]), str(entry.get("payer")), str(entry.get("payee")), int(str(entry["amount"]))
                )
            )
    return windows


class _Checker:
    def __init__(
        self, chain: ChainClient, block: int, balances: dict[str, int], net: NetSettlementContract | None = None
    ) -> None:
        self.chain = chain
        self.block = block
        self.balances = balances
        self.net = net
        self.breaks: list[Break] = []
        self.checks = 0

    def _compare(self, kind: str, account: str, on_chain: int, ledger: int, detail: str) -> None:
        self.checks += 1
        if on_chain != ledger:
            self.breaks.append(Break(kind, account, on_chain, ledger, detail))

    def participants(self, participants: list[Participant], clients: list[ClientAccount]) -> None:
        """The omnibus rule: a broker's wallet plus (net mode) its settlement balance hold exactly
        its unallocated coins, its settlement account and its clients' coins."""
        by_participant: dict[str, list[ClientAccount]] = defaultdict(list)
        for client in clients:
            by_participant[client.participant_id].append(client)
        for participant in participants:
            wallet = wallet_account(participant.address)
            # A deposit moves unallocated coins into the settlement account: both are the
            # broker's own, so "unallocated" here is their sum.
            settlement = self.balances.get(settlement_account(participant.address), 0)
            unallocated = self.balances.get(wallet, 0) + settlement
            own_clients = by_participant.get(participant.id, [])
            allocated = sum(self.balances.get(client_account(c.id), 0) for c in own_clients)
            on_chain = self.chain.balance_of(participant.address, self.block)
            if self.net is not None:
                on_chain += self.net.balance_of(participant.address, self.block)
            self._compare(
                BreakKind.OMNIBUS,
                wallet,
                on_chain,
                unallocated + allocated,
                f"{participant.name}: unallocated {format_coins(unallocated - settlement)} + settlement balance "
                f"{format_coins(settlement)} + {len(own_clients)} client(s) {format_coins(allocated)}",
            )
            if unallocated < 0:
                self.breaks.append(
                    Break(
                        BreakKind.NEGATIVE_UNALLOCATED,
                        wallet,
                        on_chain,
                        unallocated,
                        f"{participant.name} has allocated more to clients than it holds",
                    )
                )
            for client in own_clients:
                amount = self.balances.get(client_account(client.id), 0)
                self.checks += 1
                if amount < 0:
                    self.breaks.append(
                        Break(
                            BreakKind.NEGATIVE_CLIENT,
                            client_account(client.id),
                            None,
                            amount,
                            f"client {client.name} of {participant.name} is overdrawn",
                        )
                    )
        known = {client_account(c.id) for c in clients}
        for account, amount in sorted(self.balances.items()):
            if account.startswith(CLIENT_PREFIX) and account not in known and amount != 0:
                self.breaks.append(
                    Break(BreakKind.UNKNOWN_CLIENT, account, None, amount, "no client account with this id")
                )

    def other_wallets(self, participant_addresses: set[str]) -> None:
        for account, amount in sorted(self.balances.items()):
            if not account.startswith(WALLET_PREFIX):
                continue
            address = account.removeprefix(WALLET_PREFIX)
            if address in participant_addresses:
                continue
            self._compare(
                BreakKind.WALLET, account, self.chain.balance_of(address, self.block), amount, "not a participant"
            )

    def escrow(self) -> None:
        escrow_accounts = {a: v for a, v in self.balances.items() if a.startswith(ESCROW_PREFIX)}
        held = sum(escrow_accounts.values())
        address = self.chain.manifest.escrow.address
        self._compare(
            BreakKind.ESCROW_BALANCE,
            "escrow:*",
            self.chain.balance_of(address, self.block),
            held,
            f"escrow contract {address} token balance vs {len(escrow_accounts)} escrow accounts",
        )
        unassigned = escrow_accounts.get(ESCROW_UNASSIGNED_ACCOUNT, 0)
        self._compare(
            BreakKind.ESCROW_LOCKED,
            "escrow:<trades>",
            self.chain.total_locked(self.block),
            held - unassigned,
            f"totalLocked() vs per-trade escrow accounts ({format_coins(unassigned)} unassigned excluded)",
        )

    def settlement_balances(self, net: NetSettlementContract, participant_addresses: set[str]) -> None:
        """Net mode's liquidity: each settlement account against balanceOf, their sum against
        totalBalances(), everything held against the contract's token balance; a surplus (coins
        sent there outside a deposit) is a break of its own, rescuable by the operator."""
        accounts = {a: v for a, v in self.balances.items() if a.startswith(SETTLEMENT_PREFIX)}
        addresses = {
            a.removeprefix(SETTLEMENT_PREFIX) for a in accounts if a != SETTLEMENT_UNASSIGNED_ACCOUNT
        } | participant_addresses
        per_participant = 0
        for address in sorted(addresses):
            account = settlement_account(address)
            ledger = accounts.get(account, 0)
            per_participant += ledger
            self._compare(
                BreakKind.NET_BALANCE, account, net.balance_of(address, self.block), ledger, "settlement balance"
            )
        total_balances = net.total_balances(self.block)
        self._compare(
            BreakKind.NET_TOTAL,
            "settlement:<participants>",
            total_balances,
            per_participant,
            f"totalBalances() vs {len(addresses)} settlement accounts",
        )
        held = self.chain.balance_of(net.address, self.block)
        self._compare(
            BreakKind.NET_HELD,
            "settlement:*",
            held,
            sum(accounts.values()),
            f"net settlement contract {net.address} token balance vs every settlement account",
        )
        unassigned = accounts.get(SETTLEMENT_UNASSIGNED_ACCOUNT, 0)
        self.checks += 1
        if held != total_balances:
            self.breaks.append(
                Break(
                    BreakKind.NET_SURPLUS,
                    SETTLEMENT_UNASSIGNED_ACCOUNT,
                    held - total_balances,
                    unassigned,
                    f"{format_coins(held - total_balances)} held by {net.address} beyond the settlement balances",
                )
            )

    def windows(
        self, net: NetSettlementContract, ledger_windows: dict[int, dict[str, int]]
    ) -> dict[int, dict[str, int]]:
        """Every settled window's net positions, per broker: the journal's NET_SETTLEMENT entry
        against the chain's NetPositionApplied events up to this block."""
        decoder = EventDecoder(self.chain)
        topics = [t for t in decoder.topics if decoder.name_of(net.address, t) == NET_POSITION_APPLIED]
        on_chain: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        start = self.chain.manifest.deploy_block
        while start <= self.block:
            end = min(self.block, start + NET_LOG_CHUNK_BLOCKS - 1)
            for log in self.chain.get_logs(start, end, [net.address], topics):
                event = decoder.decode(log)
                if event is not None and event.name == NET_POSITION_APPLIED:
                    account = settlement_account(str(event.args["participant"]))
                    on_chain[int(event.args["windowId"])][account] += int(event.args["position"])
            start = end + 1
        for window_id in sorted(set(on_chain) | set(ledger_windows)):
            self._compare_positions(
                BreakKind.NET_WINDOW,
                on_chain.get(window_id, {}),
                ledger_windows.get(window_id, {}),
                f"window {window_id}: net position",
            )
        return {w: dict(p) for w, p in on_chain.items()}

    def _compare_positions(self, kind: str, on_chain: dict[str, int], ledger: dict[str, int], detail: str) -> None:
        """One window's positions per settlement account, every account either side names."""
        for account in sorted(set(on_chain) | set(ledger)):
            self._compare(kind, account, on_chain.get(account, 0), ledger.get(account, 0), detail)

    def window_obligations(
        self,
        net: NetSettlementContract,
        obligations: dict[int, list[_Obligation]],
        on_chain_positions: dict[int, dict[str, int]],
    ) -> None:
        """Each settled window recomputed from the ledger's per-trade obligations: its net positions
        against what the chain applied, its Merkle root and trade count against what it recorded."""
        for window_id, trades in sorted(obligations.items()):
            recorded = net.window(window_id, self.block)
            leaves = [
                TradeLeaf(bytes.fromhex(o.chain_trade_id[2:]), o.payer, o.payee, o.amount_base_units) for o in trades
            ]
            root = merkle_root(leaves)
            self._compare(
                BreakKind.WINDOW_ROOT,
                f"window:{window_id}",
                int.from_bytes(recorded.trades_root, "big"),
                int.from_bytes(root, "big"),
                f"window {window_id}: trades root 0x{recorded.trades_root.hex()} on chain, 0x{root.hex()} "
                "recomputed from the ledger's obligations",
            )
            self._compare(
                BreakKind.WINDOW_TRADES,
                f"window:{window_id}",
                recorded.trade_count,
                len(trades),
                f"window {window_id}: trades settled",
            )
            positions: dict[str, int] = defaultdict(int)
            for o in trades:
                positions[settlement_account(o.payer)] -= o.amount_base_units
                positions[settlement_account(o.payee)] += o.amount_base_units
            self._compare_positions(
                BreakKind.WINDOW_OBLIGATIONS,
                on_chain_positions.get(window_id, {}),
                positions,
                f"window {window_id}: net of its trades' obligations",
            )

    def locks(self, locked_trades: dict[str, Trade]) -> None:
        """Each open lock, from either side: a non-zero escrow account, or a trade marked LOCKED."""
        open_in_ledger = {
            account.removeprefix(ESCROW_PREFIX)
            for account, amount in self.balances.items()
            if account.startswith(ESCROW_PREFIX) and account != ESCROW_UNASSIGNED_ACCOUNT and amount != 0
        }
        valid: list[tuple[str, bytes]] = []
        for trade_key in sorted(open_in_ledger | set(locked_trades)):
            try:
                raw_id = bytes.fromhex(trade_key.removeprefix("0x"))
                if len(raw_id) != 32:
                    raise ValueError(trade_key)
            except ValueError:
                account = escrow_account(trade_key)
                self.breaks.append(
                    Break(BreakKind.LOCK, account, None, self.balances.get(account, 0), "not a bytes32 trade id")
                )
                continue
            valid.append((trade_key, raw_id))
        locks = self.chain.get_locks([raw_id for _, raw_id in valid], self.block)
        for (trade_key, _), lock in zip(valid, locks, strict=True):
            account = escrow_account(trade_key)
            trade = locked_trades.get(trade_key)
            on_chain = lock.amount_base_units if lock.status == LockStatus.LOCKED else 0
            label = f"trade {trade.id}" if trade else "trade unknown to the database"
            self._compare(
                BreakKind.LOCK,
                account,
                on_chain,
                self.balances.get(account, 0),
                f"{label}; on-chain status {lock.status.name}",
            )

    def trades(self, trades: list[Trade], addresses: dict[str, str]) -> None:
        """Every trade, in every state, against the escrow: the status it implies and, where a lock
        exists, its parties, amount and deadline. A lock the service believes absent is a break."""
        locks = self.chain.get_locks([chain_trade_key(t.chain_trade_id) for t in trades], self.block)
        for trade, lock in zip(trades, locks, strict=True):
            account = escrow_account(trade.chain_trade_id)
            self.checks += 1
            expected = EXPECTED_LOCK_STATUS.get(TradeStatus(trade.status), LockStatus.NONE)
            if lock.status != expected:
                self.breaks.append(
                    Break(
                        BreakKind.TRADE_STATUS,
                        account,
                        lock.amount_base_units if lock.status == LockStatus.LOCKED else 0,
                        self.balances.get(account, 0),
                        f"trade {trade.id} is {trade.status} in the database but {lock.status.name} on chain",
                    )
                )
            if lock.status == LockStatus.NONE:
                continue
            self.checks += 1
            terms = LockOrder.for_trade(
                trade.chain_trade_id,
                addresses.get(trade.buyer_id, ""),
                addresses.get(trade.seller_id, ""),
                trade.settlement_amount_base_units,
                trade.deadline,
            )
            differing = terms.differences(lock)
            if differing:
                self.breaks.append(
                    Break(
                        BreakKind.LOCK_TERMS,
                        account,
                        lock.amount_base_units,
                        trade.settlement_amount_base_units,
                        f"trade {trade.id}: the lock under its id has other {', '.join(differing)}",
                    )
                )

    def supply(self) -> None:
        issued = -self.balances.get(SUPPLY_ACCOUNT, 0)
        total_supply = self.chain.total_supply(self.block)
        self._compare(BreakKind.SUPPLY, SUPPLY_ACCOUNT, total_supply, issued, "totalSupply() vs coins issued - burnt")
        total = sum(self.balances.values())
        self.checks += 1
        if total != 0:
            self.breaks.append(
                Break(BreakKind.LEDGER_TOTAL, "*", 0, total, "postings no longer sum to zero: a row was changed")
            )
