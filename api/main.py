"""The FastAPI application: create_app(service) wires routes, errors, limits and event delivery.

The app holds no business logic: routes translate HTTP to SettlementService calls and back.
The lifespan owns what runs beside the requests: the settlement worker (lock, release, refund,
sweep, index), the SSE hub and the optional webhook sender, all stopped in order on shutdown.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi

from settlement.api import dashboard, problems
from settlement.api.events import KEEPALIVE_S, EventHub
from settlement.api.middleware import BodySizeLimit
from settlement.api.routes import (
    audit,
    events,
    exports,
    fx_rates,
    health,
    ledger,
    liquidity,
    participants,
    trades,
    windows,
)
from settlement.api.routes import dashboard as dashboard_routes
from settlement.api.routes import webhooks as webhook_routes
from settlement.api.throttle import FailedAuthThrottle
from settlement.api.webhooks import WebhookDispatcher
from settlement.config import Settings
from settlement.service import SettlementService
from settlement.views import TradeEvent

API_PREFIX = "/v1"
API_VERSION = "1.0.0"
BATCH_BODY_MAX_BYTES = 1024 * 1024
DESCRIPTION = """\
Cross-border settlement of brokerage trades in a USD-pegged stablecoin: the buyer's coins are
locked in an on-chain escrow, released to the seller when delivery is confirmed, refunded on
cancel or when the deadline passes; every movement is mirrored into a hash-chained double-entry
ledger that reconciles against the chain.

**Auth**: `Authorization: Bearer <key>`: the operator key, or a participant's API key.
**Money**: decimal strings in coin units (`"1250.5"`). **Errors**: RFC 9457 problem details
with a stable `code`.
"""


def create_app(service: SettlementService, *, run_worker: bool = True, keepalive_s: float = KEEPALIVE_S) -> FastAPI:
    """An app serving `service`. With run_worker, the lifespan starts and stops its worker."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hub = EventHub(asyncio.get_running_loop())
        app.state.events = hub
        listeners: list[Callable[[TradeEvent], None]] = [hub.publish]
        webhooks = None
        if service.settings.webhook_url:
            webhooks = WebhookDispatcher(
                service,
                service.settings.webhook_url,
                service.settings.webhook_secret,
                timeout_s=service.settings.webhook_timeout_s,
            )
            webhooks.start()
            listeners.append(webhooks.wake)
        app.state.webhooks = webhooks
        for listener in listeners:
            service.subscribe(listener)
        if run_worker:
            await asyncio.to_thread(service.start)
        try:
            yield
        finally:
            hub.close()
            if run_worker:
                await asyncio.to_thread(service.stop)
            for listener in listeners:
                service.unsubscribe(listener)
            if webhooks is not None:
                await asyncio.to_thread(webhooks.stop)

    app = _application(lifespan=lifespan, body_max_bytes=service.settings.body_max_bytes)
    app.state.service = service
    problems.install_known_failures(app, service.known_failure_types())
    app.state.webhooks = None
    app.state.auth_throttle = FailedAuthThrottle(
        service.settings.auth_failures_max, service.settings.auth_failures_window_s
    )
    app.state.keepalive_s = keepalive_s
    return app


def _application(lifespan: Any, body_max_bytes: int) -> FastAPI:
    # /docs is served from local assets (api/dashboard); ReDoc would load from a CDN, so it is off.
    app = FastAPI(
        title="Stablecoin Settlement API",
        version=API_VERSION,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    # A batch of up to 1,000 trades is ~300 bytes a trade.
    app.add_middleware(
        BodySizeLimit,
        max_bytes=body_max_bytes,
        path_max_bytes={"/v1/trades/batch": max(body_max_bytes, BATCH_BODY_MAX_BYTES)},
    )
    problems.install(app)
    v1 = APIRouter(prefix=API_PREFIX)
    for module in (health, participants, liquidity, fx_rates, trades, windows, ledger, audit, events, webhook_routes):
        v1.include_router(module.router)
    v1.include_router(dashboard_routes.router)
    v1.include_router(exports.router)
    app.include_router(v1)
    dashboard.install(app)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document, without a service behind it (for tooling and contract tests)."""
    default_limit = Settings.model_fields["body_max_bytes"].default  # no env, no service: pure
    return _application(lifespan=None, body_max_bytes=default_limit).openapi()


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, with error responses declared as application/problem+json."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if (status == "default" or status[0] in "45") and "application/json" in content:
                    content[problems.PROBLEM_MEDIA_TYPE] = content.pop("application/json")
            _declare_cross_cutting_problems(operation)
    app.openapi_schema = schema
    return schema


def _declare_cross_cutting_problems(operation: dict[str, Any]) -> None:
    """Answers no route declares itself: 415 for a JSON body sent as something else, 429 for a
    client throttled after too many failed authentications."""
    problem = {"content": {problems.PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    responses = operation.setdefault("responses", {})
    if "requestBody" in operation:
        responses.setdefault("415", {"description": "Unsupported Media Type: send application/json", **problem})
    if "security" in operation:
        retry_after = {"description": "Seconds to wait", "schema": {"type": "integer"}}
        responses.setdefault(
            "429",
            {"description": "Too many failed authentications", "headers": {"Retry-After": retry_after}, **problem},
        )
