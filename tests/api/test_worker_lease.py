"""An API-only server (SETTLEMENT_WORKER_ENABLED=false) says over HTTP whether some worker settles
its ledger, and takes trades only while one does."""

from __future__ import annotations

from pathlib import Path

from settlement.testing.app import running_app
from settlement.testing.devnet import Devnet
from tests.api.support import assert_problem, matched, register, submit, trade_body, wait_status


def test_an_api_only_server_answers_503_until_a_worker_runs(isolated_devnet: Devnet, tmp_path: Path) -> None:
    net = isolated_devnet
    database_url = f"sqlite:///{tmp_path / 'shared.db'}"
    with running_app(
        net.manifest, net.rpc_url, tmp_path / "api", database_url=database_url, worker_enabled=False
    ) as api:
        buyer, seller = register(api, "lease-buyer"), register(api, "lease-seller", "SG")
        health = api.client().get("/v1/health")
        assert health.status_code == 503, health.text
        assert health.json()["worker_role"] == "api-only" and health.json()["worker_live"] is False
        refused = submit(buyer.http, trade_body(buyer, seller))
        assert_problem(refused, 503, "settlement_unavailable")
        assert refused.headers["Retry-After"].isdigit()

        with running_app(net.manifest, net.rpc_url, tmp_path / "worker", database_url=database_url) as worker:
            assert worker.service.health().worker_role == "active"
            health = api.client().get("/v1/health")
            assert health.status_code == 200, health.text
            assert health.json()["worker_role"] == "api-only" and health.json()["worker_live"] is True
            trade = matched(buyer, seller, trade_body(buyer, seller))
            wait_status(buyer.http, trade["id"], "LOCKED")

        assert_problem(submit(buyer.http, trade_body(buyer, seller)), 503, "settlement_unavailable")
