"""Idempotency-Key on every money-moving POST, over HTTP on the real server and anvil.

The reviewed attack: the same key twice on /issue minted twice (balance +1,554 for two calls of
777). Now the same key and body replays the first response (same status and body, header
`Idempotent-Replayed: true`) and does nothing twice; the same key with another body is 409
idempotency_conflict; a retry while the first is still running is 409 idempotency_in_progress
with Retry-After; an expired key starts a new operation. Without the header, nothing changes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from sqlalchemy import func
from sqlmodel import Session, select

from settlement.ledger.models import FxRate, IdempotentOperation
from settlement.testing.app import SettlementApp, running_app
from settlement.testing.devnet import Devnet
from tests.api.support import Broker, assert_problem, matched, register, trade_body, unique, wait_status

pytestmark = pytest.mark.chain

REPLAYED = "Idempotent-Replayed"
CONCURRENT = 16


def keyed(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


def on_chain(app: SettlementApp, broker: Broker) -> Decimal:
    """The broker's token balance in coins, as the chain says."""
    response = app.client().get(f"/v1/participants/{broker.id}/balances")
    assert response.status_code == 200, response.text
    return Decimal(response.json()["on_chain"])


def assert_replay(first: httpx.Response, again: httpx.Response) -> None:
    assert again.status_code == first.status_code, again.text
    assert again.json() == first.json()
    assert again.headers.get(REPLAYED) == "true"
    assert REPLAYED not in first.headers


def caught_up(app: SettlementApp) -> None:
    """Reconciliation indexes to the head first: the ledger then knows every mint (for allocations)."""
    report = app.client().get("/v1/reconciliation")
    assert report.status_code == 200 and report.json()["balanced"], report.text


# ----------------------------------------------------------------------------- issue


def test_the_same_key_twice_on_issue_mints_once(api: SettlementApp) -> None:
    """The reviewed attack: two calls of 777 with one key are one mint and one tx hash."""
    broker = register(api, "mint-once")
    before = on_chain(api, broker)
    key = unique("mint")
    operator = api.client()
    first = operator.post(f"/v1/participants/{broker.id}/issue", json={"amount": "777"}, headers=keyed(key))
    assert first.status_code == 200, first.text
    again = operator.post(f"/v1/participants/{broker.id}/issue", json={"amount": "777"}, headers=keyed(key))
    assert_replay(first, again)
    assert again.json()["tx_hash"] == first.json()["tx_hash"]
    same_amount = operator.post(f"/v1/participants/{broker.id}/issue", json={"amount": "777.000"}, headers=keyed(key))
    assert_replay(first, same_amount)  # the same request, written differently
    assert on_chain(api, broker) == before + 777

    assert_problem(
        operator.post(f"/v1/participants/{broker.id}/issue", json={"amount": "778"}, headers=keyed(key)),
        409,
        "idempotency_conflict",
    )
    other = register(api, "mint-other")
    other_before = on_chain(api, other)
    assert_problem(
        operator.post(f"/v1/participants/{other.id}/issue", json={"amount": "777"}, headers=keyed(key)),
        409,
        "idempotency_conflict",
    )
    assert on_chain(api, broker) == before + 777
    assert on_chain(api, other) == other_before  # untouched by the refused call


def test_without_the_header_every_call_is_a_new_mint(api: SettlementApp) -> None:
    broker = register(api, "mint-keyless")
    before = on_chain(api, broker)
    hashes = {
        api.client().post(f"/v1/participants/{broker.id}/issue", json={"amount": "1"}).json()["tx_hash"]
        for _ in range(2)
    }
    assert len(hashes) == 2
    assert on_chain(api, broker) == before + 2


def test_a_refused_request_does_not_use_up_its_key(api: SettlementApp) -> None:
    """Nothing happened, so nothing is remembered: the corrected retry runs."""
    broker = register(api, "mint-refused")
    key = unique("mint")
    path = f"/v1/participants/{broker.id}/issue"
    assert_problem(api.client().post(path, json={"amount": "0"}, headers=keyed(key)), 422, "validation")
    assert_problem(broker.http.post(path, json={"amount": "1"}, headers=keyed(key)), 403, "forbidden")
    retried = api.client().post(path, json={"amount": "0"}, headers=keyed(key))
    assert_problem(retried, 422, "validation")
    assert REPLAYED not in retried.headers


