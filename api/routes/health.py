"""Liveness and readiness, without auth: what a load balancer or an on-call engineer checks first."""

from __future__ import annotations

from fastapi import APIRouter, Response

from settlement.api.deps import ServiceDep
from settlement.api.schemas import HealthPublic, utc

router = APIRouter(tags=["health"])

HEALTHY_LAG_MAX_BLOCKS = 50


@router.get(
    "/health",
    response_model=HealthPublic,
    responses={503: {"model": HealthPublic, "description": "Degraded: see which part"}},
)
def health(service: ServiceDep, response: Response) -> HealthPublic:
    """200 when chain, database and worker are fine (a started server also needs a live worker for
    its ledger, here or on another server); 503 with the same body otherwise."""
    state = service.health()
    lag = state.indexer_lag
    healthy = (
        state.latest_block is not None
        and state.database_ok
        and state.worker_error is None
        and (state.worker_live or state.worker_role == "stopped")
        and (lag is None or lag <= HEALTHY_LAG_MAX_BLOCKS)
    )
    if not healthy:
        response.status_code = 503
    return HealthPublic(
        status="ok" if healthy else "degraded",
        chain_id=state.chain_id,
        latest_block=state.latest_block,
        indexer_head=state.indexer_head,
        indexer_lag=lag,
        database_ok=state.database_ok,
        worker_last_cycle_at=utc(state.worker_last_cycle_at) if state.worker_last_cycle_at else None,
        worker_error=state.worker_error,
        worker_role=state.worker_role,
        worker_live=state.worker_live,
    )
