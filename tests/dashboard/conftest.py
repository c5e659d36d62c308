"""Dashboard and export tests: one app per module on the session's anvil (reverted afterwards),
with a small settled day: two brokers trading, one trade released, one left LOCKED, and a third
broker with nothing to do with them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from settlement.testing.app import SettlementApp, running_app
from settlement.testing.devnet import Devnet
from tests.api.support import Broker, matched, register, trade_body, wait_status
from tests.conftest import POSTGRES_URL, fresh_database


@dataclass
class Day:
    buyer: Broker
    seller: Broker
    outsider: Broker
    released: dict[str, Any]
    locked: dict[str, Any]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api(
    request: pytest.FixtureRequest, devnet: Devnet, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SettlementApp]:
    """The dashboard's SQL (counts, tx lookups, exports) runs on both backends."""
    if request.param == "postgresql" and not request.getfixturevalue("postgres_available"):
        pytest.skip(f"PostgreSQL leg skipped: no server reachable at {POSTGRES_URL}")
    data_dir = tmp_path_factory.mktemp("dash")
    snapshot = devnet.snapshot()
    try:
        with (
            fresh_database(request.param, data_dir, "dash") as url,
            running_app(devnet.manifest, devnet.rpc_url, data_dir, database_url=url, keepalive_s=0.5) as app,
        ):
            yield app
    finally:
        devnet.revert(snapshot)


def settle_day(api: SettlementApp) -> Day:
    buyer, seller, outsider = register(api, "buyer", "HK"), register(api, "seller", "SG"), register(api, "outsider")
    client = buyer.http.post(f"/v1/participants/{buyer.id}/clients", json={"name": "Chan Family Office"}).json()
    response = buyer.http.post(
        f"/v1/participants/{buyer.id}/clients/{client['id']}/allocate", json={"amount": "1000.5"}
    )
    assert response.status_code == 200, response.text
    released = matched(buyer, seller, trade_body(buyer, seller, instrument="=HYPERLINK(0700.HK)"))
    wait_status(buyer.http, released["id"], "LOCKED")
    assert buyer.http.post(f"/v1/trades/{released['id']}/confirm").status_code == 202
    released = wait_status(buyer.http, released["id"], "RELEASED")
    locked = matched(buyer, seller, trade_body(buyer, seller, quantity="7", price="12.345"))
    locked = wait_status(buyer.http, locked["id"], "LOCKED")
    api.service.index()
    return Day(buyer, seller, outsider, released, locked)


@pytest.fixture(scope="module")
def day(api: SettlementApp) -> Day:
    return settle_day(api)
