"""API tests over real HTTP: one app (uvicorn on a loopback port, a fresh SQLite database) per
module, on the session's anvil. The chain is snapshotted before the module and reverted after
the app has stopped, so no sender nonce is in flight across the revert. Tests inside a module
share the app and stay independent through unique participant names and trade refs.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from settlement.testing.app import SettlementApp, running_app
from settlement.testing.devnet import Devnet
from tests.api.support import Broker, register


@pytest.fixture(scope="module")
def api(devnet: Devnet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SettlementApp]:
    snapshot = devnet.snapshot()
    try:
        with running_app(devnet.manifest, devnet.rpc_url, tmp_path_factory.mktemp("api"), keepalive_s=0.5) as app:
            yield app
    finally:
        devnet.revert(snapshot)


@pytest.fixture(scope="module")
def buyer(api: SettlementApp) -> Broker:
    """A devnet broker account (pre-funded by the deployment), the service holds its key."""
    return register(api, "buyer", "HK")


@pytest.fixture(scope="module")
def seller(api: SettlementApp) -> Broker:
    return register(api, "seller", "SG")


@pytest.fixture(scope="module")
def outsider(api: SettlementApp) -> Broker:
    return register(api, "outsider", "HK")
