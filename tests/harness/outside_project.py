"""The test files an outside project writes: the README's example and one using the fault helpers.

tests/test_plugin.py runs them from a source checkout (pytester), tests/harness/test_wheel.py
from a wheel installed into a fresh venv; tests/harness/test_readme_examples.py checks that the
README shows exactly these, so the documented example is the one that is proven to pass.
"""

from __future__ import annotations

README_EXAMPLE = """\
def test_my_broker_gets_paid(settlement_broker, settlement_trade, wait_for_status):
    buyer = settlement_broker(jurisdiction="HK")  # registered, issued 1,000,000 coins
    seller = settlement_broker(jurisdiction="SG", coins=0)
    trade = settlement_trade(buyer, seller, instrument="D05.SI", quantity="100", price="42.15", currency="SGD")
    assert trade["settlement_amount"] == "3140.83254"  # 4,215 SGD in USD coins at the devnet's rate

    wait_for_status(trade, "LOCKED", timeout_s=30)  # the buyer's coins are in escrow
    assert seller.client.post(f"/v1/trades/{trade['id']}/delivered").status_code == 202
    assert buyer.client.post(f"/v1/trades/{trade['id']}/confirm").status_code == 202
    released = wait_for_status(trade, "RELEASED", timeout_s=30)  # paid to the seller
    assert released["release_tx_hash"]
"""

FAULTS_EXAMPLE = """\
import uuid


def test_the_api_says_when_the_chain_is_down(settlement_client, settlement_chain):
    operator = settlement_client()
    with settlement_chain.rpc_down():  # the service cannot reach the node in here
        assert operator.get("/v1/health").json()["status"] == "degraded"
    assert operator.get("/v1/health").json()["status"] == "ok"


def test_a_lock_past_its_deadline_is_refunded(settlement_trade, settlement_chain, wait_for_status):
    trade = settlement_trade()  # an HK buyer and an SG seller, made for you
    wait_for_status(trade, "LOCKED")
    settlement_chain.time_travel(2 * 86_400)  # past the default one-day settlement window
    wait_for_status(trade, "REFUNDED")


def test_a_blacklisted_buyer_cannot_trade(settlement_broker, settlement_chain):
    buyer, seller = settlement_broker(jurisdiction="HK"), settlement_broker(jurisdiction="SG", coins=0)
    settlement_chain.blacklist(buyer.address)
    body = {
        "trade_ref": "BL-1",
        "buyer_id": buyer.id,
        "seller_id": seller.id,
        "instrument": "D05.SI",
        "quantity": "1",
        "price": "1",
        "currency": "SGD",
    }
    refused = buyer.client.post("/v1/trades", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert refused.status_code == 422 and refused.json()["code"] == "blacklisted"


def test_webhooks_arrive_signed(settlement_trade, settlement_webhooks, wait_for_status):
    trade = settlement_trade()
    wait_for_status(trade, "LOCKED")
    delivery = settlement_webhooks.wait_for("LOCKED")  # a trade.status delivery with that status
    assert delivery.verified and delivery.data["trade_id"] == trade["id"]
"""

# Both files in one run: 1 + 4 tests.
EXPECTED_PASSED = 5
