"""`python -m settlement.devnet up / status / down / up` in a subprocess, on its own port and state folder.

It proves what a developer relies on: the manifest is written, the chain (contracts and
balances) survives down + up through anvil's state dump, and a taken port gives a one-line
error and exit code 2 instead of a traceback.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from settlement.chain.client import ChainClient, connect
from settlement.chain.reverts import RevertDecoder
from settlement.chain.sender import Call, MemoryTxJournal, TxSender
from settlement.devnet.anvil import free_port, rpc_answers, stop_pid
from settlement.manifest import DeploymentManifest
from tests.chain.support import BROKER_FUNDING, COIN

pytestmark = [pytest.mark.chain, pytest.mark.slow]

CLI_TIMEOUT_S = 60


@dataclass
class Cli:
    port: int
    state_dir: Path
    deployments_dir: Path

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def manifest_path(self) -> Path:
        return self.deployments_dir / "31337.json"

    @property
    def data_dir(self) -> Path:
        return self.state_dir.parent / "data"

    def run(self, *command: str) -> subprocess.CompletedProcess[str]:
        env = {
            **{k: v for k, v in os.environ.items() if k != "SETTLEMENT_DATABASE_URL"},
            "SETTLEMENT_ANVIL_PORT": str(self.port),
            "SETTLEMENT_DEVNET_STATE_DIR": str(self.state_dir),
            "SETTLEMENT_DEPLOYMENTS_DIR": str(self.deployments_dir),
            "SETTLEMENT_DATA_DIR": str(self.data_dir),
        }
        return subprocess.run(
            [sys.executable, "-m", "settlement.devnet", *command],
            env=env,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
            check=False,
        )


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    cli = Cli(port=free_port(), state_dir=tmp_path / "state", deployments_dir=tmp_path / "deployments")
    try:
        yield cli
    finally:
        cli.run("down")  # never leave a detached anvil behind, whatever happened
        assert not rpc_answers(cli.rpc_url)


def test_up_status_down_up_keeps_the_chain(cli: Cli) -> None:
    up = cli.run("up")
    assert up.returncode == 0, up.stderr
    assert f"anvil started on {cli.rpc_url}" in up.stdout

    assert stat.S_IMODE(cli.manifest_path.stat().st_mode) == 0o600  # it holds private keys
    raw = json.loads(cli.manifest_path.read_text())
    assert {"chain_id", "rpc_url", "token", "escrow", "deploy_block", "deployer", "issuer", "agent", "brokers"} <= set(
        raw
    )
    manifest = DeploymentManifest.load(cli.manifest_path)
    assert manifest.chain_id == 31337
    assert manifest.rpc_url == cli.rpc_url
    assert manifest.deploy_block >= 1
    assert len(manifest.brokers) == 8 and manifest.agent.private_key and manifest.issuer.address
    assert manifest.token.abi and manifest.escrow.abi
    chain = ChainClient(connect(cli.rpc_url), manifest)
    assert chain.w3.eth.chain_id == 31337
    token_code = chain.w3.eth.get_code(chain.token.address)
    escrow_code = chain.w3.eth.get_code(chain.escrow.address)
    assert len(token_code) > 0 and len(escrow_code) > 0
    assert [chain.balance_of(b.address) for b in manifest.brokers] == [BROKER_FUNDING] * 8

    status = cli.run("status")
    assert status.returncode == 0, status.stderr
    assert f"devnet: running at {cli.rpc_url}" in status.stdout
    assert manifest.escrow.address in status.stdout

    # A change made before `down`: broker 0 pays broker 1 directly.
    assert manifest.brokers[0].private_key is not None
    payer: LocalAccount = Account.from_key(manifest.brokers[0].private_key)
    sender = TxSender(chain.w3, payer, MemoryTxJournal(), RevertDecoder(manifest.token.abi, manifest.escrow.abi))
    transfer = chain.token.encode_abi("transfer", [manifest.brokers[1].address, 123 * COIN + 4])
    sender.transact(Call(manifest.token.address, transfer, "transfer before down"))
    balances = [chain.balance_of(b.address) for b in manifest.brokers]
    assert balances[:2] == [BROKER_FUNDING - 123 * COIN - 4, BROKER_FUNDING + 123 * COIN + 4]
    block_before_down = chain.block_number()

    down = cli.run("down")
    assert down.returncode == 0, down.stderr
    assert "anvil stopped" in down.stdout
    assert not rpc_answers(cli.rpc_url)
    assert (cli.state_dir / "anvil-state.json").stat().st_size > 0
    stopped = cli.run("status")
    assert stopped.returncode == 1
    assert "not running" in stopped.stdout

    again = cli.run("up")
    assert again.returncode == 0, again.stderr
    assert "state loaded" in again.stdout
    assert "deployed token" not in again.stdout  # nothing was redeployed
    assert DeploymentManifest.load(cli.manifest_path) == manifest
    chain = ChainClient(connect(cli.rpc_url), manifest)
    assert chain.w3.eth.get_code(chain.token.address) == token_code
    assert chain.w3.eth.get_code(chain.escrow.address) == escrow_code
    assert [chain.balance_of(b.address) for b in manifest.brokers] == balances
    assert chain.block_number() >= block_before_down
    # The payer's nonce survived too: a new sender continues from it.
    sender = TxSender(chain.w3, payer, MemoryTxJournal(), RevertDecoder(manifest.token.abi, manifest.escrow.abi))
    sender.transact(Call(manifest.token.address, transfer, "transfer after up"))
    assert chain.balance_of(manifest.brokers[1].address) == BROKER_FUNDING + 2 * (123 * COIN + 4)


def test_up_on_a_taken_port_fails_with_one_line(cli: Cli) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", cli.port))
        squatter.listen()

        result = cli.run("up")

    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert f"port {cli.port}" in lines[0] and "already taken" in lines[0]
    assert not cli.manifest_path.exists()  # nothing deployed anywhere
    assert not (cli.state_dir / "anvil.pid").exists()


def test_stop_pid_returns_once_the_process_is_a_zombie() -> None:
    """`down` stops an anvil that is not its child; once it exits it is a zombie until someone
    reaps it (in some containers nobody does), and that must count as stopped, not as a hang."""
    child = subprocess.Popen(["sleep", "30"])  # our child, deliberately not reaped by stop_pid
    try:
        started = time.monotonic()
        assert stop_pid(child.pid, timeout_s=5)
        assert time.monotonic() - started < 2
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGTERM


def test_reset_says_the_old_ledger_mirrors_the_old_chain_and_removes_it_on_request(cli: Cli) -> None:
    assert cli.run("up").returncode == 0
    ledger = cli.data_dir / "settlement.db"
    ledger.parent.mkdir(parents=True, exist_ok=True)
    ledger.write_bytes(b"a ledger of the chain about to be forgotten")

    kept = cli.run("reset")  # no terminal: it does not ask, it says what to do
    assert kept.returncode == 0, kept.stderr
    assert ledger.exists() and "python -m settlement.devnet reset --ledger" in kept.stdout

    removed = cli.run("reset", "--ledger")
    assert removed.returncode == 0, removed.stderr
    assert not ledger.exists() and "local ledger" in removed.stdout and "removed" in removed.stdout


def test_a_restarted_devnet_keeps_its_clock_monotonic(cli: Cli) -> None:
    """Chain time ahead of the wall clock before `down` (a test or demo skipped time) must not go
    back after `up`: deadlines are measured in chain time."""
    assert cli.run("up").returncode == 0
    w3 = connect(cli.rpc_url)
    ahead = int(time.time()) + 12 * 3_600
    w3.provider.make_request("evm_setNextBlockTimestamp", [ahead])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    before_down = int(w3.eth.get_block("latest")["timestamp"])
    assert before_down >= ahead

    assert cli.run("down").returncode == 0
    again = cli.run("up")
    assert again.returncode == 0, again.stderr

    w3 = connect(cli.rpc_url)
    assert int(w3.eth.get_block("latest")["timestamp"]) >= before_down
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    assert int(w3.eth.get_block("latest")["timestamp"]) > before_down  # and the next block is later still
