"""Off the devnet (here: anvil started with --chain-id 1) the devnet defaults are refused by the
service, the API and the CLI alike; strong settings start; failed authentications are throttled.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from settlement.config import CONFIRMATION_DEPTH_OFF_DEVNET, DEVNET_OPERATOR_KEY, PROJECT_ROOT, Settings
from settlement.devnet.anvil import free_port
from settlement.errors import UnsafeConfiguration
from settlement.service import SettlementService
from settlement.testing.app import running_app
from settlement.testing.devnet import Devnet
from tests.api.support import assert_problem

pytestmark = pytest.mark.chain

CLI_TIMEOUT_S = 60
STRONG: dict[str, Any] = {
    "operator_key": secrets.token_urlsafe(32),
    "webhook_secret": secrets.token_urlsafe(32),
    "custodial_devnet_keys": False,
}
REFUSAL = (
    "refusing to start off the devnet: SETTLEMENT_OPERATOR_KEY is the devnet default; "
    "set a random key of at least 32 bytes (chain id 1, API host 127.0.0.1)"
)


@pytest.fixture(scope="module")
def chain_one() -> Iterator[Devnet]:
    """Not the devnet: an anvil reporting chain id 1, with the contracts deployed."""
    net = Devnet.start(chain_id=1)
    try:
        yield net
    finally:
        net.stop()


def settings(net: Devnet, data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "rpc_url": net.rpc_url,
        "chain_id": 1,
        "data_dir": data_dir,
        "database_url": f"sqlite:///{data_dir / 'settlement.db'}",
        **STRONG,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


def test_the_service_refuses_the_devnet_operator_key_and_starts_with_a_strong_one(
    chain_one: Devnet, tmp_path: Path
) -> None:
    with pytest.raises(UnsafeConfiguration) as refused:
        SettlementService(settings(chain_one, tmp_path, operator_key=DEVNET_OPERATOR_KEY), manifest=chain_one.manifest)
    assert refused.value.detail == REFUSAL
    assert not (tmp_path / "settlement.db").exists()  # refused before the database was opened

    service = SettlementService(settings(chain_one, tmp_path), manifest=chain_one.manifest)
    try:
        assert service.health().chain_id == 1 and service.health().database_ok
        # Off the devnet a receipt or event counts only once buried, for the sender and the indexer alike.
        assert service.confirmation_depth == CONFIRMATION_DEPTH_OFF_DEVNET > 0
        assert (
            service.indexer.confirmation_depth == service.custody.agent.confirmation_depth == service.confirmation_depth
        )
    finally:
        service.close()


def test_the_manifest_cannot_hide_the_real_chain(chain_one: Devnet, tmp_path: Path) -> None:
    """A manifest claiming 31337 does not make chain 1 the devnet: the endpoint's own id counts."""
    disguised = chain_one.manifest.model_copy(update={"chain_id": 31337})
    with pytest.raises(UnsafeConfiguration, match="SETTLEMENT_CUSTODIAL_DEVNET_KEYS is true"):
        SettlementService(settings(chain_one, tmp_path, chain_id=31337, custodial_devnet_keys=True), manifest=disguised)


@pytest.mark.parametrize(
    "command", [["settlement.api"], ["settlement", "verify"]], ids=["python -m settlement.api", "settlement verify"]
)
def test_the_api_and_the_cli_refuse_in_one_line_with_exit_code_2(
    chain_one: Devnet, tmp_path: Path, command: list[str]
) -> None:
    chain_one.manifest.save(tmp_path / "1.json")
    env = {
        **os.environ,
        "SETTLEMENT_CHAIN_ID": "1",
        "SETTLEMENT_RPC_URL": chain_one.rpc_url,
        "SETTLEMENT_DEPLOYMENTS_DIR": str(tmp_path),
        "SETTLEMENT_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "SETTLEMENT_API_PORT": str(free_port()),
        "SETTLEMENT_OPERATOR_KEY": DEVNET_OPERATOR_KEY,
        "SETTLEMENT_WEBHOOK_SECRET": str(STRONG["webhook_secret"]),
        "SETTLEMENT_CUSTODIAL_DEVNET_KEYS": "false",
    }
    done = subprocess.run(
        [sys.executable, "-m", *command],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [f"error: {REFUSAL}"]
    assert "Traceback" not in done.stdout + done.stderr


def test_repeated_failed_authentication_is_throttled(chain_one: Devnet, tmp_path: Path) -> None:
    overrides: dict[str, Any] = {key: value for key, value in STRONG.items() if key != "operator_key"}
    with running_app(
        chain_one.manifest,
        chain_one.rpc_url,
        tmp_path,
        operator_key=str(STRONG["operator_key"]),
        auth_failures_max=20,
        auth_failures_window_s=60,
        **overrides,
    ) as app:
        operator = app.client()
        assert operator.get("/v1/participants").status_code == 200  # it started, off the devnet
        guesser = app.client("sk_" + secrets.token_urlsafe(32))
        responses = [guesser.get("/v1/participants") for _ in range(25)]
        assert [r.status_code for r in responses] == [401] * 20 + [429] * 5
        problem = assert_problem(responses[-1], 429, "too_many_failed_auth")
        assert problem["title"] == "Too many failed authentication attempts"
        assert 1 <= int(responses[-1].headers["retry-after"]) <= 60
        # The client (by IP) is held: even the right key is not looked at until the window passes.
        assert_problem(operator.get("/v1/participants"), 429, "too_many_failed_auth")
        assert app.client(anonymous=True).get("/v1/health").status_code == 200  # no auth, no throttle
