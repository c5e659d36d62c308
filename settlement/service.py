"""SettlementService: the one door into the product.

The API, the CLI, the demo, the benchmark and the pytest plugin all build one SettlementService
and call only its methods, so they run exactly the same code and the same authorization
(domain/access.py). It wires the parts from settings (chain, database, intake, cycle, recovery,
indexer, directory) and decides nothing itself: every rule lives in the domain or a service part.
`start()` runs cycles in a background worker; `settle_until_idle()` does the same synchronously.

The class (and so this module) is longer than our guides (~250 lines a class, ~400 a module)
on purpose: it is the door, one short method per thing a caller may ask, each a policy check
plus a hand-off to a part that holds the logic. Splitting it would give callers two doors.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlmodel import Session

from settlement import errors
from settlement.anchoring import JournalAnchoring
from settlement.chain.client import ChainClient, LockStatus, connect
from settlement.chain.custody import Custody
from settlement.chain.lock_intents import lock_intent_typed_data
from settlement.chain.merkle import TradeProof, merkle_proof
from settlement.chain.trade_ids import chain_trade_key
from settlement.chain.tx_decoder import DecodedTransaction, TransactionDecoder, is_tx_hash
from settlement.config import Settings
from settlement.domain import access
from settlement.domain.access import Actor
from settlement.domain.anchors import AnchoredHead
from settlement.domain.delivery import DeliveryStatus, RetryPolicy
from settlement.domain.fx import DEVNET_FX_RATES, DEVNET_FX_SOURCE, FxQuote, check_new_rate
from settlement.domain.journal import ESCROW_PREFIX, WALLET_PREFIX, client_account, escrow_account, wallet_account
from settlement.domain.requests import TradeRequest
from settlement.domain.trade import TradeStatus
from settlement.domain.window import WindowFigures, WindowStatus
from settlement.event_log import DeliveryView, EventLog
from settlement.exports import (
    EXPORT_TRADES_MAX,
    Export,
    ExportStamp,
    Period,
    account_statements,
    journal_export,
    reconciliation_export,
    records_up_to,
    statement_export,
    trades_export,
)
from settlement.idempotency import IdempotentOperations, IdempotentResponse
from settlement.indexer import Indexer, IndexResult
from settlement.ledger import dashboard_reads as reads
from settlement.ledger import repository as repo
from settlement.ledger import window_store
from settlement.ledger.journal_store import JournalRecord, JournalStore, VerifyResult
from settlement.ledger.models import SettlementWindowRecord
from settlement.ledger.outage import DATABASE_FAILURE_TYPES, database_unavailable
from settlement.ledger.reference_data import ReferenceData
from settlement.ledger.schema import open_database
from settlement.ledger.tx_journal import SqlTxJournal
from settlement.ledger.worker_lease import WorkerLease
from settlement.liquidity import Liquidity, SettlementBalance
from settlement.manifest import DeploymentManifest
from settlement.money import supported_currency
from settlement.overview import BrokerPosition, Overview
from settlement.participants import ParticipantBalances, ParticipantDirectory
from settlement.processing.batch_intake import BatchIntake, BatchItemResult
from settlement.processing.cycle import SettlementCycle
from settlement.processing.instructions import PartyInstructions
from settlement.processing.intake import TradeIntake
from settlement.processing.publisher import TradeEvent, TradeListener, TradePublisher
from settlement.processing.recovery import Recovery
from settlement.processing.report import CycleReport
from settlement.processing.windows import SettlementWindows, obligation
from settlement.reconcile import ReconciliationReport, reconcile
from settlement.redaction import install_log_redaction, redact_url
from settlement.safety import require_safe_settings
from settlement.startup import with_retries
from settlement.views import (
    ClientView,
    ParticipantView,
    TradeView,
    TransitionView,
    WindowPositionView,
    WindowView,
)
from settlement.worker import SettlementWorker

log = logging.getLogger(__name__)

SETTLE_ROUNDS_MAX = 50
OVERVIEW_BROKERS_MAX = 200
WINDOWS_LISTED_MAX = 200  # brokers shown on the overview, each read on chain
WEBHOOK_CLAIM_MARGIN_S = 10.0  # a claimed delivery is not re-claimed until well after its send timed out


@dataclass(frozen=True)
class ServiceHealth:
    chain_id: int
    latest_block: int | None
    indexer_head: int | None
    database_ok: bool
    worker_last_cycle_at: datetime | None
    worker_error: str | None
    worker_role: str  # active | standby (another server holds the lease) | api-only | stopped
    worker_live: bool  # some server's worker holds this ledger's lease and renews it

    @property
    def indexer_lag(self) -> int | None:
        if self.latest_block is None or self.indexer_head is None:
            return None
        return self.latest_block - self.indexer_head


class SettlementService:
    def __init__(self, settings: Settings, manifest: DeploymentManifest | None = None) -> None:
        install_log_redaction()  # RPC and database URLs may carry credentials: keep them out of every log
        self.settings = settings
        self.fx_limits = settings.fx_limits()
        self.manifest = manifest or DeploymentManifest.load(settings.manifest_path())
        self.chain = ChainClient(connect(settings.rpc_url or self.manifest.rpc_url), self.manifest)
        rpc_chain_id = self.chain.rpc_chain_id()
        require_safe_settings(settings, rpc_chain_id)  # before anything is opened or signed
        # Resolved once, for the sender and the indexer alike (Settings.confirmation_depth_on).
        self.confirmation_depth = settings.confirmation_depth_on(rpc_chain_id)
        self.db = open_database(settings.resolved_database_url(), settings.database_busy_timeout_s)
        self.journal = JournalStore(self.db)
        self.custody = Custody(
            self.chain,
            SqlTxJournal(self.db),
            settings,
            hold_broker_keys=settings.custodial_devnet_keys,
            confirmation_depth=self.confirmation_depth,
        )
        self.publisher = TradePublisher()
        self.reference = ReferenceData()  # participants and FX rates, re-read only when they change
        self.intake = TradeIntake(
            self.db, self.chain, self.custody, self.journal, settings, self.publisher, self.reference
        )
        self.instructions = PartyInstructions(self.db, self.chain, self.intake.matching, self.publisher)
        self.recovery = Recovery(self.db, self.chain, self.custody, self.publisher)
        self.cycle = SettlementCycle(
            self.db,
            self.chain,
            self.custody,
            settings,
            self.recovery,
            self.intake.matching,
            self.publisher,
            self.reference,
        )
        self.indexer = Indexer(
            self.chain,
            self.db,
            self.journal,
            confirmation_depth=self.confirmation_depth,
            chunk_blocks=settings.indexer_chunk_blocks,
            reorg_window_blocks=settings.reorg_window_blocks,
        )
        self.anchoring = JournalAnchoring(self.chain, self.journal, self.custody, settings.anchor_interval_s)
        self.batch_intake = BatchIntake(self.db, self.chain, self.intake, self.publisher)
        self.settlement_windows = SettlementWindows(
            self.db,
            self.chain,
            self.custody,
            self.journal,
            settings,
            self.publisher,
            self.anchoring,
            confirmed_block=lambda: cursor[0] if (cursor := self.indexer.cursor()) else None,
        )
        self.indexer.on_rewind = self._after_rewind
        self.participants = ParticipantDirectory(self.db, self.chain, self.custody, self.journal)
        self.liquidity = Liquidity(self.db, self.chain, self.custody, self.journal)
        self.idempotency = IdempotentOperations(self.db, settings.idempotency_key_ttl_s)
        self.lease = WorkerLease(self.db, settings.worker_lease_ttl_s)
        self.worker = SettlementWorker(
            self.run_settlement,
            settings.sweep_interval_s,
            self.lease,
            on_active=self.recover,
            follow=self.follow_chain,
        )
        self._serving = False  # start() was called: trades then need a live worker somewhere
        self._cycle_lock = threading.Lock()  # one settlement cycle at a time
        self._index_lock = threading.Lock()  # one indexer run at a time
        self.check_ledger_identity()
        self._init_event_log()
        self.seed_fx_rates()

    def check_ledger_identity(self) -> None:
        """Refuse to run on a ledger that mirrors another chain or deployment (e.g. after a devnet
        reset): mixing two chains' histories would make every balance and proof wrong."""
        escrow = self.manifest.escrow.address.lower()
        deploy_hash = self.chain.block_hash(self.manifest.deploy_block)
        with Session(self.db) as session:
            known = repo.ledger_identity(session)
            if known is None:
                if deploy_hash is None:
                    raise errors.LedgerMismatch(
                        f"the chain has no block {self.manifest.deploy_block} (the manifest's deploy block): "
                        "redeploy (python -m settlement.devnet reset, then up)"
                    )
                repo.record_ledger_identity(
                    session,
                    chain_id=self.manifest.chain_id,
                    escrow_address=escrow,
                    deploy_block=self.manifest.deploy_block,
                    deploy_block_hash=deploy_hash,
                )
                session.commit()
                return
            if (known.chain_id, known.escrow_address, known.deploy_block, known.deploy_block_hash) != (
                self.manifest.chain_id,
                escrow,
                self.manifest.deploy_block,
                deploy_hash,
            ):
                raise errors.LedgerMismatch(
                    f"this ledger mirrors chain {known.chain_id}, escrow {known.escrow_address} deployed in block "
                    f"{known.deploy_block} ({known.deploy_block_hash[:10]}…), not the deployment the chain has now; "
                    "point SETTLEMENT_DATABASE_URL at a new database, or reset the devnet's ledger "
                    "(python -m settlement.devnet reset --ledger)"
                )

    # ----------------------------------------------------------------- callers

    def authenticate(self, api_key: str) -> Actor:
        """The operator key (compared in constant time) or a participant's key; else Unauthenticated."""
        if hmac.compare_digest(api_key.encode(), self.settings.operator_key.encode()):
            return Actor.operator()
        participant = self.participants.authenticate(api_key)
        if participant is None:
            raise errors.Unauthenticated("unknown API key")
        return Actor.participant(participant.id)

    def run_idempotent(
        self, actor: Actor, operation: str, key: str, request_hash: str, action: Callable[[], tuple[int, Any]]
    ) -> IdempotentResponse:
        """Run one of the caller's money-moving requests once per Idempotency-Key: `action` does it
        through this service and returns the response (status, JSON body) that a retry with the
        same key and request replays (settlement/idempotency.py)."""
        return self.idempotency.run(actor.id, operation, key, request_hash, action)

    def known_failure(self, exc: Exception) -> errors.SettlementError | None:
        """The domain error for a failure raised below the service (a locked or unreachable
        database), so callers answer it like any other (503 database_unavailable), not as a bug."""
        return database_unavailable(exc)

    @staticmethod
    def known_failure_types() -> tuple[type[Exception], ...]:
        """The exception types known_failure may translate (the API registers handlers for them)."""
        return DATABASE_FAILURE_TYPES

    def may_see_event(self, actor: Actor, event: TradeEvent) -> bool:
        return access.may_see_trade(actor, event)

    def subscribe(self, listener: TradeListener) -> None:
        """Trade status events, published after each change is committed."""
        self.publisher.subscribe(listener)

    def unsubscribe(self, listener: TradeListener) -> None:
        self.publisher.unsubscribe(listener)

    # ----------------------------------------------------------------- FX

    def seed_fx_rates(self) -> None:
        """Devnet defaults for HKD, CNH, USD, SGD where no rate was ever recorded, and again where the
        latest is a devnet default gone stale (a devnet left running for days keeps pricing trades)."""
        now = datetime.now(UTC)
        with Session(self.db) as session:
            for currency, rate in DEVNET_FX_RATES.items():
                latest = repo.latest_fx_rate(session, currency)
                stale = (
                    latest is not None and (now - latest.as_of).total_seconds() > self.settings.fx_rate_age_max_s / 2
                )
                if latest is None or (latest.source == DEVNET_FX_SOURCE and stale):
                    repo.record_fx_rate(session, FxQuote(currency, rate, DEVNET_FX_SOURCE, now))
            session.commit()

    def record_fx_rate(self, actor: Actor, quote: FxQuote) -> FxQuote:
        """Validated here, not at the edge, so every caller gets the same rules (domain/fx.py)."""
        access.require_operator(actor)
        quote = FxQuote(supported_currency(quote.currency), quote.rate_to_usd, quote.source, quote.as_of, quote.forced)
        with Session(self.db) as session:
            check_new_rate(quote, repo.latest_fx_rate(session, quote.currency), datetime.now(UTC), self.fx_limits)
            repo.record_fx_rate(session, quote)
            session.commit()
        return quote

    def fx_rates(self) -> list[FxQuote]:
        with Session(self.db) as session:
            return repo.latest_fx_rates(session)

    # ----------------------------------------------------------------- participants

    def register_participant(
        self, actor: Actor, name: str, jurisdiction: str, address: str | None
    ) -> tuple[ParticipantView, str]:
        access.require_operator(actor)
        return self.participants.register(name, jurisdiction, address)

    def participant_directory(self) -> list[ParticipantView]:
        with Session(self.db, expire_on_commit=False) as session:
            return list(repo.list_participants(session))

    def participant(self, participant_id: str) -> ParticipantView:
        """A participant named in a path: unknown is NotFound (in a trade body it is a validation error)."""
        try:
            return self.participants.get(participant_id)
        except errors.UnknownParticipant:
            raise errors.NotFound(f"no participant {participant_id}") from None

    def issue(self, actor: Actor, participant_id: str, amount_base_units: int) -> str:
        """Mint coins to a participant's wallet; returns the tx hash. The ledger follows from the event."""
        access.require_operator(actor)
        self.participant(participant_id)
        tx_hash = self.participants.issue(participant_id, amount_base_units)
        self.worker.wake()
        return tx_hash

    def balances(self, actor: Actor, participant_id: str) -> ParticipantBalances:
        access.require_acts_for(actor, participant_id)
        self.participant(participant_id)
        return self.participants.balances(participant_id)

    def add_client(self, actor: Actor, participant_id: str, name: str) -> ClientView:
        access.require_acts_for(actor, participant_id)
        self.participant(participant_id)
        return self.participants.add_client(participant_id, name)

    def clients(self, actor: Actor, participant_id: str) -> list[ClientView]:
        access.require_acts_for(actor, participant_id)
        self.participant(participant_id)
        with Session(self.db, expire_on_commit=False) as session:
            return list(repo.clients_of(session, participant_id))

    def allocate(self, actor: Actor, participant_id: str, client_id: str, amount_base_units: int) -> int:
        """Earmark coins for a client; returns the client's balance after it."""
        access.require_acts_for(actor, participant_id)
        self.participant(participant_id)
        try:
            self.participants.allocate(participant_id, client_id, amount_base_units)
        except errors.UnknownClientAccount as exc:
            raise errors.NotFound(exc.detail) from None
        return self.journal.balance(client_account(client_id))

    # ----------------------------------------------------------------- trades

    def submit_trade(self, actor: Actor, request: TradeRequest, idempotency_key: str | None) -> tuple[TradeView, bool]:
        """A party's instruction (alleged, or matching the counterparty's) or the operator's matched
        trade; (trade, changed). A replayed Idempotency-Key returns the original with changed=False."""
        if not access.may_submit(actor, request.buyer_id, request.seller_id):
            raise errors.Forbidden("a broker may only submit trades it is the buyer or seller of")
        self._require_settling()
        trade, changed = self.intake.submit(request, actor, idempotency_key)
        if changed:
            self.worker.wake()
        return trade, changed

    def submit_trades(self, actor: Actor, requests: list[TradeRequest]) -> list[BatchItemResult]:
        """Up to 1,000 trades, each with its own result (processing/batch_intake.py). A broker may
        submit only trades it is party to: any other item is refused, the rest proceed."""
        self._require_settling()
        allowed: list[TradeRequest] = []
        refused: dict[int, BatchItemResult] = {}
        positions: list[int] = []
        for index, request in enumerate(requests):
            if access.may_submit(actor, request.buyer_id, request.seller_id):
                positions.append(index)
                allowed.append(request)
            else:
                refused[index] = BatchItemResult.refused(
                    index, errors.Forbidden("a broker may only submit trades it is the buyer or seller of")
                )
        answered = self.batch_intake.submit(allowed, actor) if allowed else []
        for index, result in zip(positions, answered, strict=True):
            refused[index] = replace(result, index=index)
        if answered:
            self.worker.wake()
        return [refused[i] for i in range(len(requests))]

    # ----------------------------------------------------------------- net settlement windows

    def windows(self, actor: Actor, status: WindowStatus | None = None, limit: int = 50) -> list[WindowView]:
        with Session(self.db) as session:
            rows = list(window_store.newest(session, status, min(max(limit, 1), WINDOWS_LISTED_MAX)))
            participants = {p.id: p for p in repo.list_participants(session)}
        return [self._window_view(actor, row, participants) for row in rows]

    def window(self, actor: Actor, window_id: int) -> WindowView:
        with Session(self.db) as session:
            row = window_store.get(session, window_id)
            participants = {p.id: p for p in repo.list_participants(session)}
        return self._window_view(actor, row, participants)

    def close_window(self, actor: Actor, window_id: int) -> WindowView:
        """The operator closes an open window now; the worker then settles it. Idempotent."""
        access.require_operator(actor)
        self.settlement_windows.require_net()
        self.settlement_windows.close(window_id)
        self.worker.wake()
        return self.window(actor, window_id)

    def net_settlement_address(self) -> str:
        return self.settlement_windows.require_net().address

    def trade_proof(self, actor: Actor, trade_id: str) -> TradeProof:
        """The Merkle proof of a net trade's inclusion in its window's root, as recorded on chain."""
        self.trade(actor, trade_id)
        with Session(self.db, expire_on_commit=False) as session:
            trade = repo.get_trade(session, trade_id)
            window, leaves, leaf = self.settlement_windows.proof_leaves(session, trade)
        assert window.id is not None and window.trades_root is not None
        return TradeProof(
            window.id,
            leaf,
            tuple(merkle_proof(leaves, leaf)),
            bytes.fromhex(window.trades_root[2:]),
        )

    def _window_view(self, actor: Actor, row: SettlementWindowRecord, participants: dict[str, Any]) -> WindowView:
        """Gross and net per broker from the window's recorded figures (or, while it is open or
        closed, from its trades); a broker sees only its own row."""
        assert row.id is not None
        if row.positions_json is not None:
            figures = WindowFigures.from_json(json.loads(row.positions_json))
        else:
            with Session(self.db) as session:
                trades = window_store.trades_of(session, row.id, [TradeStatus.IN_WINDOW, TradeStatus.SETTLED])
                figures = WindowFigures.of(obligation(t) for t in trades)
        positions = [
            WindowPositionView(
                participant_id=pid,
                name=participants[pid].name if pid in participants else "",
                address=participants[pid].address if pid in participants else "",
                pays_base_units=f.pays_base_units,
                receives_base_units=f.receives_base_units,
                net_base_units=f.net_base_units,
            )
            for pid, f in figures.participants.items()
            if actor.is_operator or pid == actor.participant_id
        ]
        return WindowView(
            id=row.id,
            status=row.status,
            opened_at=row.opened_at,
            closed_at=row.closed_at,
            close_block=row.close_block,
            trade_count=row.trade_count,
            gross_total_base_units=figures.gross_total_base_units if actor.is_operator else None,
            net_total_base_units=figures.net_total_base_units if actor.is_operator else None,
            liquidity_saved_ratio=figures.liquidity_saved_ratio() if actor.is_operator else None,
            trades_root=row.trades_root,
            settlement_tx_hash=row.settlement_tx_hash,
            settlement_block=row.settlement_block,
            settled_at=row.settled_at,
            positions=positions,
        )

    def _require_settling(self) -> None:
        """A started server takes new trades only while some worker settles this ledger, healthy:
        accepting work nobody will settle would leave trades PENDING for ever (no worker holds the
        lease, or the worker's last cycle failed: chain, DB). A failed indexing run alone does not
        refuse trades (they still settle; the ledger catches up). Without start() (tools, tests
        calling settle_until_idle) there is nothing to check."""
        if not (self._serving or self.worker.started):
            return
        if self.worker.active:
            error = self.worker.health.cycle_error_class
        else:
            lease = self.lease.status()
            if not lease.live:
                raise errors.SettlementUnavailable(
                    "no settlement worker is running for this ledger; see /v1/health and retry later"
                )
            error = lease.worker_error
        if error is not None:
            raise errors.SettlementUnavailable(
                f"the settlement worker's last cycle failed ({error}); see /v1/health and retry later"
            )

    def affirm(self, actor: Actor, trade_id: str, own_ref: str | None = None) -> TradeView:
        """The counterparty agrees to an alleged trade; it is then locked at the next cycle."""
        trade = self.trade(actor, trade_id)
        side = access.side_of(actor, trade)
        if side is None or not access.may_affirm(actor, trade):
            raise errors.Forbidden("only the counterparty (the party that did not submit it) affirms a trade")
        affirmed = self.instructions.affirm(trade_id, side, own_ref, actor)
        self.worker.wake()
        return affirmed

    def withdraw(self, actor: Actor, trade_id: str) -> TradeView:
        trade = self.trade(actor, trade_id)
        if not access.may_withdraw(actor, trade):
            raise errors.Forbidden("only the submitter withdraws an alleged trade")
        return self.instructions.withdraw(trade_id)

    def report_delivery(self, actor: Actor, trade_id: str) -> TradeView:
        trade = self.trade(actor, trade_id)
        if not access.may_report_delivery(actor, trade):
            raise errors.Forbidden("only the seller reports delivery; the buyer (or the operator) confirms it")
        return self.instructions.report_delivery(trade_id)

    def authorize_lock(self, actor: Actor, trade_id: str, signature: bytes) -> TradeView:
        """A non-custodial buyer's EIP-712 signature of the lock: without it, nothing is locked."""
        trade = self.trade(actor, trade_id)
        if not access.may_authorize_lock(actor, trade):
            raise errors.Forbidden("only the buyer authorises the lock of its coins")
        authorized = self.instructions.authorize_lock(trade_id, signature)
        self.worker.wake()
        return authorized

    def lock_intent(self, actor: Actor, trade_id: str) -> dict[str, Any]:
        """The EIP-712 typed data the buyer signs to authorise this trade's lock."""
        self.trade(actor, trade_id)
        return lock_intent_typed_data(self.chain, self.instructions.lock_intent(trade_id))

    def trade(self, actor: Actor, trade_id: str) -> TradeView:
        with Session(self.db, expire_on_commit=False) as session:
            trade = repo.get_trade(session, trade_id)
        access.require_visible(actor, trade, trade_id)
        return trade

    def trades(
        self,
        actor: Actor,
        *,
        participant_id: str | None,
        status: TradeStatus | None,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[TradeView]:
        """A broker lists its own trades; the operator any participant's, or all."""
        party = participant_id if actor.is_operator else actor.participant_id
        with Session(self.db, expire_on_commit=False) as session:
            return list(repo.list_trades(session, party_id=party, status=status, after=after, limit=limit))

    def transitions(self, actor: Actor, trade_id: str) -> list[TransitionView]:
        self.trade(actor, trade_id)
        with Session(self.db, expire_on_commit=False) as session:
            return list(repo.transitions_of(session, trade_id))

    def confirm_delivery(self, actor: Actor, trade_id: str) -> TradeView:
        trade = self.trade(actor, trade_id)
        if not access.may_confirm(actor, trade):
            raise errors.Forbidden("only the buyer (or the operator, for the depository) confirms delivery")
        confirmed = self.instructions.confirm_delivery(trade_id)
        self.worker.wake()
        return confirmed

    def cancel(self, actor: Actor, trade_id: str) -> TradeView:
        """A matched trade is cancelled by both parties (the second triggers the refund) or the operator."""
        trade = self.trade(actor, trade_id)
        side = access.side_of(actor, trade)
        if side is None or not access.may_cancel(actor, trade):
            raise errors.Forbidden("only a party to the trade (or the operator) may cancel it")
        cancelled = self.instructions.cancel(trade_id, side)
        self.worker.wake()
        return cancelled

    # ----------------------------------------------------------------- ledger and audit

    def ledger_entries(
        self, actor: Actor, *, account: str | None, after_seq: int | None, limit: int
    ) -> list[JournalRecord]:
        """Journal entries in order; a broker reads only its wallet and clients (its wallet by default)."""
        if actor.participant_id is not None:
            participant = self.participants.get(actor.participant_id)
            own = {wallet_account(participant.address)}
            with Session(self.db) as session:
                own |= {client_account(c.id) for c in repo.clients_of(session, participant.id)}
            if account is None:
                account = wallet_account(participant.address)
            elif not access.may_read_account(actor, account, own):
                raise errors.Forbidden("a broker may read only its own wallet and client accounts")
        if account is not None and account.startswith(WALLET_PREFIX):
            account = account.lower()
        return self.journal.entries(account=account, after_seq=after_seq, limit=limit)

    def verify_journal(self, actor: Actor) -> VerifyResult:
        """The hash chain recomputed from genesis, and every on-chain anchor checked against it:
        a rewrite with recomputed hashes passes the first check but not the second."""
        access.require_operator(actor)
        result = self.journal.verify()
        anchors = self.anchoring.anchors()
        problems = sorted([*result.problems, *self.anchoring.problems(anchors)])
        return replace(
            result,
            ok=not problems,
            problems=problems,
            anchors_checked=len(anchors),
            latest_anchor=anchors[-1] if anchors else None,
        )

    def anchor_journal(self, actor: Actor) -> AnchoredHead | None:
        """Anchor the journal's head on chain now (the operator's button; the worker does it on a timer)."""
        access.require_operator(actor)
        with self._quiet():
            self.indexer.run_until_head()
            return self.anchoring.anchor_now()

    def journal_anchors(self, actor: Actor) -> list[AnchoredHead]:
        access.require_operator(actor)
        return self.anchoring.anchors()

    def index(self) -> IndexResult:
        """Mirror the chain into the ledger up to the confirmed head."""
        with self._quiet():
            return self.indexer.run_until_head()

    def reconcile(self, actor: Actor, *, block: int | None = None, index_first: bool = True) -> ReconciliationReport:
        """Compare chain and ledger at one height (the indexed head by default)."""
        access.require_operator(actor)
        with self._quiet():
            if index_first:
                self.indexer.run_until_head()
            return reconcile(self.chain, self.db, block)

    def health(self) -> ServiceHealth:
        latest: int | None = None
        try:
            latest = self.chain.block_number()
        except Exception as exc:  # reported as latest_block None: the chain is unreachable
            log.warning("health: chain unreachable: %s", type(exc).__name__)
        database_ok, indexer_head, lease = True, None, None
        try:
            with self.db.connect() as connection:
                connection.execute(text("SELECT 1"))
            cursor = self.indexer.cursor()
            indexer_head = cursor[0] if cursor else None
            lease = self.lease.status()
        except Exception as exc:
            log.warning("health: database check failed: %s", type(exc).__name__)
            database_ok = False
        worker = self.worker
        if worker.active:
            error, live = worker.health.error_class, True
        else:  # another server's worker, as its lease row tells
            live = lease is not None and lease.live
            error = lease.worker_error if lease is not None and live else None
        return ServiceHealth(
            chain_id=self.chain.chain_id,
            latest_block=latest,
            indexer_head=indexer_head,
            database_ok=database_ok,
            worker_last_cycle_at=worker.health.last_cycle_at,
            worker_error=error,  # the class only: details (hosts, SQL) stay in the server log
            worker_role=self._worker_role(),
            worker_live=live,
        )

    def _worker_role(self) -> str:
        if self.worker.started:
            return "active" if self.worker.active else "standby"
        return "api-only" if self._serving else "stopped"

    # ----------------------------------------------------------------- dashboard and exports (read-only)

    def overview(self, actor: Actor) -> Overview:
        """Trades by status, balances three ways, the journal head: the operator sees every broker,
        a broker only itself (the same rule as its balances)."""
        party = actor.participant_id
        with Session(self.db, expire_on_commit=False) as session:
            counts = reads.trade_counts(session, party)
            people = [p for p in repo.list_participants(session) if party is None or p.id == party]
        escrow_ledger = self.journal.balances(ESCROW_PREFIX)  # read once: one account per trade ever locked
        brokers = [self._position(p.id, p.name, p.jurisdiction, escrow_ledger) for p in people[:OVERVIEW_BROKERS_MAX]]
        cursor = self.indexer.cursor()
        seq, head_hash = self.journal.head()
        return Overview(
            viewer_participant_id=party,
            chain_id=self.chain.chain_id,
            latest_block=self.chain.block_number(),
            indexed_block=cursor[0] if cursor else None,
            token_address=self.manifest.token.address,
            escrow_address=self.manifest.escrow.address,
            rpc_url=redact_url(self.settings.rpc_url or self.manifest.rpc_url) if actor.is_operator else None,
            trade_counts=counts,
            brokers=brokers,
            journal_seq=seq,
            journal_head_hash=head_hash,
            anchor=self._anchor_line(),
        )

    def _anchor_line(self) -> str | None:
        latest = self.anchoring.latest()
        if latest is None:
            return None
        return f"seq {latest.sequence} · {latest.head_hash} (anchor #{latest.index})"

    def _position(
        self, participant_id: str, name: str, jurisdiction: str, escrow_ledger: dict[str, int]
    ) -> BrokerPosition:
        balances = self.participants.balances(participant_id)
        with Session(self.db, expire_on_commit=False) as session:
            locked = list(reads.locked_trades_of(session, participant_id))
        full = len(locked) < reads.LOCKED_TRADES_READ_MAX
        on_chain = None
        if full:
            locks = self.chain.get_locks([chain_trade_key(t.chain_trade_id) for t in locked])
            on_chain = sum(lock.amount_base_units for lock in locks if lock.status == LockStatus.LOCKED)
        return BrokerPosition(
            participant_id=participant_id,
            name=name,
            jurisdiction=jurisdiction,
            address=balances.address,
            on_chain_base_units=balances.on_chain_base_units,
            ledger_base_units=balances.ledger_base_units,
            unallocated_base_units=balances.unallocated_base_units,
            locked_trades_base_units=balances.locked_as_payer_base_units,
            locked_ledger_base_units=sum(escrow_ledger.get(escrow_account(t.chain_trade_id), 0) for t in locked),
            locked_on_chain_base_units=on_chain,
        )

    def transaction(self, actor: Actor, tx_hash: str) -> DecodedTransaction:
        """A transaction decoded with the manifest's ABIs. The operator opens any; a broker one that
        moved its trades or its ledger accounts (anything else is not found, as for trades)."""
        if not is_tx_hash(tx_hash):
            raise errors.ValidationFailed("a transaction hash is 0x and 64 hex digits")
        tx_hash = "0x" + tx_hash.removeprefix("0x").lower()
        if actor.participant_id is not None:
            with Session(self.db, expire_on_commit=False) as session:
                trades = reads.trades_with_tx(session, tx_hash)
                moved = reads.accounts_moved_by_tx(session, tx_hash)
            own = self._own_accounts(actor.participant_id)
            if not any(access.may_see_trade(actor, t) for t in trades) and not moved & own:
                raise errors.NotFound(f"no transaction {tx_hash}")
        decoded = TransactionDecoder(self.chain).decode(tx_hash)
        if decoded is None:
            raise errors.NotFound(f"no transaction {tx_hash}")
        return decoded

    def _own_accounts(self, participant_id: str) -> set[str]:
        participant = self.participants.get(participant_id)
        with Session(self.db) as session:
            clients = repo.clients_of(session, participant_id)
            return {wallet_account(participant.address)} | {client_account(c.id) for c in clients}

    def _export_stamp(self) -> ExportStamp:
        """Call holding the cycle lock: index to the head, then read the journal head, so the block
        and the head describe the same moment (nothing indexes in between)."""
        self.indexer.run_until_head()
        cursor = self.indexer.cursor()
        if cursor is None:
            raise errors.LedgerError("nothing indexed yet")
        seq, head_hash = self.journal.head()
        return ExportStamp(self.chain.chain_id, cursor[0], cursor[1], seq, head_hash, datetime.now(UTC))

    def export_journal(self, actor: Actor, *, account: str | None, period: Period) -> Export:
        """The journal up to the stamp's head; a broker gets only its wallet and clients' postings."""
        accounts: set[str] | None = None
        if actor.participant_id is not None:
            accounts = self._own_accounts(actor.participant_id)
        if account is not None:
            account = account.lower() if account.startswith(WALLET_PREFIX) else account
            if accounts is not None and not access.may_read_account(actor, account, accounts):
                raise errors.Forbidden("a broker may read only its own wallet and client accounts")
            accounts = {account.lower()}
        with self._quiet():
            stamp = self._export_stamp()
            records = records_up_to(self.journal, stamp.journal_seq, accounts)
            return journal_export(stamp, records, period, accounts)

    def export_trades(self, actor: Actor, *, status: TradeStatus | None) -> Export:
        party = actor.participant_id
        with self._quiet():
            stamp = self._export_stamp()
            trades: list[TradeView] = []
            after: tuple[datetime, str] | None = None
            with Session(self.db, expire_on_commit=False) as session:
                while len(trades) <= EXPORT_TRADES_MAX:
                    page = list(repo.list_trades(session, party_id=party, status=status, after=after, limit=1_000))
                    trades.extend(page)
                    if len(page) < 1_000:
                        break
                    after = (page[-1].created_at, page[-1].id)
            if len(trades) > EXPORT_TRADES_MAX:
                raise errors.ValidationFailed(f"more than {EXPORT_TRADES_MAX} trades: export one status at a time")
            return trades_export(stamp, trades)

    def export_reconciliation(self, actor: Actor) -> Export:
        access.require_operator(actor)
        with self._quiet():
            stamp = self._export_stamp()
            return reconciliation_export(stamp, reconcile(self.chain, self.db, stamp.block_number))

    def export_statement(self, actor: Actor, participant_id: str, period: Period) -> Export:
        """Opening balance, movements and closing balance of the participant's wallet and clients."""
        access.require_acts_for(actor, participant_id)
        participant = self.participant(participant_id)
        with Session(self.db) as session:
            clients = [client_account(c.id) for c in repo.clients_of(session, participant_id)]
        accounts = [wallet_account(participant.address), *clients]
        with self._quiet():
            stamp = self._export_stamp()
            records = records_up_to(self.journal, stamp.journal_seq, accounts)
            return statement_export(stamp, participant_id, account_statements(records, accounts, period), period)

    # ----------------------------------------------------------------- cycles

    def _after_rewind(self, fork_block: int) -> None:
        """The indexer undid blocks above `fork_block`: what the service booked above it is read back
        from the chain at the next cycle (locks and payouts by the sweep, settled windows here)."""
        self.cycle.realignment.after_rewind(fork_block)
        self.settlement_windows.after_rewind(fork_block)

    def run_cycle(self) -> CycleReport:
        """One settlement cycle, then mirror the chain into the ledger (demos, tests, settle_until_idle).
        The worker runs the two halves on threads of their own: run_settlement and follow_chain."""
        with self._quiet():
            report = self._settle()
            self.indexer.run_once()
            self.anchoring.anchor_if_due()
            self.worker.cycle_done()
            return report

    def run_settlement(self) -> bool:
        """The worker's settlement thread: one cycle, while follow_chain indexes beside it. True
        when a window settled: the next may be due already (it filled while this one settled),
        so the worker runs again without waiting for the tick.

        Why apart: indexing a busy cycle's events (two journal entries a gross trade) took a
        third of the worker's time, during which no lock or payout was sent."""
        with self._cycle_lock:
            report = self._settle()
            self.worker.cycle_done()
            return report.windows_settled > 0

    def follow_chain(self) -> bool:
        """The worker's indexing thread: apply one chunk of confirmed blocks, then anchor the
        journal's head if a window asked for it or the timer is due (beside the settlement thread,
        which goes on to the next window meanwhile). True if it applied any blocks (there may be
        more: run again at once), False when at the confirmed head."""
        with self._index_lock:
            result = self.indexer.run_once()
        self.anchoring.anchor_if_due()  # the head as indexed so far; the next one catches up
        return result.to_block >= result.from_block

    def _settle(self) -> CycleReport:
        self.custody.follow_chain()  # nothing is signed above a nonce the chain will not reach
        report = self.cycle.run_once()
        report.add(self.settlement_windows.run_once())
        return report

    @contextlib.contextmanager
    def _quiet(self) -> Iterator[None]:
        """Neither a cycle nor the indexer runs meanwhile (always taken in this order)."""
        with self._cycle_lock, self._index_lock:
            yield

    def settle_until_idle(self) -> CycleReport:
        """Cycle until nothing moves (bounded), then index to the head. For demos, tests, benches."""
        total = CycleReport()
        for _ in range(SETTLE_ROUNDS_MAX):
            report = self.run_cycle()
            total.add(report)
            if report.transactions == 0 and report.failed == 0 and report.realigned == 0:
                break
        self.index()
        return total

    def wake(self) -> None:
        self.worker.wake()

    def recover(self) -> int:
        with self._cycle_lock:
            return self.recovery.recover()

    def start(self) -> None:
        """Serve this ledger until stop(). With SETTLEMENT_WORKER_ENABLED (the default), run cycles in
        a background worker while this process holds the ledger's worker lease, recovering from
        any crash each time it takes the lease (a chain or database briefly unreachable meanwhile is
        retried for SETTLEMENT_STARTUP_RETRY_S); on standby otherwise. Without it, API only."""
        self._serving = True
        if self.settings.worker_enabled:
            with_retries(
                self.worker.start,
                budget_s=self.settings.startup_retry_s,
                rpc_url=self.settings.rpc_url or self.manifest.rpc_url,
                database_url=self.settings.resolved_database_url(),
            )

    def stop(self) -> None:
        """Fast (the worker waits on events), unless a cycle is mid-flight: that one is finished.
        The lease is released, so a standby takes over at its next try."""
        self.worker.stop()
        self._serving = False

    def close(self) -> None:
        self.stop()
        self.db.dispose()

    # ----------------------------------------------------------------- event log and webhook outbox

    def _init_event_log(self) -> None:
        """Every published trade event is recorded (and, with a webhook URL, queued for delivery)."""
        settings = self.settings
        retry = RetryPolicy(
            first_delay_s=settings.webhook_retry_delay_first_s,
            delay_max_s=settings.webhook_retry_delay_max_s,
            period_s=settings.webhook_retry_period_s,
        )
        self.event_log = EventLog(
            self.db,
            webhooks=bool(settings.webhook_url),
            retry=retry,
            claim_lease_s=2 * settings.webhook_timeout_s + WEBHOOK_CLAIM_MARGIN_S,
        )
        self.publisher.recorder = self.event_log.record
        self.publisher.batch_recorder = self.event_log.record_many

    def trade_events_after(self, actor: Actor, after_event_id: int, scan_max: int) -> tuple[list[TradeEvent], int]:
        """Recorded events after an id that the actor may see, oldest first, and the last id scanned
        (at most scan_max events are read: call again from that id until it stops moving)."""
        events = self.event_log.events_after(after_event_id, scan_max)
        last_id = events[-1].event_id if events else None
        visible = [event for event in events if self.may_see_event(actor, event)]
        return visible, after_event_id if last_id is None else last_id

    def webhook_deliveries(
        self, actor: Actor, *, status: DeliveryStatus | None, after_event_id: int | None, limit: int
    ) -> list[DeliveryView]:
        access.require_operator(actor)
        return self.event_log.deliveries(status, after_event_id, limit)

    def replay_webhook_delivery(self, actor: Actor, delivery_id: str) -> DeliveryView:
        """Send a parked (or delivered) event again, with a fresh retry period."""
        access.require_operator(actor)
        return self.event_log.replay(delivery_id)

    def claim_webhook_deliveries(self, limit: int) -> list[DeliveryView]:
        """For the webhook dispatcher: deliveries due now, each claimed for one attempt."""
        return self.event_log.claim_due(limit)

    def webhook_delivered(self, delivery_id: str) -> None:
        self.event_log.delivered(delivery_id)

    def webhook_failed(self, delivery_id: str, error: str) -> DeliveryView:
        """Retried later by the retry policy, or parked once past SETTLEMENT_WEBHOOK_RETRY_PERIOD_S."""
        view = self.event_log.failed(delivery_id, error)
        if view.status is DeliveryStatus.PARKED:
            log.warning("webhook delivery %s parked after %d attempts: %s", view.id, view.attempts, view.last_error)
        return view

    # ----------------------------------------------------------------- net mode: liquidity

    def deposit_settlement_balance(self, actor: Actor, participant_id: str, amount_base_units: int) -> str:
        """Pre-fund the broker's settlement balance from its wallet (custodial brokers; the broker
        itself or the operator); returns the tx hash. The ledger follows from the chain's event."""
        access.require_acts_for(actor, participant_id)
        self.participant(participant_id)
        tx_hash = self.liquidity.deposit(participant_id, amount_base_units)
        self.worker.wake()
        return tx_hash

    def withdraw_settlement_balance(self, actor: Actor, participant_id: str, amount_base_units: int) -> str:
        """Release part of the settlement balance back to the broker's own wallet; returns the tx hash."""
        access.require_acts_for(actor, participant_id)
        self.participant(participant_id)
        tx_hash = self.liquidity.withdraw(participant_id, amount_base_units)
        self.worker.wake()
        return tx_hash

    def settlement_balance(self, actor: Actor, participant_id: str) -> SettlementBalance:
        access.require_acts_for(actor, participant_id)
        self.participant(participant_id)
        return self.liquidity.balance(participant_id)

    def set_net_debit_cap(self, actor: Actor, participant_id: str, cap_base_units: int | None) -> SettlementBalance:
        """The operator caps what a window may debit the broker below its balance (None clears it)."""
        access.require_operator(actor)
        self.participant(participant_id)
        self.liquidity.set_cap(participant_id, cap_base_units)
        return self.liquidity.balance(participant_id)
