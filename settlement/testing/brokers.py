"""Funded brokers for tests: registered over the API, coins issued, an authenticated client."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

    from settlement.testing.app import SettlementApp

DEFAULT_COINS = "1000000"
_numbers = itertools.count(1)


@dataclass(frozen=True)
class Broker:
    """A registered participant: its id, omnibus wallet address, API key and a client using it."""

    id: str
    name: str
    jurisdiction: str
    address: str
    api_key: str
    client: httpx.Client


def register_broker(
    app: SettlementApp, *, name: str | None = None, jurisdiction: str = "HK", coins: str | int = DEFAULT_COINS
) -> Broker:
    """Register a broker as the operator would, then issue it `coins` (0 for none)."""
    operator = app.client()
    name = name or f"Test Broker {next(_numbers)} ({jurisdiction})"
    created = operator.post("/v1/participants", json={"name": name, "jurisdiction": jurisdiction})
    assert created.status_code == 201, f"registering {name!r}: {created.status_code} {created.text}"
    body = created.json()
    if str(coins) not in ("0", ""):
        issued = operator.post(f"/v1/participants/{body['id']}/issue", json={"amount": str(coins)})
        assert issued.status_code == 200, f"issuing {coins} to {name!r}: {issued.status_code} {issued.text}"
    return Broker(
        id=body["id"],
        name=name,
        jurisdiction=jurisdiction,
        address=body["address"],
        api_key=body["api_key"],
        client=app.client(body["api_key"]),
    )
