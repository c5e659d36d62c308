"""Net settlement windows: close them, settle each in ONE SettlementNet transaction, roll defaulters.

Each worker cycle:
1. drops matched net trades that were cancelled or expired before their delivery was confirmed
   (FAILED: their reservation against the payer's cap is freed);
2. closes the open window when it is old enough (SETTLEMENT_WINDOW_LENGTH_S) or full
   (SETTLEMENT_WINDOW_TRADES_MAX), at the block the indexer has confirmed;
3. settles closed windows: reads every participant's settlement balance and standing on chain,
   removes (CLS-style, domain/window.py) the trades of any participant that cannot settle,
   computes the net positions and the trades' Merkle root, and sends one settleWindow call.

A defaulter's trades leave the window. A participant that is blocked (blacklisted by the token,
or removed from SettlementNet) has its trades refused (FAILED `net_settlement_refused`): they
cannot settle while it stays blocked. One whose balance is short has its trades rolled into
the next window, where they settle once it has deposited, or are refused when their deadline
passes. The transaction's receipt settles the window's trades and journals their obligations;
the indexer mirrors the window's NetPositionApplied events as the net settlement entry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session

from settlement import errors
from settlement.anchoring import JournalAnchoring
from settlement.chain.client import ChainClient
from settlement.chain.custody import Custody
from settlement.chain.merkle import TradeLeaf, merkle_root
from settlement.chain.net_settlement import NetSettlementContract
from settlement.config import Settings
from settlement.domain.journal import EntryDraft, EntryKind, obligation_account, transfer
from settlement.domain.netting import Obligation
from settlement.domain.posting import window_description
from settlement.domain.trade import TradeStatus, is_expired
from settlement.domain.window import WindowFigures, WindowStatus, split_settleable
from settlement.ledger import repository as repo
from settlement.ledger import window_store
from settlement.ledger.journal_store import JournalStore
from settlement.ledger.models import Participant, SettlementWindowRecord, Trade, utcnow
from settlement.ledger.window_store import WindowTrade
from settlement.processing.fork_marker import ForkMarker
from settlement.processing.publisher import TradeEvent, TradePublisher
from settlement.processing.report import CycleReport

log = logging.getLogger(__name__)

WINDOWS_PER_CYCLE_MAX = 4
DROPPED_PER_CYCLE_MAX = 2_000
NET_SETTLEMENT_REFUSED = "net_settlement_refused"
CANCELLED_BEFORE_SETTLEMENT = "cancelled_before_settlement"
EXPIRED_BEFORE_SETTLEMENT = "expired_before_settlement"


def trade_leaf(trade: Trade | WindowTrade, addresses: dict[str, str]) -> TradeLeaf:
    """What the window's root commits to for a trade: chain trade id, payer, payee, amount."""
    return TradeLeaf(
        bytes.fromhex(trade.chain_trade_id[2:]),
        addresses[trade.buyer_id],
        addresses[trade.seller_id],
        trade.settlement_amount_base_units,
    )


def obligation(trade: Trade | WindowTrade) -> Obligation:
    return Obligation(trade.buyer_id, trade.seller_id, trade.settlement_amount_base_units)


