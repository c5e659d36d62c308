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
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response

from settlement import errors
from settlement.api.deps import ActorDep, ServiceDep
from settlement.api.idempotency import KEY_HEADER, KEY_PATTERN, REPLAY_HEADER, idempotent
from settlement.api.problems import error_problem, responses
from settlement.api.schemas import (
    ID_PATTERN,
    AffirmCreate,
    BatchItemPublic,
    LockAuthorizationCreate,
    Page,
    Problem,
    TradeBatchCreate,
    TradeBatchPublic,
    TradeCreate,
    TradeIdPath,
    TradeProofPublic,
    TradePublic,
    TransitionPublic,
)
from settlement.domain.requests import PermitSignature, TradeRequest
from settlement.domain.trade import TradeStatus
from settlement.money import coins_to_base_units
from settlement.views import TradeView

router = APIRouter(prefix="/trades", tags=["trades"], responses=responses(401, 422))

PAGE_ITEMS_MAX = 200


def encode_cursor(trade: TradeView) -> str:
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
        settlement_mode=body.settlement_mode,
        delivery_confirmed=body.delivery_confirmed,
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
    actor: ActorDep,
    idempotency_key: Annotated[
        str,
        Header(
            alias=KEY_HEADER,
            min_length=1,
            max_length=200,
            pattern=KEY_PATTERN,
            description="Unique per intended trade: a retry with the same key and body returns the same trade.",
        ),
    ],
) -> TradePublic:
    """A broker's instruction is alleged (UNMATCHED) until the counterparty affirms it or submits the same
    terms (which returns this same trade); the operator's is matched at once. A matched trade is
    locked on chain asynchronously (watch the events)."""
    trade, created = service.submit_trade(actor, _request(body), idempotency_key)
    if not created:
        response.headers[REPLAY_HEADER] = "true"
    return TradePublic.of(trade)


@router.post(
    "/batch",
    response_model=TradeBatchPublic,
    responses=responses(403, 409, 503),
    summary="Submit up to 1,000 trades at once, each with its own result",
)
@idempotent("trade_batch")
def submit_trade_batch(body: TradeBatchCreate, service: ServiceDep, actor: ActorDep) -> TradeBatchPublic:
    """Each trade is accepted (new, or an identical resubmission of the same trade_ref: `replayed`)
    or refused with its own problem; the others proceed. The Idempotency-Key replays the whole
    answer. The operator's batch is checked and written set-wise (one chain read per broker)."""
    results = service.submit_trades(actor, [_request(item) for item in body.trades])
    return TradeBatchPublic(
        results=[
            BatchItemPublic(
                index=r.index,
                ok=r.trade is not None,
                trade_id=r.trade.id if r.trade else None,
                status=TradeStatus(r.trade.status) if r.trade else None,
                window_id=r.trade.window_id if r.trade else None,
                replayed=r.replayed,
                problem=Problem(**error_problem(r.error, "/v1/trades/batch")) if r.error else None,
            )
            for r in results
        ]
    )


@router.get(
    "/{trade_id}/proof",
    response_model=TradeProofPublic,
    responses=responses(404, 409),
    summary="Merkle proof of a net trade's inclusion in its settled window's on-chain root",
)
def trade_proof(trade_id: TradeIdPath, service: ServiceDep, actor: ActorDep) -> TradeProofPublic:
    """Check it with nothing but the chain: `python -m settlement verify-proof proof.json --rpc-url URL
    --contract ADDRESS` (409 `trade_not_settled` until the trade's window has settled)."""
    proof = service.trade_proof(actor, trade_id)
    return TradeProofPublic(
        **proof.as_json(),  # type: ignore[arg-type]
        contract=service.net_settlement_address(),
        chain_id=service.manifest.chain_id,
    )


@router.get("", response_model=Page[TradePublic], summary="List trades, oldest first (cursor pagination)")
def list_trades(
    service: ServiceDep,
    actor: ActorDep,
    status: TradeStatus | None = None,
    participant_id: Annotated[
        str | None, Query(pattern=ID_PATTERN, description="Operator only: trades of this participant.")
    ] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_ITEMS_MAX)] = 50,
) -> Page[TradePublic]:
    after = decode_cursor(cursor) if cursor else None
    rows = service.trades(actor, participant_id=participant_id, status=status, after=after, limit=limit + 1)
    page, more = rows[:limit], len(rows) > limit
    return Page[TradePublic](
        items=[TradePublic.of(t) for t in page], next_cursor=encode_cursor(page[-1]) if more else None
    )


