"""When the chain stops answering, the API says so (503), it does not crash, and it accepts no
trade its worker could not settle."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from settlement.testing.app import running_app
from settlement.testing.devnet import Devnet
from tests.api.support import assert_problem, register, trade_body


@pytest.mark.chain
def test_chain_down_is_503_and_health_degrades(tmp_path: Path) -> None:
    own = Devnet.start()  # not the session devnet: this one is killed mid-test
    try:
        with running_app(own.manifest, own.rpc_url, tmp_path) as app:
            buyer, seller = register(app, "down-buyer"), register(app, "down-seller")
            operator = app.client()
            assert operator.get("/v1/health").status_code == 200
            own.stop()

            assert_problem(
                operator.post(f"/v1/participants/{buyer.id}/issue", json={"amount": "1"}), 503, "chain_unavailable"
            )
            deadline = time.monotonic() + 30
            while operator.get("/v1/health").json()["worker_error"] is None:
                assert time.monotonic() < deadline, "the worker never noticed the chain was gone"
                time.sleep(0.05)
            assert_problem(
                buyer.http.post("/v1/trades", json=trade_body(buyer, seller), headers={"Idempotency-Key": "k"}),
                503,
                "settlement_unavailable",
            )
            health = operator.get("/v1/health")
            assert health.status_code == 503
            assert health.json()["status"] == "degraded" and health.json()["latest_block"] is None
            assert operator.get("/v1/trades").status_code == 200  # what needs only the database still works
    finally:
        own.stop()