class SettlementWindows:
    def __init__(
        self,
        db: Engine,
        chain: ChainClient,
        custody: Custody,
        journal: JournalStore,
        settings: Settings,
        publisher: TradePublisher,
        anchoring: JournalAnchoring,
        confirmed_block: Callable[[], int | None],
    ) -> None:
        self.db = db
        self.chain = chain
        self.custody = custody
        self.journal = journal
        self.settings = settings
        self.publisher = publisher
        self.anchoring = anchoring
        self.confirmed_block = confirmed_block
        self.net = NetSettlementContract(chain) if chain.manifest.net is not None else None
        self._fork = ForkMarker()  # noted by the indexer's rewind, taken by the next cycle
        # The read-back of settled windows in progress: (above this block, after this window id).
        self._read_back: tuple[int, int] | None = None
        self._cycles_to_sweep = 0  # the first cycle sweeps: a restart may follow a reorg

    # ----------------------------------------------------------------- joining and closing

    def require_net(self) -> NetSettlementContract:
        if self.net is None:
            raise errors.NetModeUnavailable("this deployment has no net settlement contract: settle gross")
        return self.net

    def close(self, window_id: int) -> bool:
        """Close an open window now (the operator's button, the timer, the size limit). False if it
        was not open; an empty window is not closed (there is nothing to settle)."""
        with Session(self.db) as session:
            window = window_store.get(session, window_id)
            if window.status != WindowStatus.OPEN:
                return False
            if window.trade_count == 0:
                raise errors.WindowNotClosable(f"window {window_id} holds no trades")
            closed = window_store.close(session, window_id, self.confirmed_block())
            session.commit()
        if closed:
            log.info("settlement window %d closed", window_id)
        return closed

    # ----------------------------------------------------------------- the cycle

    def after_rewind(self, fork_block: int) -> None:
        """The indexer undid blocks above `fork_block`: windows settled above it are read back next cycle."""
        self._fork.note(fork_block)

    def run_once(self) -> CycleReport:
        report = CycleReport()
        if self.net is None:
            return report
        self._read_back_settled()
        report.failed += self._drop_cancelled_and_expired()
        with Session(self.db) as session:
            due = window_store.due_to_close(
                session, datetime.now(UTC), self.settings.window_length_s, self.settings.window_trades_max
            )
        for window_id in due:
            self.close(window_id)
        with Session(self.db) as session:
            pending = window_store.ids_in_status(session, WindowStatus.PENDING_SETTLEMENT, WINDOWS_PER_CYCLE_MAX)
            closed = window_store.ids_in_status(session, WindowStatus.CLOSED, WINDOWS_PER_CYCLE_MAX)
        for window_id in pending:
            report.add(self._follow_up(window_id))
        for window_id in closed:
            report.add(self._settle(window_id))
        return report

    def _drop_cancelled_and_expired(self) -> int:
        with Session(self.db) as session:
            if not window_store.any_unconfirmed_net_trade(session):
                return 0  # the usual case: no chain clock read on every cycle for nothing
        chain_now_s = self.chain.latest_timestamp()
        chain_now = datetime.fromtimestamp(chain_now_s, UTC)
        with Session(self.db, expire_on_commit=False) as session:
            dropped = list(window_store.net_trades_to_drop(session, chain_now, DROPPED_PER_CYCLE_MAX))
            window_store.lock_exposure_of(session, dropped)
            for trade in dropped:
                code, detail = (
                    (CANCELLED_BEFORE_SETTLEMENT, "cancelled before its delivery was confirmed")
                    if trade.cancel_requested
                    else (EXPIRED_BEFORE_SETTLEMENT, "its deadline passed before its delivery was confirmed")
                )
                repo.transition(session, trade, TradeStatus.FAILED, error_code=code, error_detail=detail)
            session.commit()
        for trade in dropped:
            self.publisher.publish(trade)
        return len(dropped)

    # ----------------------------------------------------------------- settling one window

    def _settle(self, window_id: int) -> CycleReport:
        net = self.require_net()
        report = CycleReport()
        with Session(self.db, expire_on_commit=False) as session:
            trades = list(window_store.trades_of(session, window_id, [TradeStatus.IN_WINDOW]))
            participants = {p.id: p for p in repo.list_participants(session)}
        involved = sorted({t.buyer_id for t in trades} | {t.seller_id for t in trades})
        balances, blocked = self._standing([participants[p] for p in involved])
        split = split_settleable([obligation(t) for t in trades], balances, blocked)
        settling: list[WindowTrade] = []
        leaving: list[WindowTrade] = []
        for t in trades:  # one pass: a window holds thousands of trades
            excluded = t.buyer_id in split.excluded_participants or t.seller_id in split.excluded_participants
            (leaving if excluded else settling).append(t)
        if leaving:
            report.failed += self._remove_defaulters(window_id, leaving, blocked, split.excluded_participants)
        addresses = {p: participants[p].address for p in involved}
        leaves = [trade_leaf(t, addresses) for t in settling]
        root = merkle_root(leaves)
        figures = WindowFigures.of(obligation(t) for t in settling)
        with Session(self.db, expire_on_commit=False) as session:
            window = window_store.get(session, window_id)
            window.trades_root = "0x" + root.hex()
            window.trade_count = len(settling)
            window_store.record_figures(session, window, figures.as_json())
            if not settling:  # every trade left: nothing to send
                window_store.move(session, window, WindowStatus.SETTLED)
                window.settled_at = datetime.now(UTC)
                session.commit()
                log.warning("settlement window %d: every trade left it; nothing settled", window_id)
                return report
            call = net.settle_window(
                window_id, {addresses[p]: position for p, position in split.positions.items()}, root, len(settling)
            )
            record = self.custody.agent.sign(call)
            window.settlement_tx_hash = record.tx_hash
            window_store.move(session, window, WindowStatus.PENDING_SETTLEMENT)
            session.commit()
        report.transactions += 1
        try:
            self.custody.agent.send(record)
            receipt = self.custody.agent.wait(record)
        except errors.ChainUnavailable as exc:
            log.warning("window %d: settlement %s outcome unknown (%s); following up", window_id, record.tx_hash, exc)
            return report
        except errors.SettlementError as exc:
            log.warning("window %d: settlement reverted (%s); splitting it again next cycle", window_id, exc)
            self._back_to_closed(window_id)
            return report
        report.gas_used += int(receipt["gasUsed"])
        self._settled(window_id, settling, addresses, record.tx_hash, int(receipt["blockNumber"]))
        report.windows_settled += 1
        return report

    def _standing(self, participants: Sequence[Participant]) -> tuple[dict[str, int], set[str]]:
        """Each participant's settlement balance, and who is blocked (blacklisted by the token, or
        not a SettlementNet participant): two round trips for the whole window."""
        net = self.require_net()
        addresses = [p.address for p in participants]
        standing = net.standing(addresses)
        flags = self.chain.preflight_many(addresses)
        balances = {p.id: standing[p.address][0] for p in participants}
        blocked = {
            p.id for p in participants if flags[p.address.lower()].payer_blacklisted or not standing[p.address][1]
        }
        return balances, blocked

    def _follow_up(self, window_id: int) -> CycleReport:
        """A window whose settlement was sent but not seen mined: the contract's word decides."""
        net = self.require_net()
        on_chain = net.window(window_id)
        with Session(self.db, expire_on_commit=False) as session:
            window = window_store.get(session, window_id)
            trades = list(window_store.trades_of(session, window_id, [TradeStatus.IN_WINDOW]))
            participants = {p.id: p for p in repo.list_participants(session)}
        if not on_chain.settled:
            status = self.chain.receipt_status(window.settlement_tx_hash) if window.settlement_tx_hash else None
            if status == 0:
                self._back_to_closed(window_id)
            return CycleReport()  # still in flight: the sender follows it (re-sends if dropped)
        addresses = {p.id: p.address for p in participants.values()}
        root = merkle_root([trade_leaf(t, addresses) for t in trades])
        if "0x" + on_chain.trades_root.hex() != window.trades_root or root != on_chain.trades_root:
            log.error(
                "window %d: the chain recorded root %s, the ledger has %s",
                window_id,
                on_chain.trades_root.hex(),
                window.trades_root,
            )
        self._settled(window_id, trades, addresses, window.settlement_tx_hash or "", on_chain.block_number)
        return CycleReport(windows_settled=1)

    def _read_back_settled(self) -> None:
        """Read windows booked SETTLED back from SettlementNet, a page a cycle: those above the fork
        after the indexer rewound a reorg, and every `realign_every_cycles` cycles (the first one
        too) those within `reorg_window_blocks` of the indexer's position. The sweep catches what
        the rewind's signal cannot: a rewind seen by another process, a restart, a reorg below
        the indexer's position. A page that fails is read again next cycle."""
        fork_block = self._fork.take()
        if fork_block is not None and (self._read_back is None or fork_block < self._read_back[0]):
            self._read_back = (fork_block, 0)
        if self._cycles_to_sweep > 0:
            self._cycles_to_sweep -= 1
        else:
            self._cycles_to_sweep = self.settings.realign_every_cycles - 1
            if self._read_back is None:
                indexed = self.confirmed_block()
                if indexed is not None:
                    self._read_back = (max(0, indexed - self.settings.reorg_window_blocks), 0)
        if self._read_back is None:
            return
        above_block, after_id = self._read_back
        with Session(self.db) as session:
            window_ids = window_store.settled_above(session, above_block, after_id, WINDOWS_PER_CYCLE_MAX)
        for window_id in window_ids:
            self._reopen_if_unsettled(window_id)
        self._read_back = (above_block, window_ids[-1]) if len(window_ids) == WINDOWS_PER_CYCLE_MAX else None

    def _reopen_if_unsettled(self, window_id: int) -> None:
        """The contract's word on a window booked SETTLED. One the chain still has settled (its
        transaction mined again on the new branch) keeps its trades and obligations, its block
        updated; one it has not goes back to PENDING_SETTLEMENT, so _follow_up waits for the
        transaction the sender sends again, or splits the window again if it reverts."""
        on_chain = self.require_net().window(window_id)
        if not on_chain.settled:
            self._unsettle(window_id)
            return
        with Session(self.db) as session:
            window = window_store.get(session, window_id)
            if window.status == WindowStatus.SETTLED and window.settlement_block != on_chain.block_number:
                window.settlement_block = on_chain.block_number
                session.commit()

    def _unsettle(self, window_id: int) -> None:
        """_settled undone, in one database transaction: trades back IN_WINDOW (realigned from the
        chain), the window's obligation entries reversed (the journal stays append-only), the
        window PENDING_SETTLEMENT with its transaction kept for the follow-up."""
        with Session(self.db, expire_on_commit=False) as session:
            window = window_store.get(session, window_id)
            trades = window_store.trades_of(session, window_id, [TradeStatus.SETTLED])
            window_store.unsettle_trades(session, window_id, trades)
            records = self.journal.records(window_store.unreversed_obligations(session, window_id), session)
            drafts = [
                record.reversal(f"reorg: {window_description(window_id)}'s settlement {record.tx_hash} is not on chain")
                for record in records
            ]
            if drafts:
                self.journal.append_many(drafts, session)
            window_store.move(session, window, WindowStatus.PENDING_SETTLEMENT)
            window.settlement_block = None
            window.settled_at = None
            session.commit()
        log.error(
            "settlement window %d: a reorg undid its settlement %s; %d trades are back in the window "
            "until the chain settles it",
            window_id,
            window.settlement_tx_hash,
            len(trades),
        )
        self._publish(trades, TradeStatus.IN_WINDOW, None)

    def _publish(self, trades: Sequence[WindowTrade], status: TradeStatus, tx_hash: str | None) -> None:
        """One status event per trade a window moved in bulk (after the commit that moved them)."""
        now = utcnow()
        self.publisher.publish_events(
            [
                TradeEvent(
                    trade_id=t.id,
                    status=status,
                    buyer_id=t.buyer_id,
                    seller_id=t.seller_id,
                    tx_hash=tx_hash,
                    error_code=None,
                    at=now,
                )
                for t in trades
            ]
        )

    def _back_to_closed(self, window_id: int) -> None:
        with Session(self.db) as session:
            window = window_store.get(session, window_id)
            window_store.move(session, window, WindowStatus.CLOSED)
            window.settlement_tx_hash = None
            session.commit()

    def _remove_defaulters(
        self, window_id: int, leaving: Sequence[WindowTrade], blocked: set[str], excluded: frozenset[str]
    ) -> int:
        """Blocked participants' trades are refused; a short participant's roll to the next window
        (refused once past their deadline). Returns how many were refused."""
        chain_now_s = self.chain.latest_timestamp()
        refused: list[Trade] = []
        rolled: list[Trade] = []
        with Session(self.db, expire_on_commit=False) as session:
            trades = repo.trades_by_ids(session, [t.id for t in leaving])
            window_store.lock_exposure_of(session, trades)
            for trade in trades:
                if trade.buyer_id in blocked or trade.seller_id in blocked or is_expired(trade.deadline, chain_now_s):
                    repo.transition(
                        session,
                        trade,
                        TradeStatus.FAILED,
                        error_code=NET_SETTLEMENT_REFUSED,
                        error_detail="a party cannot settle in net mode (blacklisted or removed), or the "
                        "deadline passed while its window waited for cover",
                    )
                    refused.append(trade)
                else:
                    rolled.append(trade)
            if rolled:
                window_store.roll(session, rolled, window_id)
            session.commit()
        log.warning(
            "window %d: participants %s cannot settle; %d trades rolled, %d refused",
            window_id,
            ", ".join(sorted(excluded)),
            len(rolled),
            len(refused),
        )
        for trade in refused:
            self.publisher.publish(trade)
        return len(refused)

    def _settled(
        self, window_id: int, trades: Sequence[WindowTrade], addresses: dict[str, str], tx_hash: str, block_number: int
    ) -> None:
        """The window's transaction is mined: its trades are SETTLED and their obligations journaled
        (in one database transaction); the journal's head is then anchored by the indexing thread
        (settlement/anchoring.py says why not here)."""
        drafts = [
            EntryDraft(
                kind=EntryKind.OBLIGATION,
                postings=transfer(
                    obligation_account(window_id, addresses[t.buyer_id]),
                    obligation_account(window_id, addresses[t.seller_id]),
                    t.settlement_amount_base_units,
                ),
                description=f"obligation in {window_description(window_id)}",
                trade_id=t.id,
                chain_id=self.chain.manifest.chain_id,
                tx_hash=tx_hash,
            )
            for t in trades
        ]
        with Session(self.db, expire_on_commit=False) as session:
            window = window_store.get(session, window_id)
            window_store.settle_trades(session, window_id, trades, tx_hash, block_number)
            if drafts:
                self.journal.append_many(drafts, session)
            window_store.move(session, window, WindowStatus.SETTLED)
            window.settlement_block = block_number
            window.settled_at = datetime.now(UTC)
            session.commit()
        log.info("settlement window %d settled: %d trades in %s", window_id, len(trades), tx_hash)
        self._publish(trades, TradeStatus.SETTLED, tx_hash)
        self.anchoring.request()

    # ----------------------------------------------------------------- proofs

    def proof_leaves(self, session: Session, trade: Trade) -> tuple[SettlementWindowRecord, list[TradeLeaf], TradeLeaf]:
        """The settled window of a trade, all its leaves, and the trade's own leaf."""
        if trade.status != TradeStatus.SETTLED or trade.window_id is None:
            raise errors.TradeNotSettled(f"trade is {trade.status}: a proof exists once its window has settled")
        window = window_store.get(session, trade.window_id)
        trades = window_store.trades_of(session, trade.window_id, [TradeStatus.SETTLED])
        addresses = {p.id: p.address for p in repo.list_participants(session)}
        return window, [trade_leaf(t, addresses) for t in trades], trade_leaf(trade, addresses)