def test_keys_are_scoped_per_caller_and_per_operation(api: SettlementApp) -> None:
    first, second = register(api, "scope-a"), register(api, "scope-b")
    caught_up(api)
    key = unique("shared")
    clients = [
        f.http.post(f"/v1/participants/{f.id}/clients", json={"name": unique("fund")}).json() for f in (first, second)
    ]
    for broker, client in zip((first, second), clients, strict=True):
        response = broker.http.post(
            f"/v1/participants/{broker.id}/clients/{client['id']}/allocate", json={"amount": "5"}, headers=keyed(key)
        )
        assert response.status_code == 200 and REPLAYED not in response.headers, response.text
    issued = api.client().post(f"/v1/participants/{first.id}/issue", json={"amount": "5"}, headers=keyed(key))
    assert issued.status_code == 200 and REPLAYED not in issued.headers, issued.text


# ----------------------------------------------------------------------------- allocate, FX


def test_the_same_key_twice_on_allocate_allocates_once(api: SettlementApp) -> None:
    broker = register(api, "alloc-once")
    caught_up(api)
    client = broker.http.post(f"/v1/participants/{broker.id}/clients", json={"name": unique("fund")}).json()
    path = f"/v1/participants/{broker.id}/clients/{client['id']}/allocate"
    key = unique("alloc")
    first = broker.http.post(path, json={"amount": "250.5"}, headers=keyed(key))
    assert first.status_code == 200, first.text
    assert_replay(first, broker.http.post(path, json={"amount": "250.5"}, headers=keyed(key)))
    assert_problem(broker.http.post(path, json={"amount": "250.6"}, headers=keyed(key)), 409, "idempotency_conflict")
    balances = broker.http.get(f"/v1/participants/{broker.id}/balances").json()
    assert balances["clients"][0]["balance"] == "250.5"


def test_the_same_key_twice_on_fx_rates_records_one_rate(api: SettlementApp) -> None:
    def recorded() -> int:
        with Session(api.service.db) as session:
            return int(session.exec(select(func.count()).select_from(FxRate).where(FxRate.currency == "SGD")).one())

    current = next(r for r in api.client().get("/v1/fx-rates").json() if r["currency"] == "SGD")
    body = {"currency": "SGD", "rate_to_usd": current["rate_to_usd"]}
    key = unique("fx")
    before = recorded()
    first = api.client().post("/v1/fx-rates", json=body, headers=keyed(key))
    assert first.status_code == 201, first.text
    assert_replay(first, api.client().post("/v1/fx-rates", json=body, headers=keyed(key)))
    assert recorded() == before + 1
    assert_problem(
        api.client().post("/v1/fx-rates", json={**body, "force": True}, headers=keyed(key)), 409, "idempotency_conflict"
    )


# ----------------------------------------------------------------------------- trade instructions


def test_the_same_key_twice_on_affirm_confirm_and_cancel_replays_the_first_answer(
    api: SettlementApp, buyer: Broker, seller: Broker
) -> None:
    """The replay is the first response as it was, even after the trade moved on: proof that the
    request was not run again."""
    alleged = buyer.http.post("/v1/trades", json=trade_body(buyer, seller), headers=keyed(unique("t"))).json()
    key = unique("affirm")
    affirm = f"/v1/trades/{alleged['id']}/affirm"
    affirmed = seller.http.post(affirm, json={"trade_ref": "SG-1"}, headers=keyed(key))
    assert affirmed.status_code == 202 and affirmed.json()["status"] == "PENDING", affirmed.text
    assert_problem(
        seller.http.post(affirm, json={"trade_ref": "SG-2"}, headers=keyed(key)), 409, "idempotency_conflict"
    )

    wait_status(buyer.http, alleged["id"], "LOCKED")
    assert_replay(affirmed, seller.http.post(affirm, json={"trade_ref": "SG-1"}, headers=keyed(key)))

    confirm = f"/v1/trades/{alleged['id']}/confirm"
    confirmed = buyer.http.post(confirm, headers=keyed(key))  # the same key, another operation
    assert confirmed.status_code == 202 and confirmed.json()["release_requested"] is True, confirmed.text
    released = wait_status(buyer.http, alleged["id"], "RELEASED")
    again = buyer.http.post(confirm, headers=keyed(key))
    assert_replay(confirmed, again)
    assert again.json()["status"] == "LOCKED"  # as first answered; the trade itself is RELEASED now
    steps = buyer.http.get(f"/v1/trades/{alleged['id']}/transitions").json()
    assert [s["to_status"] for s in steps] == ["UNMATCHED", "PENDING", "LOCKED", "RELEASED"]
    assert released["release_tx_hash"]

    refunded = matched(buyer, seller, trade_body(buyer, seller))
    wait_status(buyer.http, refunded["id"], "LOCKED")
    cancel = f"/v1/trades/{refunded['id']}/cancel"
    first_side = buyer.http.post(cancel, headers=keyed(key))
    assert first_side.status_code == 202 and first_side.json()["buyer_cancel_requested"] is True, first_side.text
    assert_replay(first_side, buyer.http.post(cancel, headers=keyed(key)))
    assert seller.http.post(cancel, headers=keyed(key)).status_code == 202  # the seller's own key space
    wait_status(buyer.http, refunded["id"], "REFUNDED")
    assert_replay(first_side, buyer.http.post(cancel, headers=keyed(key)))


