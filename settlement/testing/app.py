"""A settlement service plus its HTTP API on a loopback port, for tests and the demo.

`running_app()` is what the pytest plugin's `settlement_app` fixture, our own API tests and the
demo share: a fresh database, the engine's worker, uvicorn in a thread, a clean shutdown.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from settlement.config import Settings
from settlement.manifest import DeploymentManifest
from settlement.service import SettlementService
from settlement.testing.rpc_gate import RpcGate

DEFAULT_TIMEOUT_S = 30.0
# Test suites send many deliberate 401s from loopback (auth matrices, schema fuzzing); the
# failed-auth throttle would turn them into 429s. A test of the throttle passes its own limit.
HARNESS_AUTH_FAILURES_MAX = 1_000_000


@dataclass
class SettlementApp:
    """What a test gets: where the API is, the operator's key, and the service behind it."""

    base_url: str
    operator_key: str
    service: SettlementService
    rpc_gate: RpcGate | None = None  # set by the pytest plugin: what settlement_chain.rpc_down() closes
    _clients: list[httpx.Client] = field(default_factory=list, repr=False)

    def client(self, api_key: str | None = None, *, anonymous: bool = False, **kwargs: Any) -> httpx.Client:
        """An HTTP client for base_url, authenticated as `api_key` (the operator by default), or
        with no Authorization header at all if `anonymous`. kwargs go to httpx.Client."""
        auth = {} if anonymous else {"Authorization": f"Bearer {api_key or self.operator_key}"}
        headers = {**auth, **kwargs.pop("headers", {})}
        client = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=kwargs.pop("timeout", DEFAULT_TIMEOUT_S), **kwargs
        )
        self._clients.append(client)
        return client

    def close_clients(self) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()


class ReusableApp:
    """One FastAPI app kept across tests, served by each test's own service in turn.

    Building the app's routes costs ~0.3 s (FastAPI analyses every endpoint), binding a service
    to it nothing: the app reaches its service only through `app.state.service` and the
    lifespan's `service`, both this object, which forwards to the service of the running test.
    Only the body-size limit is fixed when the app is built, so a test with another limit gets
    an app of its own.
    """

    def __init__(self) -> None:
        self.current: SettlementService | None = None
        self._apps: dict[int, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if self.current is None:
            raise AttributeError(name)
        return getattr(self.current, name)

    def app_for(self, service: SettlementService, keepalive_s: float | None) -> Any:
        from settlement.api.events import KEEPALIVE_S
        from settlement.api.main import create_app
        from settlement.api.throttle import FailedAuthThrottle

        self.current = service
        limit = service.settings.body_max_bytes
        if limit not in self._apps:
            self._apps[limit] = create_app(self)  # type: ignore[arg-type]
        app = self._apps[limit]
        settings = service.settings
        app.state.auth_throttle = FailedAuthThrottle(settings.auth_failures_max, settings.auth_failures_window_s)
        app.state.keepalive_s = KEEPALIVE_S if keepalive_s is None else keepalive_s
        return app


@contextlib.contextmanager
def running_app(
    manifest: DeploymentManifest,
    rpc_url: str,
    data_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    operator_key: str | None = None,
    database_url: str | None = None,
    keepalive_s: float | None = None,
    reusable: ReusableApp | None = None,
    **overrides: Any,
) -> Iterator[SettlementApp]:
    """Serve a fresh settlement service over HTTP until the block exits.

    `overrides` are Settings fields (e.g. sweep_interval_s, webhook_url, auth_failures_max: the
    harness lifts the failed-auth throttle unless told otherwise). The database is a new
    SQLite file in `data_dir` unless `database_url` is given. `keepalive_s` is the event stream's
    keep-alive comment interval (15 s by default). `reusable` serves the service with an app
    kept from an earlier test (the pytest plugin's way to keep per-test setup short).
    """
    from settlement.api.main import create_app
    from settlement.api.server import ServerThread

    data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        rpc_url=rpc_url,
        chain_id=manifest.chain_id,
        data_dir=data_dir,
        database_url=database_url or f"sqlite:///{data_dir / 'settlement.db'}",
        operator_key=operator_key or "op_" + secrets.token_urlsafe(24),
        api_host=host,
        api_port=port,
        **{"sweep_interval_s": 0.2, "auth_failures_max": HARNESS_AUTH_FAILURES_MAX, **overrides},
    )
    service = SettlementService(settings, manifest=manifest)
    try:
        if reusable is not None:
            api = reusable.app_for(service, keepalive_s)
        elif keepalive_s is None:
            api = create_app(service)
        else:
            api = create_app(service, keepalive_s=keepalive_s)
        with ServerThread(api, host=host, port=port) as server:
            app = SettlementApp(base_url=server.base_url, operator_key=settings.operator_key, service=service)
            try:
                yield app
            finally:
                app.close_clients()
    finally:
        service.close()
