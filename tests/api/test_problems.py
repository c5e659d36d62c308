"""Bad input: RFC 9457 problems with stable codes, and nothing sent to the chain or the ledger.

Covers each case of the engine issue's "Bad input" list, over HTTP, plus the schema-level
rejections (missing Idempotency-Key, numbers instead of decimal strings, malformed JSON, ...).
Before and after each rejected call the test reads the chain height, the settlement agent's
nonce, the journal head and the trade and sent-transaction counts: all must be unchanged.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from eth_account import Account
from sqlalchemy import func
from sqlmodel import Session, select

from settlement.chain.sender import Call
from settlement.ledger.models import SentTransaction, Trade
from settlement.testing.app import SettlementApp
from tests.api.support import Broker, assert_problem, issue, register, submit, trade_body, unique

pytestmark = pytest.mark.chain


@dataclass(frozen=True)
class Quiet:
    block: int
    agent_nonce: int
    journal_head: tuple[int, str]
    trades: int
    sent: int


def quiet_state(app: SettlementApp) -> Quiet:
    service = app.service
    with Session(service.db) as session:
        trades = session.exec(select(func.count()).select_from(Trade)).one()
        sent = session.exec(select(func.count()).select_from(SentTransaction)).one()
    return Quiet(
        block=service.chain.block_number(),
        agent_nonce=service.chain.w3.eth.get_transaction_count(service.custody.agent.address),
        journal_head=service.journal.head(),
        trades=int(trades),
        sent=int(sent),
    )


@contextlib.contextmanager
def nothing_happens(app: SettlementApp) -> Iterator[None]:
    before = quiet_state(app)
    yield
    assert quiet_state(app) == before


def token_call(app: SettlementApp, fn: str, *args: Any) -> None:
    """An issuer-only token call, through the service's own issuer sender (so nonces agree)."""
    chain = app.service.chain
    issuer = app.service.custody.issuer
    assert issuer is not None
    issuer.transact(Call(str(chain.token.address), chain.token.encode_abi(fn, list(args)), f"test {fn}"))


@pytest.fixture(scope="module")
def idle(api: SettlementApp, buyer: Broker, seller: Broker) -> SettlementApp:
    """Parties exist and the indexer has caught up, so the worker has nothing left to do."""
    api.client().get("/v1/reconciliation")
    return api


Overrides = Callable[[Broker, Broker], dict[str, Any]]

# fmt: off
TRADE_CASES: list[tuple[str, Overrides, int, str]] = [
    ("unknown participant",     lambda b, s: {"seller_id": str(uuid.uuid4())},                         422, "unknown_participant"),
    ("buyer is seller",         lambda b, s: {"seller_id": b.id},                                      422, "same_party"),
    ("zero quantity",           lambda b, s: {"quantity": "0"},                                        422, "non_positive_value"),
    ("negative price",          lambda b, s: {"price": "-5"},                                          422, "non_positive_value"),
    ("rounds to zero",          lambda b, s: {"quantity": "0.000001", "price": "0.000001", "currency": "USD"}, 422, "zero_settlement_amount"),
    ("absurd magnitude",        lambda b, s: {"quantity": "1" + "0" * 29, "price": "1000"},            422, "amount_too_large"),
    ("beyond per-trade limit",  lambda b, s: {"quantity": "1000000000000", "price": "2", "currency": "USD"}, 422, "amount_too_large"),
    ("unknown currency",        lambda b, s: {"currency": "XYZ"},                                      422, "unknown_currency"),
    ("no FX rate recorded",     lambda b, s: {"currency": "EUR"},                                      422, "missing_fx_rate"),
    ("deadline in the past",    lambda b, s: {"deadline": (datetime.now(UTC) - timedelta(hours=1)).isoformat()}, 422, "deadline_in_past"),
    ("unknown buyer client",    lambda b, s: {"buyer_client_id": str(uuid.uuid4())},                   422, "unknown_client_account"),
    ("more than the balance",   lambda b, s: {"quantity": "1000000", "price": "100", "currency": "USD"}, 422, "insufficient_funds"),
    ("missing field",           lambda b, s: {"instrument": None},                                     422, "validation"),
    ("number, not a string",    lambda b, s: {"quantity": 100},                                        422, "validation"),
    ("exponent notation",       lambda b, s: {"price": "1e5"},                                         422, "validation"),
    ("currency not 3 letters",  lambda b, s: {"currency": "HKDX"},                                     422, "validation"),
    ("naive deadline",          lambda b, s: {"deadline": "2030-01-01T00:00:00"},                      422, "validation"),
    ("unknown field",           lambda b, s: {"fee": "1"},                                             422, "validation"),
    ("empty trade_ref",         lambda b, s: {"trade_ref": ""},                                        422, "validation"),
    ("NUL in instrument",       lambda b, s: {"instrument": "07\x0000.HK"},                            422, "validation"),
    ("id with junk",            lambda b, s: {"seller_id": "'; drop table trade; --"},                 422, "validation"),
]
# fmt: on


