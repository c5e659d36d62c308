"""Consent over real HTTP and anvil: who may move whose coins, and the attacks that used to work.

The table is README's consent table, one case a line: an action on a trade in a given state,
asked by the buyer, the seller, the operator or another broker, and the status it must get.
Each case starts from a fresh trade, so the cells are independent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_typing import HexStr

from settlement import errors
from settlement.chain.contract_calls import LockOrder
from settlement.chain.lock_intents import sign_lock_intent
from settlement.chain.trade_ids import chain_trade_key
from settlement.testing.app import SettlementApp, running_app
from settlement.testing.devnet import Devnet
from tests.api.support import (
    Broker,
    assert_problem,
    matched,
    register,
    submit,
    submitted,
    trade_body,
    unique,
    wait_status,
)

pytestmark = pytest.mark.chain

ROLES = ("buyer", "seller", "operator", "other")
BAD_SIGNATURE = "0x" + "11" * 65


@dataclass
class Parties:
    api: SettlementApp
    buyer: Broker
    seller: Broker
    other: Broker

    def client(self, role: str) -> httpx.Client:
        return {"buyer": self.buyer.http, "seller": self.seller.http, "other": self.other.http}.get(
            role, self.api.client()
        )


@pytest.fixture(scope="module")
def parties(api: SettlementApp, buyer: Broker, seller: Broker, outsider: Broker) -> Parties:
    return Parties(api, buyer, seller, outsider)


def alleged_by(role: str) -> Callable[[Parties], dict[str, Any]]:
    def make(p: Parties) -> dict[str, Any]:
        return submitted(p.client(role), trade_body(p.buyer, p.seller, quantity="1", price="10"))

    return make


def matched_trade(p: Parties) -> dict[str, Any]:
    return matched(p.buyer, p.seller, trade_body(p.buyer, p.seller, quantity="1", price="10"))


@dataclass(frozen=True)
class Case:
    action: str
    state: str
    method: str
    path: str
    expect: tuple[int, int, int, int]  # ROLES order
    body: dict[str, Any] | None = None


STATES: dict[str, Callable[[Parties], dict[str, Any]]] = {
    "alleged by buyer": alleged_by("buyer"),
    "alleged by seller": alleged_by("seller"),
    "matched": matched_trade,
}

# fmt: off
TABLE = [
    #     action            state                method  path                                   buyer seller operator other
    Case("view",           "matched",           "GET",  "/v1/trades/{id}",                     (200,  200,   200,     404)),
    Case("affirm",         "alleged by seller", "POST", "/v1/trades/{id}/affirm",              (202,  403,   403,     404)),
    Case("affirm",         "alleged by buyer",  "POST", "/v1/trades/{id}/affirm",              (403,  202,   403,     404)),
    Case("affirm",         "matched",           "POST", "/v1/trades/{id}/affirm",              (403,  202,   403,     404)),
    Case("withdraw",       "alleged by buyer",  "POST", "/v1/trades/{id}/withdraw",            (202,  403,   202,     404)),
    Case("withdraw",       "alleged by seller", "POST", "/v1/trades/{id}/withdraw",            (403,  202,   202,     404)),
    Case("withdraw",       "matched",           "POST", "/v1/trades/{id}/withdraw",            (409,  403,   409,     404)),
    Case("confirm",        "matched",           "POST", "/v1/trades/{id}/confirm",             (202,  403,   202,     404)),
    Case("confirm",        "alleged by seller", "POST", "/v1/trades/{id}/confirm",             (409,  403,   409,     404)),
    Case("delivered",      "matched",           "POST", "/v1/trades/{id}/delivered",           (403,  202,   403,     404)),
    Case("delivered",      "alleged by seller", "POST", "/v1/trades/{id}/delivered",           (403,  409,   403,     404)),
    Case("cancel",         "matched",           "POST", "/v1/trades/{id}/cancel",              (202,  202,   202,     404)),
    Case("cancel",         "alleged by buyer",  "POST", "/v1/trades/{id}/cancel",              (409,  409,   409,     404)),
    Case("authorize lock", "alleged by seller", "POST", "/v1/trades/{id}/lock-authorization",  (422,  403,   403,     404), {"signature": BAD_SIGNATURE}),
]
# fmt: on

CASES = [
    pytest.param(case, role, expected, id=f"{case.action} [{case.state}] as {role}")
    for case in TABLE
    for role, expected in zip(ROLES, case.expect, strict=True)
]


@pytest.mark.parametrize(("case", "role", "expected"), CASES)
def test_consent_table(parties: Parties, case: Case, role: str, expected: int) -> None:
    trade = STATES[case.state](parties)
    response = parties.client(role).request(case.method, case.path.format(id=trade["id"]), json=case.body)
    assert response.status_code == expected, response.text
    if expected >= 400:
        code = {403: "forbidden", 404: "not_found", 409: "invalid_transition"}.get(
            expected, "invalid_lock_authorization"
        )
        assert_problem(response, expected, code)


def test_submit_is_for_the_parties_and_the_operator(parties: Parties) -> None:
    p = parties
    for role, expected in (("buyer", 202), ("seller", 202), ("operator", 202), ("other", 403)):
        response = submit(p.client(role), trade_body(p.buyer, p.seller, quantity="1", price="10"))
        assert response.status_code == expected, (role, response.text)
    operator_made = submitted(p.api.client(), trade_body(p.buyer, p.seller, quantity="1", price="10"))
    assert operator_made["status"] == "PENDING" and operator_made["matched_by"] == "operator"


# ---------------------------------------------------------------------------- the three attacks


def test_a_seller_alone_cannot_take_the_buyers_coins(api: SettlementApp, parties: Parties) -> None:
    """Attack 1: the seller submits naming the buyer, then confirms itself. Nothing is locked or paid."""
    p = Parties(api, register(api, "victim"), register(api, "taker"), parties.other)  # balances of their own
    chain = api.service.chain
    buyer_before = chain.balance_of(p.buyer.address)
    trade = submitted(p.seller.http, trade_body(p.buyer, p.seller, quantity="900", price="1000", currency="USD"))
    assert trade["status"] == "UNMATCHED"
    assert_problem(p.seller.http.post(f"/v1/trades/{trade['id']}/confirm"), 403, "forbidden")
    assert_problem(p.seller.http.post(f"/v1/trades/{trade['id']}/affirm"), 403, "forbidden")
    api.service.settle_until_idle()
    assert p.seller.http.get(f"/v1/trades/{trade['id']}").json()["status"] == "UNMATCHED"
    assert chain.get_lock(chain_trade_key(trade["chain_trade_id"])).status.name == "NONE"
    assert chain.balance_of(p.buyer.address) == buyer_before

    # Even once the buyer agrees, only the buyer (or the operator) releases; the seller reports delivery.
    p.buyer.http.post(f"/v1/trades/{trade['id']}/affirm", json={"trade_ref": unique("B")})
    wait_status(p.buyer.http, trade["id"], "LOCKED")
    assert_problem(p.seller.http.post(f"/v1/trades/{trade['id']}/confirm"), 403, "forbidden")
    assert p.seller.http.post(f"/v1/trades/{trade['id']}/delivered").status_code == 202
    api.service.settle_until_idle()
    assert p.buyer.http.get(f"/v1/trades/{trade['id']}").json()["status"] == "LOCKED"  # still not released

    # And the buyer alone cannot pull its coins back from a matched trade either.
    assert p.buyer.http.post(f"/v1/trades/{trade['id']}/cancel").status_code == 202
    api.service.settle_until_idle()
    halfway = p.buyer.http.get(f"/v1/trades/{trade['id']}").json()
    assert halfway["status"] == "LOCKED" and halfway["buyer_cancel_requested"] and not halfway["cancel_requested"]
    assert p.seller.http.post(f"/v1/trades/{trade['id']}/cancel").status_code == 202
    wait_status(p.buyer.http, trade["id"], "REFUNDED")
    assert chain.balance_of(p.buyer.address) == buyer_before


def test_one_economic_trade_is_one_settlement(api: SettlementApp, parties: Parties) -> None:
    """Attack 2: the same body from buyer and seller (same trade_ref) is one trade and one lock."""
    p = parties
    body = trade_body(p.buyer, p.seller, quantity="5", price="20")
    first = submitted(p.buyer.http, body)
    second = submitted(p.seller.http, body)
    assert second["id"] == first["id"] and second["matched_by"] == "instruction"
    assert second["buyer_ref"] == second["seller_ref"] == body["trade_ref"]
    # Any further submission of the same terms and references is refused, by anyone.
    for client in (p.buyer.http, p.seller.http, p.api.client()):
        assert_problem(submit(client, body), 409, "duplicate_trade")
    locked = wait_status(p.buyer.http, first["id"], "LOCKED")
    api.service.settle_until_idle()
    chain = api.service.chain
    logs = chain.escrow.events.Locked().get_logs(
        from_block=chain.manifest.deploy_block,
        argument_filters={"payer": chain.w3.to_checksum_address(p.buyer.address)},
    )
    assert sum(1 for log in logs if "0x" + log["args"]["tradeId"].hex() == locked["chain_trade_id"]) == 1
    mine = p.buyer.http.get("/v1/trades", params={"limit": 200}).json()["items"]
    assert [t["id"] for t in mine if t["instrument"] == body["instrument"]] == [first["id"]]


def test_a_stranger_cannot_lock_under_a_trades_id(api: SettlementApp, parties: Parties, devnet: Devnet) -> None:
    """Attack 3: an outsider locks 1 unit under a trade's id before the agent. It reverts on chain."""
    p = parties
    trade = submitted(p.seller.http, trade_body(p.buyer, p.seller, quantity="4000", price="100", currency="USD"))
    chain = api.service.chain
    attacker = Account.from_key(devnet.manifest.spare_accounts[-1].private_key or "")
    order = LockOrder(
        chain_trade_key(trade["chain_trade_id"]), attacker.address, p.seller.address, 1, chain.latest_timestamp() + 3600
    )
    signature = sign_lock_intent(chain, attacker, order)
    data = HexStr(chain.escrow_calldata.encode("lock", [order.as_tuple(), signature]))
    with pytest.raises(Exception) as caught:
        chain.w3.eth.call({"from": attacker.address, "to": chain.escrow.address, "data": data})
    assert isinstance(api.service.custody.decoder.decode_exception(caught.value), errors.NotAuthorized)


