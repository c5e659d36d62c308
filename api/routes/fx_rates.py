"""FX rates: USD per unit of each trade currency. Trades record the rate they were priced at."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from settlement.api.deps import ActorDep, OperatorDep, ServiceDep
from settlement.api.idempotency import idempotent
from settlement.api.problems import responses
from settlement.api.schemas import FxRateCreate, FxRatePublic
from settlement.domain.fx import FxQuote

router = APIRouter(prefix="/fx-rates", tags=["fx"], responses=responses(401, 422))

OPERATOR_SOURCE = "operator"


@router.post("", status_code=201, response_model=FxRatePublic, responses=responses(403, 409), summary="Record a rate")
@idempotent("fx_rate")
def record_rate(body: FxRateCreate, service: ServiceDep, actor: OperatorDep) -> FxRatePublic:
    """The latest `as_of` per currency is the rate new trades use. Refused: an `as_of` in the future, a
    USD rate other than 1 (the peg), a move beyond the jump limit unless `force` is true."""
    quote = FxQuote(body.currency, body.rate_to_usd, OPERATOR_SOURCE, body.as_of or datetime.now(UTC), body.force)
    return FxRatePublic.of(service.record_fx_rate(actor, quote))


@router.get("", response_model=list[FxRatePublic], summary="The current rate of each currency")
def current_rates(service: ServiceDep, _: ActorDep) -> list[FxRatePublic]:
    return [FxRatePublic.of(q) for q in service.fx_rates()]
