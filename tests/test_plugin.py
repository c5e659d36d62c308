"""The settlement pytest plugin, used the way an outside project would use it.

pytester writes a test file into an empty directory (no conftest, nothing from this repository)
and runs pytest on it in a subprocess: the fixtures arrive only through the package's pytest11
entry point. The test drives a whole settlement over HTTP with them.
"""

from __future__ import annotations

import pytest

OUTSIDE_TEST = """
import time
import uuid


def wait_for(client, trade_id, status, timeout_s=30.0):
    deadline = time.monotonic() + timeout_s
    while True:
        trade = client.get(f"/v1/trades/{trade_id}").json()
        if trade["status"] == status:
            return trade
        assert trade["status"] != "FAILED", trade
        assert time.monotonic() < deadline, trade
        time.sleep(0.05)


def test_a_trade_settles_end_to_end(settlement_app, settlement_client):
    operator = settlement_client()
    assert operator.get("/v1/health").json()["status"] == "ok"
    brokers = {}
    for name, jurisdiction in (("Outside HK Broker", "HK"), ("Outside SG Broker", "SG")):
        created = operator.post("/v1/participants", json={"name": name, "jurisdiction": jurisdiction})
        assert created.status_code == 201, created.text
        brokers[jurisdiction] = created.json()
    buyer, seller = brokers["HK"], brokers["SG"]
    issued = operator.post(f"/v1/participants/{buyer['id']}/issue", json={"amount": "50000"})
    assert issued.status_code == 200 and issued.json()["tx_hash"].startswith("0x")

    as_buyer = settlement_client(buyer["api_key"])
    as_seller = settlement_client(seller["api_key"])
    submitted = as_buyer.post(
        "/v1/trades",
        headers={"Idempotency-Key": str(uuid.uuid4())},
        json={
            "trade_ref": "OUT-1",
            "buyer_id": buyer["id"],
            "seller_id": seller["id"],
            "instrument": "D05.SI",
            "quantity": "100",
            "price": "42.15",
            "currency": "SGD",
        },
    )
    assert submitted.status_code == 202, submitted.text
    trade = submitted.json()
    assert trade["settlement_amount"] == "3140.83254" and trade["status"] == "UNMATCHED"
    affirmed = as_seller.post(f"/v1/trades/{trade['id']}/affirm", json={"trade_ref": "SG-OUT-1"})
    assert affirmed.status_code == 202 and affirmed.json()["status"] == "PENDING", affirmed.text

    assert wait_for(as_seller, trade["id"], "LOCKED")["lock_tx_hash"]
    assert as_seller.post(f"/v1/trades/{trade['id']}/delivered").status_code == 202
    assert as_buyer.post(f"/v1/trades/{trade['id']}/confirm").status_code == 202
    released = wait_for(as_buyer, trade["id"], "RELEASED")
    assert released["release_tx_hash"]

    assert operator.get("/v1/reconciliation").json()["balanced"] is True
    assert settlement_app.base_url.startswith("http://127.0.0.1:")
"""


@pytest.mark.chain
@pytest.mark.slow
def test_plugin_fixtures_from_an_outside_project(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_outside=OUTSIDE_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=180)
    result.assert_outcomes(passed=1)