def test_a_lock_with_other_terms_is_never_adopted(api: SettlementApp, parties: Parties, devnet: Devnet) -> None:
    """Attack 3, the engine's side: a lock already under the trade's id (here made by the agent key
    itself, with the buyer's signature of other terms) is compared, refused and reported."""
    p = parties
    service = api.service
    chain = service.chain
    service.stop()  # the worker must not lock first; the race is staged by hand
    try:
        trade = submitted(p.seller.http, trade_body(p.buyer, p.seller, quantity="4000", price="100", currency="USD"))
        buyer_key = next(a.private_key for a in devnet.manifest.brokers if a.address.lower() == p.buyer.address)
        squat = LockOrder(
            chain_trade_key(trade["chain_trade_id"]),
            p.buyer.address,
            p.seller.address,
            1,
            chain.latest_timestamp() + 3600,
        )
        squat = LockOrder(
            *squat.as_tuple(), signature=sign_lock_intent(chain, Account.from_key(buyer_key or ""), squat)
        )
        service.custody.agent.transact(service.cycle.calls.lock_batch([squat]))
        p.buyer.http.post(f"/v1/trades/{trade['id']}/affirm", json={"trade_ref": unique("B")})
        service.settle_until_idle()
    finally:
        service.worker.start()
    failed = p.buyer.http.get(f"/v1/trades/{trade['id']}").json()
    assert failed["status"] == "FAILED" and failed["error_code"] == "lock_mismatch", failed
    assert "amount" in failed["error_detail"] and "deadline" in failed["error_detail"]
    report = p.api.client().get("/v1/reconciliation").json()
    kinds = {b["kind"] for b in report["breaks"] if trade["id"] in b["detail"]}
    assert {"lock_terms", "trade_status"} <= kinds, report["breaks"]


