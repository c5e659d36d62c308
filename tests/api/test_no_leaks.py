"""An RPC URL with credentials and an API key in its query string, and the chain goes down:
neither the problem details nor any log line (web3's and urllib3's debug lines included) shows them.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from settlement.testing.app import running_app
from settlement.testing.devnet import Devnet
from tests.api.support import assert_problem, register, trade_body

pytestmark = pytest.mark.chain

CREDENTIALS = ("TOPSECRET", "hunter2", "alice:")


@pytest.mark.chain
def test_rpc_credentials_reach_no_problem_detail_and_no_log(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    own = Devnet.start()  # killed mid-test
    port = own.anvil.config.port
    leaky_url = f"http://alice:hunter2@127.0.0.1:{port}/?apikey=TOPSECRET"
    caplog.set_level(logging.DEBUG)
    try:
        with running_app(own.manifest, leaky_url, tmp_path) as app:
            buyer, seller = register(app, "leak-buyer"), register(app, "leak-seller")
            operator = app.client()
            own.stop()
            answers = [
                operator.post(f"/v1/participants/{buyer.id}/issue", json={"amount": "1"}),
                buyer.http.post("/v1/trades", json=trade_body(buyer, seller), headers={"Idempotency-Key": "leak"}),
                operator.get("/v1/health"),
                operator.get("/v1/reconciliation"),
            ]
            time.sleep(0.5)  # the worker's cycles fail against the dead chain, and log it
        assert_problem(answers[0], 503, "chain_unavailable")
        # The trade is refused either by its own chain read or, if the worker noticed first, because
        # nothing would settle it: both are 503, and neither names the endpoint's secrets.
        assert answers[1].status_code == 503
        assert answers[1].json()["code"] in ("chain_unavailable", "settlement_unavailable")
        assert answers[2].status_code == 503 and answers[3].status_code >= 500
        for response in answers:
            assert not any(secret in response.text for secret in CREDENTIALS), response.text
    finally:
        own.stop()
    logged = caplog.text
    assert f"127.0.0.1:{port}" in logged  # the endpoint is named, so the log is useful
    leaked = [line for line in logged.splitlines() if any(secret in line for secret in CREDENTIALS)]
    assert leaked == []
