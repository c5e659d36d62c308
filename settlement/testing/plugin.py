"""pytest plugin (entry point `settlement`): test another project against the settlement API.

Installed with the package (`pip install stablecoin-settlement`), it gives any test suite these
fixtures; `pytest --fixtures` shows each one's docstring:

- `devnet` (session): a throwaway anvil on a free port, the contracts deployed from package data.
- `settlement_app`: the engine and HTTP API on a free port, fresh SQLite database, on that devnet.
- `settlement_client`: `settlement_client(api_key=None)` -> an httpx.Client for the API.
- `settlement_broker`: `settlement_broker(jurisdiction="HK", coins=...)` -> a funded Broker.
- `settlement_trade`: `settlement_trade(buyer, seller, **terms)` -> a trade both sides agreed.
- `wait_for_status`: `wait_for_status(trade, "LOCKED", timeout_s=30)`, failing with the story.
- `settlement_chain`: time travel, mine, reorg, RPC outage, pause and blacklist.
- `settlement_webhooks`: a receiver the service delivers signed webhooks to, signatures checked.

Each test's chain changes are reverted afterwards (snapshot/revert); `@pytest.mark.settlement_keep_chain`
opts out. `@pytest.mark.settlement_settings(**fields)` passes Settings fields to the service.
Under pytest-xdist every worker has its own anvil and databases (free ports, per-worker temp dirs).

A project that defines its own `devnet` fixture (like this repository's tests/conftest.py)
overrides the one here; `settlement_app` then runs on that one.

Heavy imports happen inside the fixtures, so merely having the package installed costs a test
session nothing.
"""

from __future__ import annotations

import base64
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import httpx

    from settlement.testing.app import ReusableApp, SettlementApp
    from settlement.testing.brokers import Broker
    from settlement.testing.chain_control import ChainControl
    from settlement.testing.devnet import Devnet
    from settlement.testing.webhooks import WebhookReceiver

KEEP_CHAIN_MARKER = "settlement_keep_chain"
SETTINGS_MARKER = "settlement_settings"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{KEEP_CHAIN_MARKER}: keep this test's chain changes (no revert to the pre-test snapshot)"
    )
    config.addinivalue_line(
        "markers", f"{SETTINGS_MARKER}(**fields): Settings fields for this test's settlement service"
    )


@pytest.fixture(scope="session")
def devnet() -> Iterator[Devnet]:
    """Session: a throwaway anvil on a free loopback port with the contracts deployed (one per
    pytest-xdist worker). `rpc_url`, `manifest`, `w3`; `snapshot()`, `revert(id)`,
    `increase_time(s)`, `mine(n)`, `reorg(depth)`. anvil: SETTLEMENT_ANVIL_BIN, PATH or node_modules."""
    from settlement.testing.devnet import Devnet

    net = Devnet.start()
    try:
        yield net
    finally:
        net.stop()


@pytest.fixture(scope="session")
def _settlement_template_db(tmp_path_factory: pytest.TempPathFactory, devnet: Devnet) -> Path:
    """A database set up once per session (per worker) by a service on this devnet: migrated, the
    ledger's chain identity and the default FX rates recorded. Each test gets a copy of the file,
    which its service then finds ready (a few ms instead of ~0.5 s of migrations and inserts)."""
    from settlement.config import Settings
    from settlement.service import SettlementService

    folder = tmp_path_factory.mktemp("settlement-template")
    path = folder / "settlement.db"
    settings = Settings(
        rpc_url=devnet.rpc_url, chain_id=devnet.manifest.chain_id, data_dir=folder, database_url=f"sqlite:///{path}"
    )
    SettlementService(settings, manifest=devnet.manifest).close()
    return path


@pytest.fixture(scope="session")
def _settlement_reusable_app() -> ReusableApp:
    """The FastAPI app, built once per session (per worker) and bound to each test's service."""
    from settlement.testing.app import ReusableApp

    return ReusableApp()