def test_withdraw_and_delivered_honour_the_key_too(api: SettlementApp, buyer: Broker, seller: Broker) -> None:
    alleged = buyer.http.post("/v1/trades", json=trade_body(buyer, seller), headers=keyed(unique("t"))).json()
    key = unique("withdraw")
    withdrawn = buyer.http.post(f"/v1/trades/{alleged['id']}/withdraw", headers=keyed(key))
    assert withdrawn.status_code == 202 and withdrawn.json()["status"] == "WITHDRAWN", withdrawn.text
    assert_replay(withdrawn, buyer.http.post(f"/v1/trades/{alleged['id']}/withdraw", headers=keyed(key)))

    trade = matched(buyer, seller, trade_body(buyer, seller))
    delivered = seller.http.post(f"/v1/trades/{trade['id']}/delivered", headers=keyed(key))
    assert delivered.status_code == 202, delivered.text
    assert_replay(delivered, seller.http.post(f"/v1/trades/{trade['id']}/delivered", headers=keyed(key)))


def test_lock_authorization_honours_the_key_too(api: SettlementApp, buyer: Broker, seller: Broker) -> None:
    """The buyer signs the typed data it is shown, as a wallet would, and posts it twice."""
    alleged = buyer.http.post("/v1/trades", json=trade_body(buyer, seller), headers=keyed(unique("t"))).json()
    typed_data = buyer.http.get(f"/v1/trades/{alleged['id']}/lock-intent").json()
    keys = {a.address.lower(): a.private_key for a in api.service.chain.manifest.brokers}
    signed = Account.sign_message(encode_typed_data(full_message=typed_data), keys[buyer.address])
    body = {"signature": "0x" + bytes(signed.signature).hex()}
    key = unique("sig")
    path = f"/v1/trades/{alleged['id']}/lock-authorization"
    first = buyer.http.post(path, json=body, headers=keyed(key))
    assert first.status_code == 202 and first.json()["lock_authorized"] is True, first.text
    assert_replay(first, buyer.http.post(path, json=body, headers=keyed(key)))


# ----------------------------------------------------------------------------- concurrency, both databases


@pytest.fixture
def app_on_each_database(devnet: Devnet, db_url: str, tmp_path: Path) -> Iterator[SettlementApp]:
    snapshot = devnet.snapshot()
    try:
        with running_app(devnet.manifest, devnet.rpc_url, tmp_path, database_url=db_url) as app:
            yield app
    finally:
        devnet.revert(snapshot)


def concurrently(call: Callable[[httpx.Client], httpx.Response], clients: list[httpx.Client]) -> list[httpx.Response]:
    with ThreadPoolExecutor(len(clients)) as pool:
        return list(pool.map(call, clients))


def test_concurrent_retries_of_one_mint_mint_once(app_on_each_database: SettlementApp) -> None:
    api = app_on_each_database
    broker = register(api, "mint-race")
    before = on_chain(api, broker)
    key = unique("race")

    def mint(client: httpx.Client) -> httpx.Response:
        return client.post(f"/v1/participants/{broker.id}/issue", json={"amount": "777"}, headers=keyed(key))

    responses = concurrently(mint, [api.client() for _ in range(CONCURRENT)])
    done = [r for r in responses if r.status_code == 200]
    busy = [r for r in responses if r.status_code != 200]
    assert done, [r.text for r in responses]
    assert len({r.json()["tx_hash"] for r in done}) == 1
    assert sum(REPLAYED not in r.headers for r in done) == 1  # the one that minted
    for response in busy:
        assert_problem(response, 409, "idempotency_in_progress")
        assert int(response.headers["Retry-After"]) >= 1
    assert on_chain(api, broker) == before + 777
    assert mint(api.client()).json() == done[0].json()  # and once it is over, every retry replays


def test_concurrent_retries_of_one_allocation_allocate_once(app_on_each_database: SettlementApp) -> None:
    api = app_on_each_database
    broker = register(api, "alloc-race")
    caught_up(api)
    client = broker.http.post(f"/v1/participants/{broker.id}/clients", json={"name": unique("fund")}).json()
    key = unique("race")

    def allocate(http: httpx.Client) -> httpx.Response:
        path = f"/v1/participants/{broker.id}/clients/{client['id']}/allocate"
        return http.post(path, json={"amount": "3"}, headers=keyed(key))

    responses = concurrently(allocate, [api.client(broker.api_key) for _ in range(CONCURRENT)])
    assert {r.status_code for r in responses} <= {200, 409}, [r.text for r in responses]
    assert any(r.status_code == 200 for r in responses)
    balances = broker.http.get(f"/v1/participants/{broker.id}/balances").json()
    assert balances["clients"][0]["balance"] == "3"


