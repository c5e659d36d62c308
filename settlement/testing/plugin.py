"""pytest plugin (entry point `settlement`): test another project against the settlement API.

Installed with the package, it gives any test suite three fixtures:

- `devnet` (session): a throwaway anvil on a free loopback port with the contracts deployed.
- `settlement_app`: the engine and the HTTP API on a free loopback port, with a fresh SQLite
  database, on that devnet; whatever the test did on chain is reverted afterwards. It has
  `base_url`, `operator_key` and `service`.
- `settlement_client`: a factory, `settlement_client(api_key=None)` -> an httpx.Client with that
  key (the operator's by default) and the base URL set.

A project that defines its own `devnet` fixture (like this repository's tests/conftest.py)
overrides the one here; `settlement_app` then runs on that one.

Heavy imports happen inside the fixtures, so merely having the package installed costs a test
session nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import httpx

    from settlement.testing.app import SettlementApp
    from settlement.testing.devnet import Devnet


@pytest.fixture(scope="session")
def devnet() -> Iterator[Devnet]:
    from settlement.testing.devnet import Devnet

    net = Devnet.start()
    try:
        yield net
    finally:
        net.stop()


@pytest.fixture
def settlement_app(devnet: Devnet, tmp_path: Path) -> Iterator[SettlementApp]:
    from settlement.testing.app import running_app

    snapshot = devnet.snapshot()
    try:
        with running_app(devnet.manifest, devnet.rpc_url, tmp_path / "settlement") as app:
            yield app
    finally:
        devnet.revert(snapshot)  # the service is stopped by now: no nonce is left in flight


@pytest.fixture
def settlement_client(settlement_app: SettlementApp) -> Callable[..., httpx.Client]:
    return settlement_app.client