# ---------------------------------------------------------------------------- matching


def test_a_near_match_is_reported_to_both_sides(parties: Parties) -> None:
    p = parties
    body = trade_body(p.buyer, p.seller, quantity="10", price="50")
    buyers = submitted(p.buyer.http, body)
    sellers = submitted(p.seller.http, {**body, "trade_ref": unique("S"), "price": "51"})
    assert sellers["id"] != buyers["id"] and sellers["status"] == "UNMATCHED"
    assert sellers["mismatch"] == {"trade_id": buyers["id"], "fields": ["price"]}
    seen_by_buyer = p.buyer.http.get(f"/v1/trades/{buyers['id']}").json()
    assert seen_by_buyer["mismatch"] == {"trade_id": sellers["id"], "fields": ["price"]}
    assert seen_by_buyer["status"] == "UNMATCHED"


@pytest.fixture(scope="module")
def short_window(devnet: Devnet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SettlementApp]:
    snapshot = devnet.snapshot()
    try:
        with running_app(devnet.manifest, devnet.rpc_url, tmp_path_factory.mktemp("lapse"), match_window_s=1) as app:
            yield app
    finally:
        devnet.revert(snapshot)


def test_an_alleged_trade_nobody_affirms_lapses(short_window: SettlementApp) -> None:
    buyer, seller = register(short_window, "lapse-buyer"), register(short_window, "lapse-seller")
    trade = submitted(buyer.http, trade_body(buyer, seller, quantity="1", price="1"))
    time.sleep(1.2)
    lapsed = wait_status(buyer.http, trade["id"], "LAPSED")
    assert lapsed["error_code"] == "lapsed"
    assert_problem(seller.http.post(f"/v1/trades/{trade['id']}/affirm"), 409, "invalid_transition")
