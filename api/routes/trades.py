"""Trades: submit (idempotent), read, list, confirm delivery, cancel.

Visibility: a broker sees only trades it is party to; any other trade is 404 to it, whether or
not it exists, so trade ids leak nothing. The lock, release and refund happen asynchronously in
the service's worker: these routes record the request, wake the worker and answer 202.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from api.deps import Caller, CallerDep, ServiceDep
from api.problems import responses
from api.schemas import ID_PATTERN, Page, TradeCreate, TradeIdPath, TradePublic, TransitionPublic
from settlement import errors
from settlement.domain.requests import PermitSignature, TradeRequest
from settlement.domain.trade import TradeStatus
from settlement.ledger.models import Trade
from settlement.money import coins_to_base_units
from settlement.service import SettlementService

router = APIRouter(prefix="/trades", tags=["trades"], responses=responses(401, 422))

MAX_PAGE = 200
REPLAY_HEADER = "Idempotent-Replayed"


def _visible_trade(service: SettlementService, caller: Caller, trade_id: str) -> Trade:
    trade = service.trade(trade_id)
    if not caller.is_party_to(trade):
        raise errors.NotFound(f"no trade {trade_id}")
    return trade


def encode_cursor(trade: Trade) -> str:
    raw = json.dumps([trade.created_at.isoformat(), trade.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, trade_id = json.loads(raw)
        return datetime.fromisoformat(created_at), str(trade_id)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise errors.ValidationFailed("cursor is not one this API returned") from exc


def _request(body: TradeCreate) -> TradeRequest:
    permit = None
    if body.permit is not None:
        permit = PermitSignature(
            value_base_units=coins_to_base_units(body.permit.value),
            deadline=body.permit.deadline,
            v=body.permit.v,
            r=body.permit.r,
            s=body.permit.s,
        )
    return TradeRequest(
        trade_ref=body.trade_ref,
        buyer_id=body.buyer_id,
        seller_id=body.seller_id,
        instrument=body.instrument,
        quantity=body.quantity,
        price=body.price,
        currency=body.currency,
        deadline=body.deadline,
        buyer_client_id=body.buyer_client_id,
        seller_client_id=body.seller_client_id,
        permit=permit,
    )


@router.post(
    "",
    status_code=202,
    response_model=TradePublic,
    responses=responses(403, 409, 503),
    summary="Submit a trade for settlement (buyer, seller or operator)",
)
def submit_trade(
    body: TradeCreate,
    response: Response,
    service: ServiceDep,
    caller: CallerDep,
    idempotency_key: Annotated[
        str,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=200,
            pattern=r"^[\x21-\x7e]+$",
            description="Unique per intended trade: a retry with the same key and body returns the same trade.",
        ),
    ],
) -> TradePublic:
    """Validated and recorded as PENDING; the lock on chain follows asynchronously (watch the events)."""
    if not caller.is_operator and caller.id not in (body.buyer_id, body.seller_id):
        raise errors.Forbidden("a broker may only submit trades it is the buyer or seller of")
    trade, created = service.engine.submit(_request(body), submitted_by=caller.id, idempotency_key=idempotency_key)
    if created:
        service.wake()
    else:
        response.headers[REPLAY_HEADER] = "true"
    return TradePublic.of(trade)


@router.get("", response_model=Page[TradePublic], summary="List trades, oldest first (cursor pagination)")
def list_trades(
    service: ServiceDep,
    caller: CallerDep,
    status: TradeStatus | None = None,
    participant_id: Annotated[
        str | None, Query(pattern=ID_PATTERN, description="Operator only: trades of this participant.")
    ] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> Page[TradePublic]:
    party = caller.id if not caller.is_operator else participant_id
    after = decode_cursor(cursor) if cursor else None
    rows = service.trades(party_id=party, status=status, after=after, limit=limit + 1)
    page, more = rows[:limit], len(rows) > limit
    return Page[TradePublic](
        items=[TradePublic.of(t) for t in page], next_cursor=encode_cursor(page[-1]) if more else None
    )


@router.get("/{trade_id}", response_model=TradePublic, responses=responses(404))
def get_trade(trade_id: TradeIdPath, service: ServiceDep, caller: CallerDep) -> TradePublic:
    return TradePublic.of(_visible_trade(service, caller, trade_id))


@router.get(
    "/{trade_id}/transitions",
    response_model=list[TransitionPublic],
    responses=responses(404),
    summary="The trade's audit trail: every status change with its transaction",
)
def trade_transitions(trade_id: TradeIdPath, service: ServiceDep, caller: CallerDep) -> list[TransitionPublic]:
    _visible_trade(service, caller, trade_id)
    return [TransitionPublic.of(t) for t in service.transitions(trade_id)]


@router.post(
    "/{trade_id}/confirm",
    status_code=202,
    response_model=TradePublic,
    responses=responses(403, 404, 409),
    summary="Delivery confirmed: release to the seller (seller or operator)",
)
def confirm_delivery(trade_id: TradeIdPath, service: ServiceDep, caller: CallerDep) -> TradePublic:
    trade = _visible_trade(service, caller, trade_id)
    if not caller.is_operator and caller.id != trade.seller_id:
        raise errors.Forbidden("only the seller (or the operator) confirms delivery")
    trade = service.engine.confirm_delivery(trade_id)
    service.wake()
    return TradePublic.of(trade)


@router.post(
    "/{trade_id}/cancel",
    status_code=202,
    response_model=TradePublic,
    responses=responses(404, 409),
    summary="Cancel before release: refund the buyer (either party or operator)",
)
def cancel_trade(trade_id: TradeIdPath, service: ServiceDep, caller: CallerDep) -> TradePublic:
    _visible_trade(service, caller, trade_id)
    trade = service.engine.cancel(trade_id, by_operator=caller.is_operator)
    service.wake()
    return TradePublic.of(trade)
