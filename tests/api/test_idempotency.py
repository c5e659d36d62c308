"""50 concurrent submits with one Idempotency-Key and body: one trade, one lock on chain.

Run on both databases: the race between twins ends differently on each (SQLite serialises
writers; PostgreSQL lets both insert until the unique constraint bites at flush).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from settlement.testing.app import SettlementApp, running_app
from settlement.testing.devnet import Devnet
from tests.api.support import register, submit, trade_body, unique, wait_status

pytestmark = pytest.mark.chain

CONCURRENT = 50


@pytest.fixture
def app_on_each_database(devnet: Devnet, db_url: str, tmp_path: Path) -> Iterator[SettlementApp]:
    snapshot = devnet.snapshot()
    try:
        with running_app(devnet.manifest, devnet.rpc_url, tmp_path, database_url=db_url) as app:
            yield app
    finally:
        devnet.revert(snapshot)


def locked_logs(app: SettlementApp, chain_trade_id: str) -> int:
    chain = app.service.chain
    logs = chain.escrow.events.Locked().get_logs(
        from_block=chain.manifest.deploy_block, argument_filters={"tradeId": bytes.fromhex(chain_trade_id[2:])}
    )
    return len(logs)


def test_fifty_concurrent_retries_make_one_trade_and_one_lock(app_on_each_database: SettlementApp) -> None:
    api = app_on_each_database
    buyer, seller = register(api, "idem-buyer"), register(api, "idem-seller")
    body = trade_body(buyer, seller)
    key = unique("idem")
    clients = [api.client(buyer.api_key) for _ in range(CONCURRENT)]
    with ThreadPoolExecutor(CONCURRENT) as pool:
        responses = list(pool.map(lambda c: submit(c, body, key), clients))

    assert [r.status_code for r in responses] == [202] * CONCURRENT, [r.text for r in responses if r.status_code != 202]
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == CONCURRENT - 1
    listed = buyer.http.get("/v1/trades", params={"limit": 200}).json()["items"]
    assert [t["id"] for t in listed] == list(ids)

    trade_id = ids.pop()
    affirmed = seller.http.post(f"/v1/trades/{trade_id}/affirm", json={"trade_ref": unique("seller-ref")})
    assert affirmed.status_code == 202, affirmed.text
    trade = wait_status(buyer.http, trade_id, "LOCKED")
    api.client().get("/v1/reconciliation")  # a full worker cycle and indexing later, still one lock
    assert locked_logs(api, trade["chain_trade_id"]) == 1
    assert submit(buyer.http, body, key).json()["id"] == trade["id"]