# ----------------------------------------------------------------------------- in progress, unknown outcome, expiry


@pytest.fixture
def slow_chain_app(devnet: Devnet, tmp_path: Path) -> Iterator[SettlementApp]:
    """Receipts are awaited for one second only, so a mint that is not mined yet has an unknown outcome."""
    snapshot = devnet.snapshot()
    try:
        with running_app(devnet.manifest, devnet.rpc_url, tmp_path, receipt_timeout_s=1.0) as app:
            yield app
    finally:
        devnet.revert(snapshot)


def _automine(app: SettlementApp, on: bool) -> None:
    provider = app.service.chain.w3.provider
    provider.make_request("evm_setAutomine", [on])  # type: ignore[arg-type]
    if on:
        provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def test_a_retry_while_the_mint_is_pending_is_409_and_a_mint_not_mined_yet_answers_its_hash(
    slow_chain_app: SettlementApp,
) -> None:
    """While the first call waits for its receipt, a retry is told to come back later; when the
    wait gives up, the mint is signed and journaled, so its tx hash is the answer (a 503 would
    invite a second mint), every retry replays it, and the sender sees the mint through once."""
    api = slow_chain_app
    broker = register(api, "mint-pending")
    before = on_chain(api, broker)
    key = unique("pending")
    path = f"/v1/participants/{broker.id}/issue"
    first: list[httpx.Response] = []
    _automine(api, False)
    try:
        waiting = threading.Thread(
            target=lambda: first.append(api.client().post(path, json={"amount": "777"}, headers=keyed(key)))
        )
        waiting.start()
        deadline = time.monotonic() + 10
        while not _in_progress(api, key):
            assert time.monotonic() < deadline, "the first request never claimed its key"
            time.sleep(0.02)
        retry = api.client().post(path, json={"amount": "777"}, headers=keyed(key))
        assert_problem(retry, 409, "idempotency_in_progress")
        assert retry.headers["Retry-After"] == "1"
        waiting.join()
        assert first[0].status_code == 200, first[0].text  # no receipt within a second: still the mint's hash
        assert on_chain(api, broker) == before  # not mined yet
        replay = api.client().post(path, json={"amount": "777"}, headers=keyed(key))
        assert replay.status_code == 200 and replay.headers[REPLAYED] == "true"
        assert replay.json() == first[0].json()
    finally:
        _automine(api, True)
    deadline = time.monotonic() + 10
    while on_chain(api, broker) != before + 777:
        assert time.monotonic() < deadline, "the mint never landed"
        time.sleep(0.05)
    assert api.client().post(path, json={"amount": "777"}, headers=keyed(key)).json() == first[0].json()
    assert on_chain(api, broker) == before + 777


def _in_progress(app: SettlementApp, key: str) -> bool:
    with Session(app.service.db) as session:
        row = session.exec(select(IdempotentOperation).where(IdempotentOperation.key == key)).first()
    return row is not None and row.status == "in_progress"


@pytest.fixture
def short_ttl_app(devnet: Devnet, tmp_path: Path) -> Iterator[SettlementApp]:
    snapshot = devnet.snapshot()
    try:
        with running_app(devnet.manifest, devnet.rpc_url, tmp_path, idempotency_key_ttl_s=1) as app:
            yield app
    finally:
        devnet.revert(snapshot)


def test_an_expired_key_is_a_new_operation_and_expired_rows_are_purged(short_ttl_app: SettlementApp) -> None:
    api = short_ttl_app
    broker = register(api, "mint-expiry")
    before = on_chain(api, broker)
    key = unique("expiry")
    path = f"/v1/participants/{broker.id}/issue"
    first = api.client().post(path, json={"amount": "777"}, headers=keyed(key))
    assert first.status_code == 200, first.text
    time.sleep(1.2)
    again = api.client().post(path, json={"amount": "777"}, headers=keyed(key))
    assert again.status_code == 200 and REPLAYED not in again.headers, again.text
    assert again.json()["tx_hash"] != first.json()["tx_hash"]
    assert on_chain(api, broker) == before + 2 * 777
    other_body = api.client().post(path, json={"amount": "1"}, headers=keyed(unique("other")))
    assert other_body.status_code == 200

    time.sleep(1.2)
    api.client().post(path, json={"amount": "1"}, headers=keyed(unique("purger")))  # purges on its way in
    with Session(api.service.db) as session:
        keys: list[Any] = list(session.exec(select(IdempotentOperation.key)))
    assert key not in keys and len(keys) == 1
