"""Liveness and readiness, without auth: what a load balancer or an on-call engineer checks first."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Response
from sqlalchemy import text

from api.deps import ServiceDep
from api.schemas import HealthPublic, utc

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)

MAX_HEALTHY_LAG_BLOCKS = 50


@router.get(
    "/health",
    response_model=HealthPublic,
    responses={503: {"model": HealthPublic, "description": "Degraded: see which part"}},
)
def health(service: ServiceDep, response: Response) -> HealthPublic:
    """200 when chain, database and worker are fine; 503 with the same body otherwise."""
    latest: int | None = None
    try:
        latest = service.chain.block_number()
    except Exception as exc:
        log.warning("health: chain unreachable: %s", exc)
    database_ok = True
    indexer_head: int | None = None
    try:
        with service.db.connect() as connection:
            connection.execute(text("SELECT 1"))
        cursor = service.indexer.cursor()
        indexer_head = cursor[0] if cursor else None
    except Exception as exc:
        log.warning("health: database check failed: %s", exc)
        database_ok = False
    lag = latest - indexer_head if latest is not None and indexer_head is not None else None
    worker = service.health
    healthy = (
        latest is not None
        and database_ok
        and worker.last_error is None
        and (lag is None or lag <= MAX_HEALTHY_LAG_BLOCKS)
    )
    if not healthy:
        response.status_code = 503
    return HealthPublic(
        status="ok" if healthy else "degraded",
        chain_id=service.chain.chain_id,
        latest_block=latest,
        indexer_head=indexer_head,
        indexer_lag=lag,
        database_ok=database_ok,
        worker_last_cycle_at=utc(worker.last_cycle_at) if worker.last_cycle_at else None,
        # The class of the last worker error only: details (hosts, SQL) stay in the server log.
        worker_error=worker.last_error.split(":", 1)[0] if worker.last_error else None,
    )