@pytest.mark.parametrize(("overrides", "status", "code"), [pytest.param(*c[1:], id=c[0]) for c in TRADE_CASES])
def test_bad_trade_is_rejected_before_chain_and_ledger(
    idle: SettlementApp, buyer: Broker, seller: Broker, overrides: Overrides, status: int, code: str
) -> None:
    body = {k: v for k, v in trade_body(buyer, seller, **overrides(buyer, seller)).items() if v is not None}
    with nothing_happens(idle):
        problem = assert_problem(submit(buyer.http, body), status, code)
    if code == "validation":
        assert problem["errors"], problem


def test_missing_idempotency_key(idle: SettlementApp, buyer: Broker, seller: Broker) -> None:
    with nothing_happens(idle):
        response = buyer.http.post("/v1/trades", json=trade_body(buyer, seller))
    problem = assert_problem(response, 422, "validation")
    assert ["header", "Idempotency-Key"] in [e["loc"] for e in problem["errors"]]


def test_malformed_json(idle: SettlementApp, buyer: Broker) -> None:
    with nothing_happens(idle):
        response = buyer.http.post(
            "/v1/trades",
            content=b'{"trade_ref": "x",',
            headers={"Idempotency-Key": unique("k"), "Content-Type": "application/json"},
        )
    assert_problem(response, 422, "validation")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_json_body_with_another_content_type_is_415(
    idle: SettlementApp, buyer: Broker, seller: Broker, content_type: str | None
) -> None:
    """Valid JSON, wrong (or no) media type: the client's content type is the problem, not the body."""
    headers = {"Idempotency-Key": unique("k")} | ({"Content-Type": content_type} if content_type else {})
    body = httpx.Request("POST", "/", json=trade_body(buyer, seller)).read()
    with nothing_happens(idle):
        response = buyer.http.post("/v1/trades", content=body, headers=headers)
    assert_problem(response, 415, "unsupported_media_type")
    assert response.headers.get("content-type", "").startswith("application/problem+json")
    # Also for the operator's JSON POSTs, and a JSON subtype is still JSON.
    fx = httpx.Request("POST", "/", json={"currency": "USD", "rate_to_usd": "1"}).read()
    assert_problem(
        idle.client().post("/v1/fx-rates", content=fx, headers={"Content-Type": "text/plain"}),
        415,
        "unsupported_media_type",
    )
    assert (
        idle.client().post("/v1/fx-rates", content=fx, headers={"Content-Type": "application/merge+json"}).status_code
        == 201
    )


def test_blacklisted_party(idle: SettlementApp, buyer: Broker, seller: Broker) -> None:
    token_call(idle, "addBlackList", idle.service.chain.w3.to_checksum_address(seller.address))
    try:
        with nothing_happens(idle):
            assert_problem(submit(buyer.http, trade_body(buyer, seller)), 422, "blacklisted")
    finally:
        token_call(idle, "removeBlackList", idle.service.chain.w3.to_checksum_address(seller.address))


def test_paused_token(idle: SettlementApp, buyer: Broker, seller: Broker) -> None:
    token_call(idle, "pause")
    try:
        with nothing_happens(idle):
            assert_problem(submit(buyer.http, trade_body(buyer, seller)), 409, "paused")
    finally:
        token_call(idle, "unpause")


def test_payer_without_balance(idle: SettlementApp, seller: Broker) -> None:
    """A broker whose wallet (not a devnet key) holds nothing."""
    poor = register(idle, "poor", address=Account.create().address)
    with nothing_happens(idle):
        assert_problem(submit(poor.http, trade_body(poor, seller)), 422, "insufficient_funds")


def test_payer_without_allowance(idle: SettlementApp, seller: Broker) -> None:
    """Non-custodial broker with coins but no approval of the escrow and no permit."""
    self_custody = register(idle, "self-custody", address=Account.create().address)
    issue(idle, self_custody, "100000")
    idle.client().get("/v1/reconciliation")  # let the indexer take the mint before measuring
    with nothing_happens(idle):
        assert_problem(submit(self_custody.http, trade_body(self_custody, seller)), 422, "insufficient_allowance")


