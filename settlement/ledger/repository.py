"""SQL reads and writes for participants, clients, FX rates and trades (not the journal).

Every function takes an open Session so the caller decides what commits together.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import cast

from sqlalchemy import Table, bindparam, insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.expression import Executable
from sqlmodel import Session, col, select, update

from settlement import errors
from settlement.domain.fx import FxQuote
from settlement.domain.trade import SettlementMode, TradeStatus, check_transition
from settlement.ledger.amounts import BaseUnits, exact_add, exact_sum
from settlement.ledger.chunks import in_list_chunks
from settlement.ledger.models import (
    PAYER_TOTAL,
    ClientAccount,
    FxRate,
    IdempotencyRecord,
    LedgerIdentity,
    NetExposure,
    Participant,
    PayerReservation,
    Trade,
    TradeTransition,
    utcnow,
)

REALIGNED_FROM_CHAIN = "realigned_from_chain"


def as_utc(moment: datetime) -> datetime:
    """SQLite returns naive datetimes; everything we store is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- participants and clients -------------------------------------------------------------------


def get_participant(session: Session, participant_id: str) -> Participant:
    participant = session.get(Participant, participant_id)
    if participant is None:
        raise errors.UnknownParticipant(f"no participant {participant_id}")
    return participant


def participant_by_key_hash(session: Session, key_hash: str) -> Participant | None:
    return session.exec(select(Participant).where(Participant.api_key_hash == key_hash)).first()


def list_participants(session: Session) -> Sequence[Participant]:
    return session.exec(select(Participant).order_by(col(Participant.created_at))).all()


def get_client(session: Session, client_id: str) -> ClientAccount:
    client = session.get(ClientAccount, client_id)
    if client is None:
        raise errors.UnknownClientAccount(f"no client account {client_id}")
    return client


def clients_of(session: Session, participant_id: str) -> Sequence[ClientAccount]:
    return session.exec(
        select(ClientAccount).where(ClientAccount.participant_id == participant_id).order_by(col(ClientAccount.name))
    ).all()


# --- FX -----------------------------------------------------------------------------------------


def record_fx_rate(session: Session, quote: FxQuote) -> FxRate:
    row = FxRate(
        currency=quote.currency,
        rate_to_usd=str(quote.rate_to_usd),
        source=quote.source,
        as_of=quote.as_of,
        forced=quote.forced,
    )
    session.add(row)
    return row


def latest_fx_rate(session: Session, currency: str) -> FxQuote | None:
    row = session.exec(
        select(FxRate).where(FxRate.currency == currency).order_by(col(FxRate.as_of).desc(), col(FxRate.id).desc())
    ).first()
    if row is None:
        return None
    return FxQuote(row.currency, Decimal(row.rate_to_usd), row.source, as_utc(row.as_of), row.forced)


def latest_fx_rates(session: Session) -> list[FxQuote]:
    currencies = session.exec(select(FxRate.currency).distinct()).all()
    quotes = [latest_fx_rate(session, c) for c in sorted(currencies)]
    return [q for q in quotes if q is not None]


# --- trades -------------------------------------------------------------------------------------


def get_trade(session: Session, trade_id: str) -> Trade:
    trade = session.get(Trade, trade_id)
    if trade is None:
        raise errors.NotFound(f"no trade {trade_id}")
    return trade


def trades_by_ids(session: Session, trade_ids: Sequence[str]) -> list[Trade]:
    """Many trades by id (in chunks of an IN list), in no particular order."""
    found: list[Trade] = []
    for chunk in in_list_chunks(trade_ids):
        found.extend(session.exec(select(Trade).where(col(Trade.id).in_(chunk))).all())
    return found


def trade_by_ref(session: Session, submitted_by: str, trade_ref: str) -> Trade | None:
    return session.exec(select(Trade).where(Trade.submitted_by == submitted_by, Trade.trade_ref == trade_ref)).first()


def trade_by_party_ref(session: Session, participant_id: str, ref: str) -> Trade | None:
    """The trade this party refers to by `ref`, on either side of it."""
    return session.exec(
        select(Trade).where(
            ((Trade.buyer_id == participant_id) & (Trade.buyer_ref == ref))
            | ((Trade.seller_id == participant_id) & (Trade.seller_ref == ref))
        )
    ).first()


