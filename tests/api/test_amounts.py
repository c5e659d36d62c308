"""Balances beyond 64 bits over HTTP, and wallets no participant may have.

The reviewed failure: after issuing 10 x 10^12 coins (10^19 base units, more than int64) to one
broker, balances and reconciliation answered 500 (`sqlite integer overflow`) while health said
ok. Here 11 issues of 10^12 coins go to one broker, then 10^13 coins are allocated to one of its
clients in a single posting, and every read answers with the exact figures, on both databases.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from settlement.testing.app import SettlementApp, running_app
from settlement.testing.devnet import Devnet
from tests.api.support import Broker, assert_problem, issue, register, unique

pytestmark = pytest.mark.chain

ISSUES = 11
ISSUE_COINS = 10**12  # the per-call limit; the sum is what goes past int64
TOTAL_COINS = ISSUES * ISSUE_COINS
ALLOCATED_COINS = 10**13  # one posting of 10^19 base units
INT64_MAX = 2**63 - 1


@pytest.fixture
def app_on_each_database(devnet: Devnet, db_url: str, tmp_path: Path) -> Iterator[SettlementApp]:
    snapshot = devnet.snapshot()
    try:
        with running_app(devnet.manifest, devnet.rpc_url, tmp_path, database_url=db_url) as app:
            yield app
    finally:
        devnet.revert(snapshot)


def test_balances_beyond_int64_are_exact_everywhere(app_on_each_database: SettlementApp) -> None:
    api = app_on_each_database
    operator = api.client()
    broker = register(api, "whale")
    baseline = int(broker.http.get(f"/v1/participants/{broker.id}/balances").json()["on_chain"])
    for _ in range(ISSUES):
        issue(api, broker, str(ISSUE_COINS))
    client = broker.http.post(f"/v1/participants/{broker.id}/clients", json={"name": unique("fund")}).json()

    # The allocation needs the ledger to have caught up with the mints: reconciliation indexes first.
    report = operator.get("/v1/reconciliation")
    assert report.status_code == 200, report.text
    assert report.json()["balanced"] is True, report.json()["breaks"]
    allocated = broker.http.post(
        f"/v1/participants/{broker.id}/clients/{client['id']}/allocate", json={"amount": str(ALLOCATED_COINS)}
    )
    assert allocated.status_code == 200, allocated.text
    assert allocated.json()["client_balance"] == str(ALLOCATED_COINS)

    balances = broker.http.get(f"/v1/participants/{broker.id}/balances")
    assert balances.status_code == 200, balances.text
    total = baseline + TOTAL_COINS
    assert total * 10**6 > INT64_MAX
    assert balances.json() == {
        "participant_id": broker.id,
        "address": broker.address,
        "on_chain": str(total),
        "ledger": str(total),
        "unallocated": str(total - ALLOCATED_COINS),
        "locked_as_payer": "0",
        "clients": [{"client_id": client["id"], "name": client["name"], "balance": str(ALLOCATED_COINS)}],
        "settlement_balance_on_chain": "0",
        "settlement_balance_ledger": "0",
    }

    report = operator.get("/v1/reconciliation")
    assert report.status_code == 200, report.text
    assert report.json()["balanced"] is True, report.json()["breaks"]

    entries = broker.http.get("/v1/ledger/entries", params={"limit": 500})
    assert entries.status_code == 200, entries.text
    wallet = f"wallet:{broker.address.lower()}"
    moves = [p["amount"] for e in entries.json()["items"] for p in e["postings"] if p["account"] == wallet]
    assert moves.count(str(ISSUE_COINS)) == ISSUES
    assert f"-{ALLOCATED_COINS}" in moves
    client_entries = broker.http.get("/v1/ledger/entries", params={"account": f"client:{client['id']}"}).json()
    assert [
        p["amount"] for e in client_entries["items"] for p in e["postings"] if p["account"].startswith("client:")
    ] == [str(ALLOCATED_COINS)]

    health = api.client(anonymous=True).get("/v1/health")
    assert health.status_code == 200, health.text
    assert health.json()["status"] == "ok" and health.json()["database_ok"] is True


# ----------------------------------------------------------------------------- reserved wallets


def _reserved(api: SettlementApp) -> dict[str, str]:
    manifest = api.service.chain.manifest
    return {
        "zero": "0x" + "00" * 20,
        "token": manifest.token.address,
        "escrow": manifest.escrow.address,
        "agent": manifest.agent.address,
        "issuer": manifest.issuer.address,
    }


@pytest.mark.parametrize("which", ["zero", "token", "escrow", "agent", "issuer"])
def test_the_zero_address_and_system_addresses_are_refused_as_wallets(api: SettlementApp, which: str) -> None:
    address = _reserved(api)[which]
    for spelling in (address, address.lower(), address.upper().replace("0X", "0x")):
        response = api.client().post(
            "/v1/participants", json={"name": unique("squatter"), "jurisdiction": "HK", "address": spelling}
        )
        assert_problem(response, 422, "reserved_address")
    names = {p["address"].lower() for p in api.client().get("/v1/participants").json()}
    assert address.lower() not in names


def test_a_broker_wallet_is_still_accepted(api: SettlementApp, buyer: Broker) -> None:
    spare = api.service.chain.manifest.spare_accounts[-1].address
    created = register(api, "spare", address=spare)
    assert created.address == spare.lower()