def test_client_of_another_broker(idle: SettlementApp, buyer: Broker, seller: Broker) -> None:
    other_client = seller.http.post(f"/v1/participants/{seller.id}/clients", json={"name": unique("c")}).json()
    with nothing_happens(idle):
        response = submit(buyer.http, trade_body(buyer, seller, buyer_client_id=other_client["id"]))
    assert_problem(response, 422, "unknown_client_account")


# --------------------------------------------------------------------------- other endpoints

# fmt: off
OTHER_CASES: list[tuple[str, str, str, Any, int, str]] = [
    ("jurisdiction of 3 letters", "POST", "/v1/participants",                   {"name": "x", "jurisdiction": "HKG"},   422, "validation"),
    ("address not hex",           "POST", "/v1/participants",                   {"name": "x", "jurisdiction": "HK", "address": "0xzz"}, 422, "validation"),
    ("issue 7 decimals",          "POST", "/v1/participants/{buyer}/issue",     {"amount": "1.0000001"},               422, "validation"),
    ("issue zero",                "POST", "/v1/participants/{buyer}/issue",     {"amount": "0"},                       422, "validation"),
    ("issue to nobody",           "POST", "/v1/participants/{nobody}/issue",    {"amount": "1"},                       404, "not_found"),
    ("FX rate zero",              "POST", "/v1/fx-rates",                       {"currency": "HKD", "rate_to_usd": "0"}, 422, "non_positive_value"),
    ("FX unknown currency",       "POST", "/v1/fx-rates",                       {"currency": "XYZ", "rate_to_usd": "1"}, 422, "unknown_currency"),
    ("allocate beyond balance",   "POST", "/v1/participants/{buyer}/clients/{client}/allocate", {"amount": "999999999"}, 422, "insufficient_funds"),
    ("allocate to a stranger",    "POST", "/v1/participants/{buyer}/clients/{nobody}/allocate", {"amount": "1"},     404, "not_found"),
    ("bad cursor",                "GET",  "/v1/trades?cursor=not-a-cursor",     None,                                  422, "validation"),
    ("limit zero",                "GET",  "/v1/trades?limit=0",                 None,                                  422, "validation"),
    ("unknown status",            "GET",  "/v1/trades?status=SETTLING",         None,                                  422, "validation"),
    ("trade id with junk",        "GET",  "/v1/trades/a%00b",                   None,                                  422, "validation"),
    ("unknown trade",             "GET",  "/v1/trades/{nobody}",                None,                                  404, "not_found"),
    ("unknown route",             "GET",  "/v1/nowhere",                        None,                                  404, "not_found"),
    ("wrong method",              "DELETE", "/v1/trades",                       None,                                  405, "method_not_allowed"),
    ("ledger account pattern",    "GET",  "/v1/ledger/entries?account=;select", None,                                  422, "validation"),
    ("ledger cursor",             "GET",  "/v1/ledger/entries?cursor=abc",      None,                                  422, "validation"),
]
# fmt: on


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"), [pytest.param(*c[1:], id=c[0]) for c in OTHER_CASES]
)
def test_bad_input_elsewhere(
    idle: SettlementApp, buyer: Broker, method: str, path: str, body: Any, status: int, code: str
) -> None:
    client = buyer.http.post(f"/v1/participants/{buyer.id}/clients", json={"name": unique("c")}).json()
    path = path.format(buyer=buyer.id, client=client["id"], nobody=str(uuid.uuid4()))
    with nothing_happens(idle):
        response = idle.client().request(method, path, json=body)
    assert_problem(response, status, code)


def test_oversized_body_is_413(idle: SettlementApp, buyer: Broker, seller: Broker) -> None:
    limit = idle.service.settings.body_max_bytes
    body = trade_body(buyer, seller, instrument="x" * 64)
    padded = httpx.Request("POST", "/", json={**body, "pad": "y" * limit}).read()
    with nothing_happens(idle):
        response = buyer.http.post(
            "/v1/trades", content=padded, headers={"Idempotency-Key": unique("k"), "Content-Type": "application/json"}
        )
    assert_problem(response, 413, "payload_too_large")


def test_oversized_chunked_body_is_413(idle: SettlementApp, buyer: Broker) -> None:
    """No Content-Length: the limit is enforced while the body streams in."""
    limit = idle.service.settings.body_max_bytes

    def chunks() -> Iterator[bytes]:
        yield b'{"trade_ref": "'
        for _ in range(limit // 1024 + 2):
            yield b"z" * 1024
        yield b'"}'

    with nothing_happens(idle):
        response = buyer.http.post(
            "/v1/trades", content=chunks(), headers={"Idempotency-Key": unique("k"), "Content-Type": "application/json"}
        )
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "payload_too_large")