def alleged_trades(
    session: Session, *, buyer_id: str, seller_id: str, instrument: str, submitted_by: str
) -> Sequence[Trade]:
    """Open alleged trades between these parties in this instrument, by one submitter, oldest first."""
    return session.exec(
        select(Trade)
        .where(
            Trade.status == TradeStatus.UNMATCHED,
            Trade.buyer_id == buyer_id,
            Trade.seller_id == seller_id,
            Trade.instrument == instrument,
            Trade.submitted_by == submitted_by,
        )
        .order_by(col(Trade.created_at), col(Trade.id))
    ).all()


def claim_unmatched(session: Session, trade_id: str) -> bool:
    """Take an alleged trade for matching: True for exactly one of any concurrent claimers."""
    result = session.exec(
        update(Trade)
        .where(col(Trade.id) == trade_id, col(Trade.status) == TradeStatus.UNMATCHED)
        .values(status=TradeStatus.PENDING, updated_at=utcnow())
    )
    return bool(result.rowcount == 1)


def trades_alleged_before(session: Session, before: datetime, limit: int) -> Sequence[Trade]:
    return session.exec(
        select(Trade)
        .where(Trade.status == TradeStatus.UNMATCHED, col(Trade.created_at) < before)
        .order_by(col(Trade.created_at), col(Trade.id))
        .limit(limit)
    ).all()


def trades_in_status(
    session: Session, status: TradeStatus, limit: int, mode: SettlementMode | None = None
) -> Sequence[Trade]:
    """Oldest first; `mode` keeps the gross path (escrow locks) and the net path (windows) apart."""
    query = select(Trade).where(Trade.status == status)
    if mode is not None:
        query = query.where(Trade.settlement_mode == mode)
    return session.exec(query.order_by(col(Trade.created_at), col(Trade.id)).limit(limit)).all()


def trades_due_for_release(session: Session, limit: int) -> Sequence[Trade]:
    """Locked and confirmed, not cancelled: selected in SQL, so unconfirmed trades never block them."""
    return session.exec(
        select(Trade)
        .where(Trade.status == TradeStatus.LOCKED, col(Trade.release_requested), ~col(Trade.cancel_requested))
        .order_by(col(Trade.created_at), col(Trade.id))
        .limit(limit)
    ).all()


def trades_due_for_refund(session: Session, chain_now: datetime, limit: int) -> Sequence[Trade]:
    """Locked and either cancelled or past the deadline by the chain's clock."""
    return session.exec(
        select(Trade)
        .where(Trade.status == TradeStatus.LOCKED, col(Trade.cancel_requested) | (col(Trade.deadline) < chain_now))
        .order_by(col(Trade.created_at), col(Trade.id))
        .limit(limit)
    ).all()


def open_trades_marked(session: Session, error_code: str, limit: int) -> Sequence[str]:
    """Ids of PENDING or LOCKED trades still marked with this error code, oldest first."""
    return session.exec(
        select(Trade.id)
        .where(
            col(Trade.status).in_([TradeStatus.PENDING, TradeStatus.LOCKED]),
            Trade.error_code == error_code,
            Trade.settlement_mode == SettlementMode.GROSS,
        )
        .order_by(col(Trade.created_at), col(Trade.id))
        .limit(limit)
    ).all()


