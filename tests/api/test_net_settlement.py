"""Net mode over HTTP on the real app and anvil: trades settle in windows, one SettlementNet
transaction a window; the liquidity-cover check; a defaulting participant; the window-close race;
the trade proof checked against the chain; the batch endpoint; reconcile and verify after it all."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any, cast

import httpx
import pytest
from sqlmodel import Session, col, select
from web3 import Web3

from settlement.chain.merkle import TradeProof
from settlement.chain.net_settlement import check_trade_proof
from settlement.domain.journal import OBLIGATION_PREFIX, EntryKind
from settlement.ledger.models import JournalEntry, Posting
from settlement.testing.app import SettlementApp, running_app
from settlement.testing.chain_control import ChainControl
from settlement.testing.devnet import Devnet
from settlement.testing.rpc_gate import RpcGate
from tests.api.support import Broker, assert_problem, issue, register, submit, trade_body, unique, wait_for
from tests.conftest import fresh_database

pytestmark = pytest.mark.chain
WAIT_S = 30.0


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api(
    devnet: Devnet, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[SettlementApp]:
    """The same tests on each backend (the close race is decided by row locks on PostgreSQL).
    Windows close only when the operator says so (a long timer), so each test owns its window."""
    if request.param == "postgresql" and not request.getfixturevalue("postgres_available"):
        pytest.skip("PostgreSQL leg skipped: no server reachable (set SETTLEMENT_TEST_POSTGRES_URL)")
    data_dir = tmp_path_factory.mktemp("net")
    snapshot = devnet.snapshot()
    try:
        with (
            fresh_database(request.param, data_dir, "net") as database_url,
            running_app(
                devnet.manifest,
                devnet.rpc_url,
                data_dir,
                database_url=database_url,
                keepalive_s=0.5,
                window_length_s=3_600,
                sweep_interval_s=0.2,
            ) as app,
        ):
            yield app
    finally:
        devnet.revert(snapshot)


def _funded(api: SettlementApp, label: str, amount: str) -> Broker:
    broker = register(api, label)
    issue(api, broker, amount)  # the devnet pre-funds only its first brokers
    response = broker.http.post(f"/v1/participants/{broker.id}/settlement-balance/deposit", json={"amount": amount})
    assert response.status_code == 200, response.text
    return broker


def _net(buyer: Broker, seller: Broker, coins: str, **overrides: Any) -> dict[str, Any]:
    """A USD trade of exactly `coins` coins (FX 1), net mode, delivery confirmed by the operator."""
    body = trade_body(buyer, seller, quantity="1", price=coins, currency="USD")
    body.update(settlement_mode="net", delivery_confirmed=True, **overrides)
    return body


def _batch(api: SettlementApp, bodies: list[dict[str, Any]], key: str | None = None) -> list[dict[str, Any]]:
    response = api.client().post(
        "/v1/trades/batch", json={"trades": bodies}, headers={"Idempotency-Key": key or str(uuid.uuid4())}
    )
    assert response.status_code == 200, response.text
    return cast(list[dict[str, Any]], response.json()["results"])


def _close_and_settle(api: SettlementApp, window_id: int) -> dict[str, Any]:
    closed = api.client().post(f"/v1/windows/{window_id}/close")
    assert closed.status_code == 202, closed.text
    return _wait_settled(api, window_id)


def _settle_txs(api: SettlementApp, tx_hash: str) -> int:
    """How many settleWindow calls the block of `tx_hash` holds from the agent (1 expected)."""
    w3 = api.service.chain.w3
    receipt = w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
    block = w3.eth.get_block(receipt["blockNumber"], full_transactions=True)
    net = api.service.manifest.net
    assert net is not None
    transactions = cast(list[dict[str, Any]], block["transactions"])
    return sum(1 for tx in transactions if str(tx["to"]).lower() == net.address.lower())


def test_net_trades_settle_in_one_window_transaction_with_a_checkable_proof(api: SettlementApp) -> None:
    a, b, c = (_funded(api, name, "1000") for name in ("net-a", "net-b", "net-c"))
    bodies = [_net(a, b, "100"), _net(b, c, "80"), _net(c, a, "50"), _net(a, c, "30")]
    results = _batch(api, bodies)
    assert all(r["ok"] and r["status"] == "IN_WINDOW" for r in results), results
    window_id = results[0]["window_id"]
    assert {r["window_id"] for r in results} == {window_id}

    window = _close_and_settle(api, window_id)
    assert window["trade_count"] == 4 and window["settlement_tx_hash"] and window["trades_root"]
    positions = {p["participant_id"]: p for p in window["positions"]}
    assert positions[a.id]["pays"] == "130" and positions[a.id]["receives"] == "50" and positions[a.id]["net"] == "-80"
    assert positions[b.id]["net"] == "20" and positions[c.id]["net"] == "60"
    assert window["gross_total"] == "260" and window["net_total"] == "80"
    assert Decimal(window["liquidity_saved_ratio"]) == Decimal("0.6923")
    assert _settle_txs(api, window["settlement_tx_hash"]) == 1

    for result in results:
        trade = api.client().get(f"/v1/trades/{result['trade_id']}").json()
        assert trade["status"] == "SETTLED" and trade["settlement_mode"] == "net" and trade["window_id"] == window_id
        assert trade["lock_tx_hash"] is None  # never escrowed
    balance = a.http.get(f"/v1/participants/{a.id}/settlement-balance").json()
    assert balance["on_chain"] == "920"

    # A counterparty (b) checks a's trade to it against the chain with the address alone.
    proof_response = b.http.get(f"/v1/trades/{results[0]['trade_id']}/proof")
    assert proof_response.status_code == 200, proof_response.text
    body = proof_response.json()
    assert body["root"] == window["trades_root"] and body["window_id"] == window_id
    net = api.service.manifest.net
    assert net is not None and body["contract"] == Web3.to_checksum_address(net.address)
    proof = TradeProof.from_json(body)
    check = check_trade_proof(api.service.chain.w3, body["contract"], net.abi, proof)
    assert check.ok, check
    forged = TradeProof(
        proof.window_id,
        type(proof.leaf)(
            proof.leaf.chain_trade_id, proof.leaf.payer, proof.leaf.payee, proof.leaf.amount_base_units + 1
        ),
        proof.siblings,
        proof.root,
    )
    assert not check_trade_proof(api.service.chain.w3, body["contract"], net.abi, forged).ok
    assert_problem(c.http.get(f"/v1/trades/{results[0]['trade_id']}/proof"), 404, "not_found")  # not its trade

    # A broker sees only its own figures; the operator sees all.
    seen_by_b = b.http.get(f"/v1/windows/{window_id}").json()
    assert [p["participant_id"] for p in seen_by_b["positions"]] == [b.id] and seen_by_b["gross_total"] is None

    report = api.client().get("/v1/reconciliation").json()
    assert report["balanced"], report["breaks"]
    verified = api.client().get("/v1/audit/verify").json()
    assert verified["ok"], verified


def test_the_liquidity_cover_check_refuses_what_passes_the_net_debit_cap(api: SettlementApp) -> None:
    payer, payee = _funded(api, "cap-payer", "100"), _funded(api, "cap-payee", "10")
    single = api.client().post(
        "/v1/trades", json=_net(payer, payee, "100.000001"), headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    assert_problem(single, 409, "net_debit_cap_exceeded")
    results = _batch(api, [_net(payer, payee, "40"), _net(payer, payee, "40"), _net(payer, payee, "40")])
    assert [r["ok"] for r in results] == [True, True, False]
    assert results[2]["problem"]["code"] == "net_debit_cap_exceeded"
    assert "100" not in results[2]["problem"]["detail"]  # the payer's balance is not told to anyone
    # The operator's lower cap wins over the balance.
    assert api.client().put(f"/v1/participants/{payer.id}/net-debit-cap", json={"cap": "85"}).status_code == 200
    assert _batch(api, [_net(payer, payee, "5.000001")])[0]["problem"]["code"] == "net_debit_cap_exceeded"
    assert _batch(api, [_net(payer, payee, "5")])[0]["ok"]
    window_id = results[0]["window_id"]
    _close_and_settle(api, window_id)
    assert payer.http.get(f"/v1/participants/{payer.id}/settlement-balance").json()["on_chain"] == "15"


RACERS = 12


def _race(attempts: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    """All attempts at once, each on its own connection, released together."""
    start = threading.Barrier(len(attempts))

    def attempt(call: Callable[[], httpx.Response]) -> httpx.Response:
        start.wait()
        return call()

    with ThreadPoolExecutor(len(attempts)) as pool:
        return list(pool.map(attempt, attempts))


def test_concurrent_net_trades_never_take_more_than_the_cover(api: SettlementApp) -> None:
    """Twelve trades of 30 coins at once, singles and batches, against a cover of 100: three are
    accepted, whichever they are. Each check reads the payer's running exposure and holds it
    until its trades are written, so no two checks both count the same free 10 coins."""
    payer, payee = _funded(api, "race-payer", "100"), _funded(api, "race-payee", "10")

    def single() -> httpx.Response:
        key = str(uuid.uuid4())
        return api.client().post("/v1/trades", json=_net(payer, payee, "30"), headers={"Idempotency-Key": key})

    def batch() -> httpx.Response:
        key = str(uuid.uuid4())
        return api.client().post(
            "/v1/trades/batch", json={"trades": [_net(payer, payee, "30")]}, headers={"Idempotency-Key": key}
        )

    responses = _race([single] * (RACERS // 2) + [batch] * (RACERS // 2))
    singles, batches = responses[: RACERS // 2], responses[RACERS // 2 :]
    accepted = [r for r in singles if r.status_code == 202] + [r for r in batches if r.json()["results"][0]["ok"]]
    assert len(accepted) == 3, [r.text for r in responses]
    for refused in (r for r in singles if r.status_code != 202):
        assert_problem(refused, 409, "net_debit_cap_exceeded")
    assert {(r.json()["results"][0]["problem"] or {}).get("code") for r in batches} <= {None, "net_debit_cap_exceeded"}
    window_ids = {r.json()["window_id"] for r in singles if r.status_code == 202}
    window_ids |= {r.json()["results"][0]["window_id"] for r in batches if r.json()["results"][0]["ok"]}
    (window_id,) = window_ids
    assert _close_and_settle(api, window_id)["trade_count"] == 3
    assert payer.http.get(f"/v1/participants/{payer.id}/settlement-balance").json()["on_chain"] == "10"
    report = api.client().get("/v1/reconciliation").json()
    assert report["balanced"], report["breaks"]


def test_concurrent_gross_trades_never_reserve_more_than_the_balance(api: SettlementApp) -> None:
    """The same race on the gross side: the buyer's free balance is its balance minus what its
    matched trades reserve, so twelve matched trades (the operator's) of a quarter of it plus one
    base unit, sent at once, leave three accepted and nine refused."""
    buyer, seller = register(api, "race-buyer"), register(api, "race-seller")
    issue(api, buyer, "100")
    api.client().get("/v1/reconciliation")  # the indexer has taken the mint
    balance_base_units = api.service.chain.balance_of(buyer.address)
    amount = Decimal(balance_base_units // 4 + 1) / 10**6
    body = trade_body(buyer, seller, quantity="1", price=str(amount), currency="USD")
    operator = api.client()
    responses = _race([lambda: submit(operator, {**body, "trade_ref": unique("race")})] * RACERS)
    assert sorted(r.status_code for r in responses) == [202] * 3 + [422] * (RACERS - 3), [r.text for r in responses]
    for refused in (r for r in responses if r.status_code != 202):
        assert_problem(refused, 422, "insufficient_funds")


def test_a_blacklisted_participant_leaves_the_window_and_the_rest_settles(api: SettlementApp, devnet: Devnet) -> None:
    a, b, d = (_funded(api, name, "500") for name in ("def-a", "def-b", "def-d"))
    results = _batch(api, [_net(a, b, "100"), _net(b, d, "70"), _net(d, a, "30"), _net(b, a, "10")])
    assert all(r["ok"] for r in results), results
    control = ChainControl(devnet, cast(RpcGate, None), api.service)
    control.blacklist(d.address)
    try:
        window = _close_and_settle(api, results[0]["window_id"])
    finally:
        control.unblacklist(d.address)
    assert window["trade_count"] == 2  # a->b and b->a; d's two trades left
    assert {p["participant_id"] for p in window["positions"]} == {a.id, b.id}
    statuses = [api.client().get(f"/v1/trades/{r['trade_id']}").json() for r in results]
    assert [t["status"] for t in statuses] == ["SETTLED", "FAILED", "FAILED", "SETTLED"]
    assert {t["error_code"] for t in statuses if t["status"] == "FAILED"} == {"net_settlement_refused"}
    assert a.http.get(f"/v1/participants/{a.id}/settlement-balance").json()["on_chain"] == "410"
    report = api.client().get("/v1/reconciliation").json()
    assert report["balanced"], report["breaks"]


def test_a_short_participant_rolls_to_the_next_window_and_settles_once_funded(api: SettlementApp) -> None:
    payer, payee = _funded(api, "short-payer", "100"), _funded(api, "short-payee", "10")
    first = _batch(api, [_net(payer, payee, "60"), _net(payee, payer, "5")])
    # The payer withdraws behind the window's back: its balance no longer covers its position.
    assert (
        payer.http.post(f"/v1/participants/{payer.id}/settlement-balance/withdraw", json={"amount": "80"}).status_code
        == 200
    )
    window = _close_and_settle(api, first[0]["window_id"])
    assert window["trade_count"] == 0
    rolled = [api.client().get(f"/v1/trades/{r['trade_id']}").json() for r in first]
    assert {t["status"] for t in rolled} == {"IN_WINDOW"} and {t["error_code"] for t in rolled} == {
        "rolled_to_next_window"
    }
    next_window = rolled[0]["window_id"]
    assert next_window != first[0]["window_id"]
    assert (
        payer.http.post(f"/v1/participants/{payer.id}/settlement-balance/deposit", json={"amount": "50"}).status_code
        == 200
    )
    settled = _close_and_settle(api, next_window)
    assert settled["trade_count"] == 2
    assert payer.http.get(f"/v1/participants/{payer.id}/settlement-balance").json()["on_chain"] == "15"


def test_no_trade_falls_between_two_windows_when_one_closes_during_submissions(api: SettlementApp) -> None:
    """Mojaloop's window-close race: trades keep joining while the operator closes the window."""
    a, b = _funded(api, "race-a", "1000"), _funded(api, "race-b", "1000")
    first = _batch(api, [_net(a, b, "1")])[0]
    accepted: list[dict[str, Any]] = []
    stop = threading.Event()

    def submit_forever() -> None:
        while not stop.is_set():
            accepted.extend(_batch(api, [_net(a, b, "1"), _net(b, a, "1")]))

    submitter = threading.Thread(target=submit_forever)
    submitter.start()
    try:
        time.sleep(0.3)
        _close_and_settle(api, first["window_id"])
        time.sleep(0.3)
    finally:
        stop.set()
        submitter.join()
    assert all(r["ok"] for r in accepted)
    by_window: dict[int, int] = {}
    for r in [first, *accepted]:
        trade = api.client().get(f"/v1/trades/{r['trade_id']}").json()
        by_window[trade["window_id"]] = by_window.get(trade["window_id"], 0) + 1
    assert first["window_id"] in by_window and len(by_window) == 2, by_window
    settled = api.client().get(f"/v1/windows/{first['window_id']}").json()
    assert settled["trade_count"] == by_window[first["window_id"]]  # every trade that joined it, no more
    later = api.client().get(f"/v1/windows/{max(by_window)}").json()
    assert later["status"] == "OPEN" and later["trade_count"] == by_window[max(by_window)]
    _close_and_settle(api, later["id"])


def test_a_batch_replays_by_key_and_per_trade_reference(api: SettlementApp) -> None:
    a, b = _funded(api, "batch-a", "100"), _funded(api, "batch-b", "100")
    bodies = [_net(a, b, "1"), _net(b, a, "2"), _net(a, a, "3")]
    key = str(uuid.uuid4())
    first = _batch(api, bodies, key)
    assert [r["ok"] for r in first] == [True, True, False] and first[2]["problem"]["code"] == "same_party"
    assert _batch(api, bodies, key) == first  # the same answer, nothing new
    again = _batch(api, bodies[:2])  # a new batch key, the same trade references
    assert [r["replayed"] for r in again] == [True, True]
    assert [r["trade_id"] for r in again] == [r["trade_id"] for r in first[:2]]
    changed = dict(bodies[0], quantity="2")
    assert _batch(api, [changed])[0]["problem"]["code"] == "duplicate_trade"
    too_many = api.client().post("/v1/trades/batch", json={"trades": [bodies[0]] * 1001})
    assert_problem(too_many, 422, "validation")
    issue(api, a, "10")
    gross = _batch(api, [trade_body(a, b, trade_ref=unique("G"), quantity="1", price="1", currency="USD")])[0]
    assert gross["ok"], gross
    assert api.client().get(f"/v1/trades/{gross['trade_id']}").json()["settlement_mode"] == "gross"
    _close_and_settle(api, first[0]["window_id"])


def test_a_settled_windows_obligations_are_anchored_without_waiting_for_the_timer(api: SettlementApp) -> None:
    """The window asks for an anchor and the worker's indexing thread sends it: the anchoring
    timer (300 s by default) plays no part. verify then checks the window's entries against it."""
    payer, payee = _funded(api, "anchored-payer", "100"), _funded(api, "anchored-payee", "100")
    window_id = _batch(api, [_net(payer, payee, "25")])[0]["window_id"]
    _close_and_settle(api, window_id)
    with Session(api.service.db) as session:
        last_obligation = max(
            session.exec(
                select(JournalEntry.seq).where(
                    JournalEntry.kind == EntryKind.OBLIGATION,
                    col(JournalEntry.seq).in_(
                        select(Posting.entry_seq).where(
                            col(Posting.account).startswith(f"{OBLIGATION_PREFIX}{window_id}:")
                        )
                    ),
                )
            ).all()
        )

    def anchors_cover_the_window() -> bool:
        anchors = api.client().get("/v1/audit/anchors").json()
        return bool(anchors) and anchors[-1]["sequence"] >= last_obligation

    wait_for(f"an anchor covering seq {last_obligation}", anchors_cover_the_window)
    verified = api.client().get("/v1/audit/verify").json()
    assert verified["ok"] and verified["anchors_checked"] >= 1, verified


def test_reconcile_recomputes_each_window_from_the_ledgers_obligations(api: SettlementApp) -> None:
    """Someone with database write access moves coins between two obligations of a window (the
    entry still balances): reconcile's recomputed root and positions no longer match the chain."""
    a, b = _funded(api, "rec-a", "100"), _funded(api, "rec-b", "100")
    results = _batch(api, [_net(a, b, "7"), _net(b, a, "3")])
    window = _close_and_settle(api, results[0]["window_id"])
    report = api.client().get("/v1/reconciliation").json()
    assert report["balanced"], report["breaks"]
    with Session(api.service.db) as session:
        entry = session.exec(
            select(JournalEntry).where(
                JournalEntry.trade_id == results[0]["trade_id"], JournalEntry.kind == "OBLIGATION"
            )
        ).one()
        entry_seq = entry.seq
        postings = session.exec(select(Posting).where(Posting.entry_seq == entry_seq)).all()
        for posting in postings:
            posting.amount_base_units += 1_000_000 if posting.amount_base_units > 0 else -1_000_000
            session.add(posting)
        session.commit()
    try:
        tampered = api.client().get("/v1/reconciliation").json()
        assert not tampered["balanced"]
        kinds = {b["kind"] for b in tampered["breaks"] if f"window {window['id']}" in b["detail"]}
        assert {"window_root", "window_obligations"} <= kinds, tampered["breaks"]
    finally:
        with Session(api.service.db) as session:
            for posting in session.exec(select(Posting).where(Posting.entry_seq == entry_seq)).all():
                posting.amount_base_units -= 1_000_000 if posting.amount_base_units > 0 else -1_000_000
                session.add(posting)
            session.commit()
    assert api.client().get("/v1/reconciliation").json()["balanced"]


def _wait_settled(api: SettlementApp, window_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_S
    while True:
        window: dict[str, Any] = api.client().get(f"/v1/windows/{window_id}").json()
        if window["status"] == "SETTLED":
            return window
        assert time.monotonic() < deadline, window
        time.sleep(0.1)