@router.get("/{trade_id}", response_model=TradePublic, responses=responses(404))
def get_trade(trade_id: TradeIdPath, service: ServiceDep, actor: ActorDep) -> TradePublic:
    return TradePublic.of(service.trade(actor, trade_id))


@router.get(
    "/{trade_id}/transitions",
    response_model=list[TransitionPublic],
    responses=responses(404),
    summary="The trade's audit trail: every status change with its transaction",
)
def trade_transitions(trade_id: TradeIdPath, service: ServiceDep, actor: ActorDep) -> list[TransitionPublic]:
    return [TransitionPublic.of(t) for t in service.transitions(actor, trade_id)]


@router.post(
    "/{trade_id}/affirm",
    status_code=202,
    response_model=TradePublic,
    responses=responses(403, 404, 409),
    summary="Agree to an alleged trade (the counterparty only): it becomes matched and is locked",
)
@idempotent("affirm")
def affirm_trade(
    trade_id: TradeIdPath, service: ServiceDep, actor: ActorDep, body: AffirmCreate | None = None
) -> TradePublic:
    """Idempotent: affirming a trade that is already matched returns it."""
    return TradePublic.of(service.affirm(actor, trade_id, body.trade_ref if body else None))


@router.post(
    "/{trade_id}/withdraw",
    status_code=202,
    response_model=TradePublic,
    responses=responses(403, 404, 409),
    summary="Take back an alleged trade before it is matched (its submitter)",
)
@idempotent("withdraw")
def withdraw_trade(trade_id: TradeIdPath, service: ServiceDep, actor: ActorDep) -> TradePublic:
    return TradePublic.of(service.withdraw(actor, trade_id))


@router.get(
    "/{trade_id}/lock-intent",
    responses=responses(404),
    summary="The EIP-712 typed data the buyer signs to authorise this trade's lock",
)
def lock_intent(trade_id: TradeIdPath, service: ServiceDep, actor: ActorDep) -> dict[str, Any]:
    return service.lock_intent(actor, trade_id)


@router.post(
    "/{trade_id}/lock-authorization",
    status_code=202,
    response_model=TradePublic,
    responses=responses(403, 404, 409),
    summary="The buyer's signature of its lock (non-custodial buyers): nothing is locked without it",
)
@idempotent("lock_authorization")
def authorize_lock(
    trade_id: TradeIdPath, body: LockAuthorizationCreate, service: ServiceDep, actor: ActorDep
) -> TradePublic:
    return TradePublic.of(service.authorize_lock(actor, trade_id, bytes.fromhex(body.signature[2:])))


@router.post(
    "/{trade_id}/delivered",
    status_code=202,
    response_model=TradePublic,
    responses=responses(403, 404, 409),
    summary="The seller reports delivery: the buyer is told (event); only the buyer releases",
)
@idempotent("delivered")
def report_delivery(trade_id: TradeIdPath, service: ServiceDep, actor: ActorDep) -> TradePublic:
    return TradePublic.of(service.report_delivery(actor, trade_id))


@router.post(
    "/{trade_id}/confirm",
    status_code=202,
    response_model=TradePublic,
    responses=responses(403, 404, 409),
    summary="Delivery received: release to the seller (buyer or operator)",
)
@idempotent("confirm")
def confirm_delivery(trade_id: TradeIdPath, service: ServiceDep, actor: ActorDep) -> TradePublic:
    return TradePublic.of(service.confirm_delivery(actor, trade_id))


@router.post(
    "/{trade_id}/cancel",
    status_code=202,
    response_model=TradePublic,
    responses=responses(404, 409),
    summary="Cancel a matched trade before release: both parties (the second refunds) or the operator",
)
@idempotent("cancel")
def cancel_trade(trade_id: TradeIdPath, service: ServiceDep, actor: ActorDep) -> TradePublic:
    return TradePublic.of(service.cancel(actor, trade_id))
