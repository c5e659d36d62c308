"""The settlement pytest plugin, used the way an outside project would use it.

pytester writes test files into an empty directory (no conftest, nothing from this repository)
and runs pytest on them in a subprocess: the fixtures arrive only through the package's pytest11
entry point. PYTHONPATH names this checkout, so the code under test is this tree's (the wheel
built from it is tested by tests/harness/test_wheel.py).
"""

from __future__ import annotations

import re

import pytest

from settlement.config import PROJECT_ROOT
from tests.harness.outside_project import EXPECTED_PASSED, FAULTS_EXAMPLE, README_EXAMPLE

PLAIN_HTTP_TEST = """
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

# Tests run in file order: the first two check isolation, the last one must FAIL with the story.
ISOLATION_AND_FAILURE_TEST = """
import pytest

HEADS = {}


@pytest.mark.settlement_keep_chain
def test_1_kept(devnet, settlement_chain):
    settlement_chain.mine(5)
    HEADS["kept"] = devnet.w3.eth.block_number


def test_2_reverted_after_this_one(devnet, settlement_chain):
    assert devnet.w3.eth.block_number == HEADS["kept"]  # the marked test's blocks were kept
    settlement_chain.mine(7)
    HEADS["reverted"] = devnet.w3.eth.block_number


def test_3_sees_the_revert(devnet, settlement_app):
    assert devnet.w3.eth.block_number < HEADS["reverted"]


def test_4_a_status_that_never_comes_fails_with_the_story(settlement_trade, settlement_chain, wait_for_status):
    trade = settlement_trade()
    wait_for_status(trade, "LOCKED")
    wait_for_status(trade, "RELEASED", timeout_s=0.5)  # nobody confirms delivery
"""

FIXTURES = (
    "devnet",
    "settlement_app",
    "settlement_client",
    "settlement_broker",
    "settlement_trade",
    "wait_for_status",
    "settlement_chain",
    "settlement_webhooks",
)


@pytest.fixture
def outside(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTHONPATH", str(PROJECT_ROOT))
    return pytester


@pytest.mark.chain
@pytest.mark.slow
def test_plugin_fixtures_from_an_outside_project(outside: pytest.Pytester) -> None:
    outside.makepyfile(
        test_readme=README_EXAMPLE,
        test_faults=FAULTS_EXAMPLE,
        test_plain_http=PLAIN_HTTP_TEST,
        test_zz_isolation=ISOLATION_AND_FAILURE_TEST,
    )
    result = outside.runpytest_subprocess("-p", "no:cacheprovider", timeout=300)
    result.assert_outcomes(passed=EXPECTED_PASSED + 1 + 3, failed=1)
    output = result.stdout.str()
    assert "test_4_a_status_that_never_comes_fails_with_the_story" in output
    assert re.search(r"never became RELEASED: not there after 0.5s", output), output
    assert "statuses seen: LOCKED" in output and '"to_status": "LOCKED"' in output


def test_every_fixture_has_a_docstring(outside: pytest.Pytester) -> None:
    result = outside.runpytest_subprocess("--fixtures", "-p", "no:cacheprovider", timeout=60)
    output = result.stdout.str()
    for name in FIXTURES:
        match = re.search(rf"^{name}( \[session scope\])?( -- .*)?\n(.*)$", output, re.MULTILINE)
        assert match, f"{name} is not listed by pytest --fixtures"
        assert "no docstring available" not in match.group(3), f"{name} has no docstring"


@pytest.mark.chain
@pytest.mark.slow
def test_each_xdist_worker_has_its_own_devnet_and_database(outside: pytest.Pytester) -> None:
    outside.makepyfile(
        test_workers="""
import os

import pytest


@pytest.mark.parametrize("i", range(4))
def test_worker(i, devnet, settlement_app, tmp_path_factory):
    worker = os.environ["PYTEST_XDIST_WORKER"]
    record = tmp_path_factory.getbasetemp().parent / f"seen-{worker}-{i}"
    record.write_text(f"{worker} {devnet.rpc_url} {settlement_app.service.settings.database_url}")
    assert settlement_app.client().get("/v1/health").json()["status"] == "ok"
"""
    )
    result = outside.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider", timeout=300)
    result.assert_outcomes(passed=4)
    seen = [p.read_text().split() for p in outside.path.parent.rglob("seen-*")]
    assert len(seen) == 4
    by_worker = {worker: rpc for worker, rpc, _ in seen}
    assert len(by_worker) == 2 and len(set(by_worker.values())) == 2, seen
    assert len({database for _, _, database in seen}) == 4