@pytest.fixture
def settlement_app(
    request: pytest.FixtureRequest,
    devnet: Devnet,
    tmp_path: Path,
    _settlement_template_db: Path,
    _settlement_reusable_app: ReusableApp,
) -> Iterator[SettlementApp]:
    """The engine and the HTTP API on a free loopback port, with a fresh SQLite database, on the
    devnet (through a gate `settlement_chain.rpc_down()` can close). `base_url`, `operator_key`,
    `service`, `client(api_key)`. Chain changes are reverted after the test unless it is marked
    `settlement_keep_chain`; `settlement_settings(**fields)` sets service settings."""
    from settlement.testing.app import running_app
    from settlement.testing.rpc_gate import RpcGate

    overrides: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers(SETTINGS_MARKER))):
        overrides.update(marker.kwargs)
    if "settlement_webhooks" in request.fixturenames:
        receiver: WebhookReceiver = request.getfixturevalue("settlement_webhooks")
        overrides.update(webhook_url=receiver.url, webhook_secret=receiver.secret)
    data_dir = tmp_path / "settlement"
    data_dir.mkdir()
    database = data_dir / "settlement.db"
    shutil.copyfile(_settlement_template_db, database)
    keep_chain = request.node.get_closest_marker(KEEP_CHAIN_MARKER) is not None
    snapshot = None if keep_chain else devnet.snapshot()
    gate = RpcGate(devnet.rpc_url)
    try:
        with running_app(devnet.manifest, gate.url, data_dir, database_url=f"sqlite:///{database}", **overrides) as app:
            app.rpc_gate = gate
            yield app
    finally:
        gate.close()
        if snapshot is not None:
            devnet.revert(snapshot)  # the service is stopped by now: no nonce is left in flight


@pytest.fixture
def settlement_client(settlement_app: SettlementApp) -> Callable[..., httpx.Client]:
    """`settlement_client(api_key=None, *, anonymous=False, **httpx_kwargs)` -> an httpx.Client
    with the API's base URL, authenticated as `api_key` (the operator's key by default)."""
    return settlement_app.client


@pytest.fixture
def settlement_broker(settlement_app: SettlementApp) -> Callable[..., Broker]:
    """`settlement_broker(*, name=None, jurisdiction="HK", coins="1000000")` -> a Broker registered
    by the operator and issued `coins`: `id`, `address`, `api_key`, `client` (authenticated as it)."""
    from settlement.testing.brokers import register_broker

    def make(*, name: str | None = None, jurisdiction: str = "HK", coins: str | int = "1000000") -> Broker:
        return register_broker(settlement_app, name=name, jurisdiction=jurisdiction, coins=coins)

    return make


@pytest.fixture
def settlement_trade(settlement_broker: Callable[..., Broker]) -> Callable[..., dict[str, Any]]:
    """`settlement_trade(buyer=None, seller=None, **terms)` -> a trade both sides agreed (the
    buyer submits, the seller affirms), as the API returned it. Missing brokers are made (HK buyer,
    SG seller); terms: instrument, quantity, price, currency, deadline, ..."""
    from settlement.testing.trades import matched_trade

    def make(buyer: Broker | None = None, seller: Broker | None = None, **terms: Any) -> dict[str, Any]:
        buyer = buyer or settlement_broker(jurisdiction="HK")
        seller = seller or settlement_broker(jurisdiction="SG", coins=0)
        return matched_trade(buyer, seller, **terms)

    return make


@pytest.fixture
def wait_for_status(settlement_app: SettlementApp) -> Callable[..., dict[str, Any]]:
    """`wait_for_status(trade, status, timeout_s=30.0)` -> the trade once it has `status` (trade:
    the API's dict or its id). Fails, never hangs: after timeout_s, or at once if the trade reaches
    another final status (FAILED, REFUNDED, ...), with its last state and transitions."""
    from settlement.testing.trades import DEFAULT_WAIT_S
    from settlement.testing.trades import wait_for_status as wait

    operator = settlement_app.client()

    def waiter(trade: dict[str, Any] | str, status: str, timeout_s: float = DEFAULT_WAIT_S) -> dict[str, Any]:
        return wait(operator, trade, status, timeout_s)

    return waiter


@pytest.fixture
def settlement_chain(settlement_app: SettlementApp, devnet: Devnet) -> ChainControl:
    """Chain control under the running service: `time_travel(s)`, `mine(n)`, `reorg(depth)`,
    `with rpc_down():` (the service cannot reach the node inside), `pause(contract)` /
    `unpause` / `with paused():` ("token" or "escrow"), `blacklist(address)` / `unblacklist`."""
    from settlement.testing.chain_control import ChainControl

    assert settlement_app.rpc_gate is not None
    return ChainControl(devnet=devnet, gate=settlement_app.rpc_gate, service=settlement_app.service)


@pytest.fixture
def settlement_webhooks() -> Iterator[WebhookReceiver]:
    """A webhook receiver the test's service delivers to (SETTLEMENT_WEBHOOK_URL is set for you):
    `deliveries` (each with `verified`, its Standard Webhooks signature checked), `wait_for("LOCKED")`
    or `wait_for(predicate, timeout_s)`; set `status = 500` to make the service retry."""
    from settlement.testing.webhooks import WebhookReceiver

    receiver = WebhookReceiver(secret="whsec_" + base64.b64encode(secrets.token_bytes(24)).decode())
    try:
        yield receiver
    finally:
        receiver.close()
