"""FX rates over HTTP: the reviewed attacks (a rate dated 2030, the peg at 1250.5) now fail, a jump
needs force (kept on the record), and a stale rate prices no trade."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from settlement.testing.app import SettlementApp, running_app
from settlement.testing.devnet import Devnet
from tests.api.support import Broker, assert_problem, register, submit, trade_body

pytestmark = pytest.mark.chain


def test_a_rate_dated_in_the_future_is_refused(api: SettlementApp) -> None:
    operator = api.client()
    future = (datetime.now(UTC) + timedelta(days=1500)).isoformat()
    assert_problem(
        operator.post("/v1/fx-rates", json={"currency": "SGD", "rate_to_usd": "0.75", "as_of": future}),
        422,
        "invalid_fx_rate",
    )
    current = {q["currency"]: q for q in operator.get("/v1/fx-rates").json()}
    assert current["SGD"]["rate_to_usd"] == "0.745156"  # nothing pinned


def test_the_peg_cannot_be_repriced(api: SettlementApp, buyer: Broker, seller: Broker) -> None:
    operator = api.client()
    assert_problem(
        operator.post("/v1/fx-rates", json={"currency": "USD", "rate_to_usd": "1250.5"}), 422, "invalid_fx_rate"
    )
    trade = submit(buyer.http, trade_body(buyer, seller, quantity="3", price="2", currency="USD")).json()
    assert trade["settlement_amount"] == "6"  # priced at 1, not 1,250x


def test_a_jump_needs_force_and_is_recorded(api: SettlementApp) -> None:
    operator = api.client()
    assert_problem(
        operator.post("/v1/fx-rates", json={"currency": "CNH", "rate_to_usd": "0.2"}), 422, "invalid_fx_rate"
    )
    forced = operator.post("/v1/fx-rates", json={"currency": "CNH", "rate_to_usd": "0.2", "force": True})
    assert forced.status_code == 201 and forced.json()["forced"] is True
    small = operator.post("/v1/fx-rates", json={"currency": "CNH", "rate_to_usd": "0.21"})
    assert small.status_code == 201 and small.json()["forced"] is False


@pytest.fixture(scope="module")
def strict_rates(devnet: Devnet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SettlementApp]:
    snapshot = devnet.snapshot()
    try:
        with running_app(
            devnet.manifest, devnet.rpc_url, tmp_path_factory.mktemp("fx"), fx_rate_age_max_s=3_600
        ) as app:
            yield app
    finally:
        devnet.revert(snapshot)


def test_a_stale_rate_prices_no_trade(strict_rates: SettlementApp) -> None:
    buyer, seller = register(strict_rates, "fx-buyer"), register(strict_rates, "fx-seller")
    old = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    operator = strict_rates.client()
    assert (
        operator.post("/v1/fx-rates", json={"currency": "GBP", "rate_to_usd": "1.27", "as_of": old}).status_code == 201
    )
    assert_problem(submit(buyer.http, trade_body(buyer, seller, currency="GBP")), 422, "stale_fx_rate")
    assert operator.post("/v1/fx-rates", json={"currency": "GBP", "rate_to_usd": "1.28"}).status_code == 201
    assert submit(buyer.http, trade_body(buyer, seller, currency="GBP")).status_code == 202
