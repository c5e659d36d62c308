"""Wires the product together from settings: chain, database, engine, indexer, directory.

The API, the demo, the benchmark and the pytest plugin all build one SettlementService, so they
run exactly the same code. `start()` runs the settlement cycle and the ledger indexer in one
background thread; `settle_until_idle()` does the same synchronously (demo, tests, bench).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session

from settlement import errors
from settlement.chain.client import ChainClient, connect
from settlement.config import Settings
from settlement.custody import Custody
from settlement.domain.fx import DEVNET_FX_RATES, DEVNET_FX_SOURCE, FxQuote
from settlement.domain.trade import TradeStatus
from settlement.engine import CycleReport, SettlementEngine
from settlement.indexer import Indexer
from settlement.ledger import repository as repo
from settlement.ledger.journal_store import JournalStore
from settlement.ledger.models import ClientAccount, Participant, Trade, TradeTransition
from settlement.ledger.schema import open_database
from settlement.ledger.tx_journal import SqlTxJournal
from settlement.manifest import DeploymentManifest
from settlement.money import SUPPORTED_CURRENCIES
from settlement.participants import ParticipantDirectory
from settlement.reconcile import ReconciliationReport, reconcile

log = logging.getLogger(__name__)

IDLE_CYCLES_TO_STOP = 1
MAX_SETTLE_ROUNDS = 50
WORKER_ERROR_BACKOFF_S = 2.0


@dataclass
class WorkerHealth:
    last_cycle_at: datetime | None = None
    last_error: str | None = None


class SettlementService:
    def __init__(self, settings: Settings, manifest: DeploymentManifest | None = None) -> None:
        self.settings = settings
        self.manifest = manifest or DeploymentManifest.load(settings.manifest_path())
        self.chain = ChainClient(connect(settings.rpc_url or self.manifest.rpc_url), self.manifest)
        self.db = open_database(settings.resolved_database_url())
        self.journal = JournalStore(self.db)
        self.custody = Custody(
            self.chain, SqlTxJournal(self.db), settings, hold_broker_keys=settings.custodial_devnet_keys
        )
        self.engine = SettlementEngine(self.db, self.chain, self.custody, self.journal, settings)
        self.indexer = Indexer(
            self.chain,
            self.db,
            self.journal,
            confirmation_depth=settings.confirmation_depth,
            chunk_blocks=settings.indexer_chunk_blocks,
            reorg_window_blocks=settings.reorg_window_blocks,
        )
        self.participants = ParticipantDirectory(self.db, self.chain, self.custody, self.journal)
        self.health = WorkerHealth()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._cycle_lock = threading.Lock()
        self.seed_fx_rates()

    # ----------------------------------------------------------------- setup

    def seed_fx_rates(self) -> None:
        """Devnet defaults for HKD, CNH, USD, SGD, only where no rate was ever recorded."""
        with Session(self.db) as session:
            for currency, rate in DEVNET_FX_RATES.items():
                if repo.latest_fx_rate(session, currency) is None:
                    repo.record_fx_rate(session, FxQuote(currency, rate, DEVNET_FX_SOURCE, datetime.now(UTC)))
            session.commit()

    def record_fx_rate(self, quote: FxQuote) -> FxQuote:
        """Validated here, not at the edge, so every caller gets the same rules."""
        currency = quote.currency.upper()
        if currency not in SUPPORTED_CURRENCIES:
            raise errors.UnknownCurrency(f"currency {quote.currency!r} is not supported")
        if not quote.rate_to_usd.is_finite() or quote.rate_to_usd <= 0:
            raise errors.NonPositiveValue("rate_to_usd must be greater than zero")
        quote = FxQuote(currency, quote.rate_to_usd, quote.source, quote.as_of)
        with Session(self.db) as session:
            repo.record_fx_rate(session, quote)
            session.commit()
        return quote

    def fx_rates(self) -> list[FxQuote]:
        with Session(self.db) as session:
            return repo.latest_fx_rates(session)

    # ----------------------------------------------------------------- reads (for the API)

    def trade(self, trade_id: str) -> Trade:
        with Session(self.db, expire_on_commit=False) as session:
            return repo.get_trade(session, trade_id)

    def trades(
        self, *, party_id: str | None, status: TradeStatus | None, after: tuple[datetime, str] | None, limit: int
    ) -> list[Trade]:
        with Session(self.db, expire_on_commit=False) as session:
            return list(repo.list_trades(session, party_id=party_id, status=status, after=after, limit=limit))

    def transitions(self, trade_id: str) -> list[TradeTransition]:
        with Session(self.db, expire_on_commit=False) as session:
            return list(repo.transitions_of(session, trade_id))

    def participant_directory(self) -> list[Participant]:
        with Session(self.db, expire_on_commit=False) as session:
            return list(repo.list_participants(session))

    def clients_of(self, participant_id: str) -> list[ClientAccount]:
        with Session(self.db, expire_on_commit=False) as session:
            return list(repo.clients_of(session, participant_id))

    # ----------------------------------------------------------------- cycles

    def run_cycle(self) -> CycleReport:
        """One settlement cycle, then mirror the chain into the ledger."""
        with self._cycle_lock:
            report = self.engine.process_once()
            self.indexer.run_once()
            self.health.last_cycle_at = datetime.now(UTC)
            return report

    def settle_until_idle(self) -> CycleReport:
        """Cycle until nothing moves (bounded), then index to the head. For demos, tests, benches."""
        total = CycleReport()
        for _ in range(MAX_SETTLE_ROUNDS):
            report = self.run_cycle()
            total.add(report)
            if report.transactions == 0 and report.failed == 0:
                break
        with self._cycle_lock:
            self.indexer.run_until_head()
        return total

    def wake(self) -> None:
        """New work arrived (a trade, a confirm, a cancel): run a cycle now rather than at the tick."""
        self._wake.set()

    def recover(self) -> int:
        with self._cycle_lock:
            return self.engine.recover()

    def start(self) -> None:
        """Recover from any crash, then run cycles in a background thread until stop()."""
        self.recover()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="settlement-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_cycle()
                self.health.last_error = None
            except Exception as exc:  # keep serving; the health endpoint shows the error
                log.exception("settlement cycle failed")
                self.health.last_error = f"{type(exc).__name__}: {exc}"
                self._stop.wait(WORKER_ERROR_BACKOFF_S)
            self._wake.wait(self.settings.sweep_interval_s)
            self._wake.clear()

    # ----------------------------------------------------------------- audit

    def reconcile(self) -> ReconciliationReport:
        with self._cycle_lock:
            self.indexer.run_until_head()
            return reconcile(self.chain, self.db)

    def close(self) -> None:
        self.stop()
        self.db.dispose()
