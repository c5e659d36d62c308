"""Net mode's liquidity over HTTP on the real app and anvil: deposit, withdraw, the balance and
the operator's net debit cap, who may do what, the stable codes, and reconcile after it all."""

from __future__ import annotations

from decimal import Decimal

import pytest

from settlement.testing.app import SettlementApp
from tests.api.support import Broker, assert_problem, register

pytestmark = pytest.mark.chain
NON_CUSTODIAL_ADDRESS = "0x" + "5c" * 20  # a wallet whose key the service does not hold


def _path(broker: Broker, what: str) -> str:
    return f"/v1/participants/{broker.id}/{what}"


def _balance(app: SettlementApp, broker: Broker) -> dict[str, object]:
    response = app.client().get(_path(broker, "settlement-balance"))
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_a_broker_deposits_and_withdraws_and_the_ledger_and_reconcile_follow(api: SettlementApp, buyer: Broker) -> None:
    wallet_before = buyer.http.get(_path(buyer, "balances")).json()["on_chain"]
    deposit = buyer.http.post(
        _path(buyer, "settlement-balance/deposit"), json={"amount": "1000"}, headers={"Idempotency-Key": "dep-1"}
    )
    assert deposit.status_code == 200, deposit.text
    assert deposit.json()["amount"] == "1000" and deposit.json()["tx_hash"].startswith("0x")
    replay = buyer.http.post(
        _path(buyer, "settlement-balance/deposit"), json={"amount": "1000"}, headers={"Idempotency-Key": "dep-1"}
    )
    assert replay.headers.get("Idempotent-Replayed") == "true" and replay.json() == deposit.json()
    by_operator = api.client().post(_path(buyer, "settlement-balance/deposit"), json={"amount": "250.5"})
    assert by_operator.status_code == 200, by_operator.text
    withdrawal = buyer.http.post(_path(buyer, "settlement-balance/withdraw"), json={"amount": "50.5"})
    assert withdrawal.status_code == 200, withdrawal.text

    report = api.client().get("/v1/reconciliation").json()  # indexes to the head first
    assert report["balanced"], report["breaks"]
    balance = buyer.http.get(_path(buyer, "settlement-balance")).json()
    assert balance["admitted"] is True
    assert balance["on_chain"] == balance["ledger"] == balance["net_debit_cap"] == "1200"
    assert balance["operator_cap"] is None
    balances = buyer.http.get(_path(buyer, "balances")).json()
    assert Decimal(wallet_before) - Decimal(balances["on_chain"]) == 1200  # the replay deposited nothing
    assert balances["on_chain"] == balances["ledger"]  # the wallet: unallocated + clients
    assert balances["settlement_balance_on_chain"] == balances["settlement_balance_ledger"] == "1200"


def test_amounts_beyond_the_balance_or_the_wallet_are_refused_with_stable_codes(
    api: SettlementApp, seller: Broker
) -> None:
    assert seller.http.post(_path(seller, "settlement-balance/deposit"), json={"amount": "10"}).status_code == 200
    assert_problem(
        seller.http.post(_path(seller, "settlement-balance/withdraw"), json={"amount": "10.000001"}),
        422,
        "withdrawal_exceeds_balance",
    )
    assert_problem(
        seller.http.post(_path(seller, "settlement-balance/deposit"), json={"amount": "1000000000"}),
        422,
        "deposit_exceeds_wallet",
    )
    assert_problem(
        seller.http.post(_path(seller, "settlement-balance/deposit"), json={"amount": "0"}), 422, "validation"
    )
    assert _balance(api, seller)["on_chain"] == "10"


def test_the_operator_sets_and_clears_the_net_debit_cap(api: SettlementApp) -> None:
    broker = register(api, "capped")
    assert broker.http.post(_path(broker, "settlement-balance/deposit"), json={"amount": "300"}).status_code == 200
    capped = api.client().put(_path(broker, "net-debit-cap"), json={"cap": "120"})
    assert capped.status_code == 200, capped.text
    assert (capped.json()["operator_cap"], capped.json()["net_debit_cap"]) == ("120", "120")
    above = api.client().put(_path(broker, "net-debit-cap"), json={"cap": "500"}).json()
    assert (above["operator_cap"], above["net_debit_cap"]) == ("500", "300")  # the balance is the hard cap
    assert broker.http.get(_path(broker, "settlement-balance")).json()["operator_cap"] == "500"
    cleared = api.client().put(_path(broker, "net-debit-cap"), json={"cap": None})
    assert (cleared.json()["operator_cap"], cleared.json()["net_debit_cap"]) == (None, "300")
    assert_problem(api.client().put(_path(broker, "net-debit-cap"), json={"cap": "-1"}), 422, "validation")


def test_brokers_act_only_for_themselves_and_never_set_caps(
    api: SettlementApp, buyer: Broker, outsider: Broker
) -> None:
    assert_problem(outsider.http.put(_path(outsider, "net-debit-cap"), json={"cap": "1"}), 403, "forbidden")
    for what in ("settlement-balance/deposit", "settlement-balance/withdraw"):
        assert_problem(outsider.http.post(_path(buyer, what), json={"amount": "1"}), 403, "forbidden")
    assert_problem(outsider.http.get(_path(buyer, "settlement-balance")), 403, "forbidden")


def test_a_non_custodial_broker_is_told_to_deposit_from_its_wallet(api: SettlementApp) -> None:
    broker = register(api, "self-custody", address=NON_CUSTODIAL_ADDRESS)
    problem = assert_problem(
        broker.http.post(_path(broker, "settlement-balance/deposit"), json={"amount": "1"}), 409, "not_custodial"
    )
    assert "deposit" in problem["detail"] and "from that wallet" in problem["detail"]
    assert_problem(
        broker.http.post(_path(broker, "settlement-balance/withdraw"), json={"amount": "1"}), 409, "not_custodial"
    )
    assert _balance(api, broker)["admitted"] is False