def list_trades(
    session: Session,
    *,
    party_id: str | None,
    status: TradeStatus | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> Sequence[Trade]:
    """Trades in (created_at, id) order; `after` is the cursor of the last row already seen."""
    query = select(Trade)
    if party_id is not None:
        query = query.where((Trade.buyer_id == party_id) | (Trade.seller_id == party_id))
    if status is not None:
        query = query.where(Trade.status == status)
    if after is not None:
        created_at, trade_id = after
        query = query.where(
            (col(Trade.created_at) > created_at) | ((col(Trade.created_at) == created_at) & (col(Trade.id) > trade_id))
        )
    return session.exec(query.order_by(col(Trade.created_at), col(Trade.id)).limit(limit)).all()


def reserved_base_units(session: Session, payer_id: str, client_id: str | None = None) -> int:
    """Coins promised by PENDING trades of this payer (or client): not yet locked, not spendable.

    One row of the running figure, locked until the caller commits, so two concurrent checks for
    one payer run one after the other, each against what the other reserved. The lock is taken
    by a write of nothing (adding 0): a SELECT ... FOR UPDATE locks no row that does not exist
    yet (a payer's first trades) and, on SQLite, runs outside any transaction, so both checks
    passed on the same free balance. The write creates the row on PostgreSQL and takes SQLite's
    one write lock, before the figure is read."""
    key = PAYER_TOTAL if client_id is None else client_id
    add_to_reservation(session, payer_id, key, 0)
    row = session.exec(
        select(PayerReservation.reserved_base_units).where(
            PayerReservation.participant_id == payer_id, PayerReservation.client_id == key
        )
    ).first()
    return int(row or 0)


def pending_gross_of(session: Session, payer_id: str, limit: int) -> list[tuple[str, str, int]]:
    """(trade id, chain trade id, amount) of the payer's PENDING gross trades: what its
    reservation is the sum of, for checking which of them the escrow has locked already."""
    rows = session.exec(
        select(Trade.id, Trade.chain_trade_id, Trade.settlement_amount_base_units)
        .where(
            Trade.buyer_id == payer_id,
            Trade.status == TradeStatus.PENDING,
            Trade.settlement_mode == SettlementMode.GROSS,
        )
        .limit(limit)
    )
    return [(str(trade_id), str(chain_id), int(amount)) for trade_id, chain_id, amount in rows]


@dataclass(frozen=True)
class ReservationDrift:
    """A payer (or client) whose running figure differs from the sum of its PENDING trades."""

    participant_id: str
    client_id: str | None
    recorded_base_units: int
    recomputed_base_units: int


def reservation_drift(session: Session) -> list[ReservationDrift]:
    """Recompute every reservation from the trades and name each figure that differs (for tests
    and reconciliation: a full scan, never on the request path)."""
    recomputed: dict[tuple[str, str], int] = defaultdict(int)
    pending = session.exec(
        select(Trade.buyer_id, Trade.buyer_client_id, Trade.settlement_amount_base_units).where(
            Trade.status == TradeStatus.PENDING, Trade.settlement_mode == SettlementMode.GROSS
        )
    )
    for payer_id, client_id, amount in pending:
        recomputed[(payer_id, PAYER_TOTAL)] += amount
        if client_id is not None:
            recomputed[(payer_id, client_id)] += amount
    recorded = {
        (row.participant_id, row.client_id): row.reserved_base_units for row in session.exec(select(PayerReservation))
    }
    return [
        ReservationDrift(payer_id, client_id or None, recorded.get(key, 0), recomputed.get(key, 0))
        for key in sorted(recorded.keys() | recomputed.keys())
        for payer_id, client_id in [key]
        if recorded.get(key, 0) != recomputed.get(key, 0)
    ]


def _track_reservation(session: Session, trade: Trade, before: str, after: str) -> None:
    """Keep the payer's running reservation in step with a status change into or out of PENDING.

    Called by every function here that records a status change, in the caller's transaction, so
    the figure commits (or rolls back) with the change itself. A net trade reserves against its
    payer's net debit cap instead (its wallet is never debited by it)."""
    if trade.settlement_mode == SettlementMode.NET:
        add_net_exposure(session, _net_exposure_deltas(trade, before, after))
        return
    amount = _reservation_delta(trade, before, after)
    if not amount:
        return
    keys = [PAYER_TOTAL] if trade.buyer_client_id is None else [PAYER_TOTAL, trade.buyer_client_id]
    for client_id in keys:  # always the payer's row first: one lock order for every writer
        add_to_reservation(session, trade.buyer_id, client_id, amount)


def _reservation_delta(trade: Trade, before: str, after: str) -> int:
    """What a gross trade's step adds to its payer's reservation: into PENDING reserves, out frees."""
    entering, leaving = after == TradeStatus.PENDING, before == TradeStatus.PENDING
    if entering == leaving:
        return 0
    return trade.settlement_amount_base_units if entering else -trade.settlement_amount_base_units


def net_exposure_share(trade_status: str, amount_base_units: int) -> tuple[int, int]:
    """What one net trade adds to (payer's, payee's) exposure in this status: a matched or windowed
    trade is owed by its payer; a windowed one (delivery confirmed) is also the payee's to receive."""
    payer = amount_base_units if trade_status in (TradeStatus.PENDING, TradeStatus.IN_WINDOW) else 0
    payee = -amount_base_units if trade_status == TradeStatus.IN_WINDOW else 0
    return payer, payee


def _net_exposure_deltas(trade: Trade, before: str, after: str) -> dict[str, int]:
    amount = trade.settlement_amount_base_units
    payer_after, payee_after = net_exposure_share(after, amount)
    payer_before, payee_before = net_exposure_share(before, amount)
    return {trade.buyer_id: payer_after - payer_before, trade.seller_id: payee_after - payee_before}


def add_net_exposure(session: Session, deltas: dict[str, int], lock_only: bool = False) -> None:
    """Apply many participants' exposure changes, in participant order (one lock order for every
    writer); with lock_only, write each row's 0 too, to lock it (net_exposure)."""
    upsert = _exposure_upsert(session.get_bind().dialect.name)
    for participant_id in sorted(deltas):
        if deltas[participant_id] or lock_only:
            session.connection().execute(upsert, {"participant_id": participant_id, "amount": deltas[participant_id]})


def net_exposure(session: Session, participant_ids: Sequence[str]) -> dict[str, int]:
    """Participants' running net exposure, rows locked until the caller commits, by a write of
    nothing in participant order (reserved_base_units says why a write and not FOR UPDATE)."""
    add_net_exposure(session, dict.fromkeys(participant_ids, 0), lock_only=True)
    rows = session.exec(
        select(NetExposure)
        .where(col(NetExposure.participant_id).in_(sorted(participant_ids)))
        .order_by(col(NetExposure.participant_id))
    ).all()
    found = {row.participant_id: int(row.exposure_base_units) for row in rows}
    return {p: found.get(p, 0) for p in participant_ids}


def net_exposure_drift(session: Session) -> dict[str, tuple[int, int]]:
    """Participants whose recorded exposure differs from the one recomputed from their net trades:
    {participant: (recorded, recomputed)} (a full scan, for tests and reconciliation)."""
    recomputed: dict[str, int] = defaultdict(int)
    open_net = session.exec(
        select(Trade.buyer_id, Trade.seller_id, Trade.status, Trade.settlement_amount_base_units).where(
            Trade.settlement_mode == SettlementMode.NET,
            col(Trade.status).in_([TradeStatus.PENDING, TradeStatus.IN_WINDOW]),
        )
    )
    for payer_id, payee_id, status, amount in open_net:
        payer, payee = net_exposure_share(status, int(amount))
        recomputed[payer_id] += payer
        recomputed[payee_id] += payee
    recorded = {row.participant_id: int(row.exposure_base_units) for row in session.exec(select(NetExposure))}
    return {
        p: (recorded.get(p, 0), recomputed.get(p, 0))
        for p in sorted(recorded.keys() | recomputed.keys())
        if recorded.get(p, 0) != recomputed.get(p, 0)
    }


@functools.cache
def _exposure_upsert(dialect: str) -> Executable:
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    table = cast(Table, NetExposure.__table__)  # type: ignore[attr-defined]
    statement = insert(table).values(
        participant_id=bindparam("participant_id"), exposure_base_units=bindparam("amount", type_=BaseUnits())
    )
    return statement.on_conflict_do_update(
        index_elements=["participant_id"],
        set_={"exposure_base_units": exact_add(table.c.exposure_base_units, statement.excluded.exposure_base_units)},
    )


def add_to_reservation(session: Session, payer_id: str, client_id: str, amount: int) -> None:
    """One atomic upsert, the sum made by the database (exact_add: NUMERIC on PostgreSQL, a Python
    function on SQLite where amounts are text), so concurrent writers never lose an update."""
    upsert = _reservation_upsert(session.get_bind().dialect.name)
    # Core, on the session's own transaction: no ORM flush for each step.
    session.connection().execute(upsert, {"payer_id": payer_id, "client_id": client_id, "amount": amount})


@functools.cache
def _reservation_upsert(dialect: str) -> Executable:
    """Built once per backend: making the statement costs more than running it."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    table = cast(Table, PayerReservation.__table__)  # type: ignore[attr-defined]
    statement = insert(table).values(
        participant_id=bindparam("payer_id"),
        client_id=bindparam("client_id"),
        reserved_base_units=bindparam("amount", type_=BaseUnits()),
    )
    return statement.on_conflict_do_update(
        index_elements=["participant_id", "client_id"],
        set_={"reserved_base_units": exact_add(table.c.reserved_base_units, statement.excluded.reserved_base_units)},
    )


def locked_as_payer_base_units(session: Session, payer_id: str) -> int:
    """Coins of this payer held by the escrow: its LOCKED trades as buyer, summed exactly in SQL."""
    query = select(exact_sum(Trade.settlement_amount_base_units)).where(
        Trade.buyer_id == payer_id, Trade.status == TradeStatus.LOCKED
    )
    return int(session.exec(query).one() or 0)


def transition(
    session: Session,
    trade: Trade,
    target: TradeStatus,
    *,
    tx_hash: str | None = None,
    block_number: int | None = None,
    error_code: str | None = None,
    error_detail: str | None = None,
    realigned: bool = False,
) -> None:
    """Move a trade along its lifecycle and record the step; refuses anything not allowed.

    `realigned`: the escrow was read and says so (a lost receipt, a reorg, an admin recovery);
    the moves only the chain imposes are then allowed, and the step is recorded as such."""
    current = _move(trade, target, tx_hash, block_number, error_code, error_detail, realigned)
    session.add(trade)
    _track_reservation(session, trade, current, target)
    session.add(
        TradeTransition(
            trade_id=trade.id,
            from_status=current,
            to_status=target,
            tx_hash=tx_hash,
            block_number=block_number,
            error_code=error_code,
            reason=REALIGNED_FROM_CHAIN if realigned else None,
        )
    )


def transition_many(
    session: Session, trades: Sequence[Trade], target: TradeStatus, *, tx_hash: str, block_number: int
) -> None:
    """transition() for the trades one mined batch call moved: the same rules per trade, but the
    trades in one executemany UPDATE, the transition rows in one insert and each payer's running
    figure in one update (the ORM's flush of a 100-trade batch cost more than the batch's chain
    call). The trades are detached from the session: their new state is written here, not by a
    flush. Each UPDATE is conditional on the status the step starts from; a row that moved
    meanwhile fails the whole transaction."""
    now = utcnow()
    rows: list[dict[str, object]] = []
    updates: list[dict[str, object]] = []
    reservations: dict[tuple[str, str], int] = defaultdict(int)
    exposure: dict[str, int] = defaultdict(int)
    for trade in trades:
        if trade in session:
            session.expunge(trade)
        current = _move(trade, target, tx_hash, block_number, None, None, False)
        updates.append(
            {"b_id": trade.id, "b_from": current, **{column: getattr(trade, column) for column in _MOVED_COLUMNS}}
        )
        rows.append(
            {
                "trade_id": trade.id,
                "from_status": current,
                "to_status": target,
                "tx_hash": tx_hash,
                "block_number": block_number,
                "at": now,
            }
        )
        if trade.settlement_mode == SettlementMode.NET:
            for participant, delta in _net_exposure_deltas(trade, current, target).items():
                exposure[participant] += delta
            continue
        delta = _reservation_delta(trade, current, target)
        if delta:
            reservations[(trade.buyer_id, PAYER_TOTAL)] += delta
            if trade.buyer_client_id is not None:
                reservations[(trade.buyer_id, trade.buyer_client_id)] += delta
    if updates:
        moved = session.connection().execute(_batch_move_statement(), updates)
        if session.get_bind().dialect.supports_sane_multi_rowcount and moved.rowcount != len(updates):
            raise errors.InvalidTransition(
                f"{len(updates) - moved.rowcount} of {len(updates)} trades changed status meanwhile"
            )
    table = cast(Table, TradeTransition.__table__)  # type: ignore[attr-defined]
    session.connection().execute(insert(table), rows)
    for (payer_id, client_id), delta in sorted(reservations.items()):  # payer's row first, as always
        if delta:
            add_to_reservation(session, payer_id, client_id, delta)
    add_net_exposure(session, dict(exposure))


# What _move may change on a trade row: the batch UPDATE writes all of them.
_MOVED_COLUMNS = (
    "status",
    "updated_at",
    "lock_tx_hash",
    "lock_block",
    "release_tx_hash",
    "release_block",
    "refund_tx_hash",
    "refund_block",
    "error_code",
    "error_detail",
)


@functools.cache
def _batch_move_statement() -> Executable:
    table = cast(Table, Trade.__table__)  # type: ignore[attr-defined]
    return (
        update(table)
        .where(table.c.id == bindparam("b_id"), table.c.status == bindparam("b_from"))
        .values({column: bindparam(column) for column in _MOVED_COLUMNS})
    )


def _move(
    trade: Trade,
    target: TradeStatus,
    tx_hash: str | None,
    block_number: int | None,
    error_code: str | None,
    error_detail: str | None,
    realigned: bool,
) -> TradeStatus:
    """Check the step and apply it to the row's fields; returns the status it came from."""
    current = TradeStatus(trade.status)
    check_transition(current, target, realigned=realigned)
    trade.status = target
    trade.updated_at = utcnow()
    if target == TradeStatus.PENDING:  # a reorg dropped the lock: nothing of it is left on chain
        trade.lock_tx_hash, trade.lock_block = None, None
    if target in (TradeStatus.PENDING, TradeStatus.LOCKED):  # a payout a reorg undid is no payout
        trade.release_tx_hash, trade.release_block = None, None
        trade.refund_tx_hash, trade.refund_block = None, None
    if target == TradeStatus.LOCKED:
        trade.lock_tx_hash, trade.lock_block = tx_hash, block_number
    elif target == TradeStatus.RELEASED:
        trade.release_tx_hash, trade.release_block = tx_hash, block_number
    elif target == TradeStatus.REFUNDED:
        trade.refund_tx_hash, trade.refund_block = tx_hash, block_number
    if error_code is not None or target != TradeStatus.FAILED:
        trade.error_code, trade.error_detail = error_code, error_detail
    return current


def record_transition(session: Session, trade: Trade, from_status: TradeStatus) -> None:
    """Record a step already applied to the row (a claim made by a conditional UPDATE)."""
    _track_reservation(session, trade, from_status, trade.status)
    session.add(TradeTransition(trade_id=trade.id, from_status=from_status, to_status=trade.status))


def transition_created(session: Session, trade: Trade) -> None:
    """The first step of every trade's trail: alleged (UNMATCHED) or matched (PENDING)."""
    _track_reservation(session, trade, "", trade.status)
    session.add(TradeTransition(trade_id=trade.id, from_status="", to_status=trade.status))


def transitions_of(session: Session, trade_id: str) -> Sequence[TradeTransition]:
    return session.exec(
        select(TradeTransition).where(TradeTransition.trade_id == trade_id).order_by(col(TradeTransition.id))
    ).all()


# --- idempotency --------------------------------------------------------------------------------


def idempotency_record(session: Session, caller: str, key: str) -> IdempotencyRecord | None:
    return session.get(IdempotencyRecord, (caller, key))


# --- which chain this ledger mirrors ------------------------------------------------------------


def ledger_identity(session: Session) -> LedgerIdentity | None:
    return session.get(LedgerIdentity, 1)


def record_ledger_identity(
    session: Session, *, chain_id: int, escrow_address: str, deploy_block: int, deploy_block_hash: str
) -> None:
    session.add(
        LedgerIdentity(
            chain_id=chain_id,
            escrow_address=escrow_address.lower(),
            deploy_block=deploy_block,
            deploy_block_hash=deploy_block_hash,
        )
    )
