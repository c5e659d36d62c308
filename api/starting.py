"""What `python -m settlement.api` serves while it waits out a chain or database outage at start: every
request is 503, and /v1/health says "degraded" with why, so a load balancer keeps traffic away
and an engineer sees the service is alive and waiting rather than gone."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from settlement.api.problems import problem
from settlement.api.schemas import HealthPublic

RETRY_AFTER_S = 2


def starting_app(chain_id: int, waiting_for: str) -> FastAPI:
    """An app with no service behind it: health degraded, everything else 503 settlement_unavailable."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/v1/health")
    def health() -> JSONResponse:
        body = HealthPublic(
            status="degraded",
            chain_id=chain_id,
            latest_block=None,
            indexer_head=None,
            indexer_lag=None,
            database_ok=False,
            worker_last_cycle_at=None,
            worker_error=f"starting: {waiting_for}",
            worker_role="starting",
            worker_live=False,
        )
        return JSONResponse(body.model_dump(mode="json"), status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    def not_yet(request: Request, path: str) -> JSONResponse:
        return problem(
            request,
            status=503,
            code="settlement_unavailable",
            title="Settlement is not running: trades are not accepted until it is",
            detail=f"the service is starting ({waiting_for}); retry shortly",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )

    return app
