"""Every endpoint x {no key, wrong key, broker not party, broker party, operator}, over HTTP.

One row per endpoint; the five expected statuses are in ROLES order. "party" is the broker the
resource belongs to (the participant in the path, or the trade's buyer or seller as the row says).
Consent (who may affirm, withdraw, confirm, cancel) has its own table in test_consent.py.
A broker asking for another broker's trade gets 404, as if it did not exist; an operator-only
call made with a broker key is 403; a missing or unknown key is 401.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from settlement.testing.app import SettlementApp
from tests.api.support import Broker, assert_problem, submitted, trade_body, unique

ROLES = ("no_key", "wrong_key", "outsider", "party", "operator")


@dataclass
class Ctx:
    app: SettlementApp
    buyer: Broker
    seller: Broker
    outsider: Broker
    client_id: str
    trade_id: str

    def fresh_trade(self) -> str:
        """A new trade between buyer and seller, for calls that change its state."""
        return str(submitted(self.app.client(), trade_body(self.buyer, self.seller))["id"])


Body = Callable[[Ctx], dict[str, Any]]


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    party: str
    expect: tuple[int, int, int, int, int]
    body: Body | None = None


def new_participant(_: Ctx) -> dict[str, Any]:
    return {"name": unique("matrix"), "jurisdiction": "HK"}


def new_client(_: Ctx) -> dict[str, Any]:
    return {"name": unique("client")}


def new_trade(ctx: Ctx) -> dict[str, Any]:
    return trade_body(ctx.buyer, ctx.seller, quantity="1", price="10")


def one_coin(_: Ctx) -> dict[str, Any]:
    return {"amount": "1"}


def one_deposited_coin(ctx: Ctx) -> dict[str, Any]:
    """A withdrawal needs a balance to take from: the deposit row may have run on another worker."""
    deposit = ctx.app.client().post(f"/v1/participants/{ctx.buyer.id}/settlement-balance/deposit", json={"amount": "1"})
    assert deposit.status_code == 200, deposit.text
    return one_coin(ctx)


def five_coin_cap(_: Ctx) -> dict[str, Any]:
    return {"cap": "5"}


def fx_rate(_: Ctx) -> dict[str, Any]:
    return {"currency": "USD", "rate_to_usd": "1"}


# fmt: off
ROWS = [
    #    method  path                                                    party     no key wrong  outsider party operator
    Row("GET",  "/v1/health",                                            "buyer",  (200,   200,   200,     200,  200)),
    Row("POST", "/v1/participants",                                      "buyer",  (401,   401,   403,     403,  201), new_participant),
    Row("GET",  "/v1/participants",                                      "buyer",  (401,   401,   200,     200,  200)),
    Row("GET",  "/v1/participants/{buyer}",                              "buyer",  (401,   401,   200,     200,  200)),
    Row("POST", "/v1/participants/{buyer}/issue",                        "buyer",  (401,   401,   403,     403,  200), one_coin),
    Row("GET",  "/v1/participants/{buyer}/balances",                     "buyer",  (401,   401,   403,     200,  200)),
    Row("POST", "/v1/participants/{buyer}/clients",                      "buyer",  (401,   401,   403,     201,  201), new_client),
    Row("GET",  "/v1/participants/{buyer}/clients",                      "buyer",  (401,   401,   403,     200,  200)),
    Row("POST", "/v1/participants/{buyer}/clients/{client}/allocate",    "buyer",  (401,   401,   403,     200,  200), one_coin),
    Row("POST", "/v1/participants/{buyer}/settlement-balance/deposit",   "buyer",  (401,   401,   403,     200,  200), one_coin),
    Row("POST", "/v1/participants/{buyer}/settlement-balance/withdraw",  "buyer",  (401,   401,   403,     200,  200), one_deposited_coin),
    Row("GET",  "/v1/participants/{buyer}/settlement-balance",           "buyer",  (401,   401,   403,     200,  200)),
    Row("PUT",  "/v1/participants/{buyer}/net-debit-cap",                "buyer",  (401,   401,   403,     403,  200), five_coin_cap),
    Row("POST", "/v1/fx-rates",                                          "buyer",  (401,   401,   403,     403,  201), fx_rate),
    Row("GET",  "/v1/fx-rates",                                          "buyer",  (401,   401,   200,     200,  200)),
    Row("POST", "/v1/trades",                                            "buyer",  (401,   401,   403,     202,  202), new_trade),
    Row("GET",  "/v1/trades",                                            "buyer",  (401,   401,   200,     200,  200)),
    Row("GET",  "/v1/trades/{trade}",                                    "buyer",  (401,   401,   404,     200,  200)),
    Row("GET",  "/v1/trades/{trade}/transitions",                        "buyer",  (401,   401,   404,     200,  200)),
    Row("POST", "/v1/trades/{fresh}/confirm",                            "buyer",  (401,   401,   404,     202,  202)),
    Row("POST", "/v1/trades/{fresh}/confirm",                            "seller", (401,   401,   404,     403,  202)),
    Row("POST", "/v1/trades/{fresh}/delivered",                          "seller", (401,   401,   404,     202,  403)),
    Row("GET",  "/v1/trades/{trade}/lock-intent",                        "buyer",  (401,   401,   404,     200,  200)),
    Row("POST", "/v1/trades/{fresh}/cancel",                             "buyer",  (401,   401,   404,     202,  202)),
    Row("POST", "/v1/trades/{fresh}/cancel",                             "seller", (401,   401,   404,     202,  202)),
    Row("GET",  "/v1/ledger/entries",                                    "buyer",  (401,   401,   200,     200,  200)),
    Row("GET",  "/v1/ledger/entries?account=wallet:{buyer_address}",    "buyer",  (401,   401,   403,     200,  200)),
    Row("GET",  "/v1/ledger/entries?account=client:{client}",            "buyer",  (401,   401,   403,     200,  200)),
    Row("GET",  "/v1/reconciliation",                                    "buyer",  (401,   401,   403,     403,  200)),
    Row("GET",  "/v1/audit/verify",                                      "buyer",  (401,   401,   403,     403,  200)),
    Row("GET",  "/v1/events",                                            "buyer",  (401,   401,   200,     200,  200)),
]
# fmt: on

CASES = [
    pytest.param(row, role, expected, id=f"{row.method} {row.path} [{row.party}] as {role}")
    for row in ROWS
    for role, expected in zip(ROLES, row.expect, strict=True)
]
CODES = {401: "unauthenticated", 403: "forbidden", 404: "not_found"}


@pytest.fixture(scope="module")
def ctx(api: SettlementApp, buyer: Broker, seller: Broker, outsider: Broker) -> Ctx:
    client = buyer.http.post(f"/v1/participants/{buyer.id}/clients", json={"name": unique("fund")}).json()
    # Allocation moves mirrored coins: wait until the indexer has the deployment's funding.
    deadline = time.monotonic() + 30
    while (b := buyer.http.get(f"/v1/participants/{buyer.id}/balances").json())["ledger"] != b["on_chain"]:
        assert time.monotonic() < deadline, b
        time.sleep(0.05)
    trade = submitted(buyer.http, trade_body(buyer, seller))
    return Ctx(api, buyer, seller, outsider, client["id"], trade["id"])


def caller(ctx: Ctx, role: str, party: str) -> httpx.Client:
    if role == "no_key":
        return ctx.app.client(anonymous=True)
    if role == "wrong_key":
        return ctx.app.client("sk_not-a-key-anyone-was-given")
    if role == "outsider":
        return ctx.outsider.http
    if role == "party":
        return ctx.buyer.http if party == "buyer" else ctx.seller.http
    return ctx.app.client()


@pytest.mark.chain
@pytest.mark.parametrize(("row", "role", "expected"), CASES)
def test_auth_matrix(ctx: Ctx, row: Row, role: str, expected: int) -> None:
    path = row.path.format(
        buyer=ctx.buyer.id,
        buyer_address=ctx.buyer.address,
        client=ctx.client_id,
        trade=ctx.trade_id,
        fresh=ctx.fresh_trade() if "{fresh}" in row.path else "",
    )
    http = caller(ctx, role, row.party)
    body = row.body(ctx) if row.body else None
    headers = {"Idempotency-Key": unique("key")} if row.path == "/v1/trades" and row.method == "POST" else {}
    with http.stream(row.method, path, json=body, headers=headers) as response:
        status = response.status_code
        if status >= 400:
            response.read()
    assert status == expected, response.text if status >= 400 else status
    if status in CODES:
        assert_problem(response, status, CODES[status])
    if status == 401:
        assert response.headers.get("www-authenticate") == "Bearer"


@pytest.mark.chain
def test_outsider_lists_none_of_the_parties_trades(ctx: Ctx) -> None:
    listed = ctx.outsider.http.get("/v1/trades", params={"limit": 200}).json()["items"]
    assert all(ctx.outsider.id in (t["buyer_id"], t["seller_id"]) for t in listed)
    assert ctx.trade_id not in {t["id"] for t in listed}
    mine = ctx.buyer.http.get("/v1/trades", params={"limit": 200}).json()["items"]
    assert ctx.trade_id in {t["id"] for t in mine}
