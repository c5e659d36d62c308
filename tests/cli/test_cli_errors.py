"""The three CLIs as an operator runs them, in subprocesses: `--help` lists every command (and
`python -m settlement.api --help` starts nothing), a configuration or connection problem is one line naming
the SETTLEMENT_* variable with exit code 2, and a reader that goes away ends them quietly.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from settlement.config import PROJECT_ROOT
from settlement.devnet.anvil import free_port
from settlement.testing.devnet import Devnet
from tests.conftest import POSTGRES_URL

CLI_TIMEOUT_S = 60
COMMANDS = {
    "settlement.api": ["serve"],
    "settlement": ["index", "reconcile", "verify"],
    "settlement.devnet": ["up", "down", "status", "deploy", "reset"],
}


def run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        env={**os.environ, **env},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


@pytest.mark.parametrize("cli", list(COMMANDS))
def test_help_has_a_line_per_command(cli: str) -> None:
    started = time.monotonic()
    done = run([cli, "--help"], SETTLEMENT_API_PORT=str(free_port()))
    assert done.returncode == 0, done.stderr
    for command in COMMANDS[cli]:
        assert re.search(rf"^ +{command} +\S", done.stdout, re.MULTILINE), done.stdout
    if cli == "api":  # help, and nothing else: no service, no server
        assert time.monotonic() - started < 15
        assert "Settlement API on" not in done.stdout and "Uvicorn" not in done.stdout + done.stderr


@pytest.mark.parametrize(
    "cli", [["settlement.api"], ["settlement", "verify"], ["settlement.devnet", "status"]], ids=" ".join
)
def test_an_unparsable_setting_is_one_line_naming_it(cli: list[str]) -> None:
    line = one_error_line(run(cli, SETTLEMENT_API_PORT="abc"))
    assert line.startswith("error: SETTLEMENT_API_PORT is invalid: Input should be a valid integer"), line
    assert "abc" not in line  # rejected values are not echoed: they may be secrets


@pytest.fixture
def deployed(devnet: Devnet, tmp_path: Path) -> dict[str, str]:
    """Settings pointing at the session devnet through a manifest in tmp_path."""
    devnet.manifest.save(tmp_path / f"{devnet.manifest.chain_id}.json")
    return {
        "SETTLEMENT_DEPLOYMENTS_DIR": str(tmp_path),
        "SETTLEMENT_CHAIN_ID": str(devnet.manifest.chain_id),
        "SETTLEMENT_RPC_URL": devnet.rpc_url,
        "SETTLEMENT_ANVIL_PORT": str(devnet.anvil.config.port),
        "SETTLEMENT_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "SETTLEMENT_API_PORT": str(free_port()),
        "SETTLEMENT_STARTUP_RETRY_S": "0",  # the API gives up at once (tests/faults/test_startup.py waits)
    }


@pytest.mark.chain
@pytest.mark.parametrize("cli", [["settlement", "verify"], ["settlement.api"]], ids=" ".join)
def test_an_unreachable_database_is_one_line(deployed: dict[str, str], cli: list[str]) -> None:
    url = f"postgresql+psycopg://settlement:pw-not-shown@127.0.0.1:{free_port()}/settlement"
    line = one_error_line(run(cli, **{**deployed, "SETTLEMENT_DATABASE_URL": url}))
    assert line.startswith(f"error: cannot open the database at postgresql+psycopg://127.0.0.1:{url.split(':')[3]}")
    assert "Connection refused" in line and line.endswith("(check SETTLEMENT_DATABASE_URL)")
    assert "pw-not-shown" not in line


@pytest.mark.chain
@pytest.mark.postgres
def test_a_wrong_database_password_is_one_line(deployed: dict[str, str], postgres_available: bool) -> None:
    if not postgres_available:
        pytest.skip(f"no PostgreSQL at {POSTGRES_URL}")
    url = make_url(POSTGRES_URL).set(password="not-the-password").render_as_string(hide_password=False)
    line = one_error_line(run(["settlement", "verify"], **{**deployed, "SETTLEMENT_DATABASE_URL": url}))
    assert "password authentication failed" in line and line.endswith("(check SETTLEMENT_DATABASE_URL)")
    assert "not-the-password" not in line


@pytest.mark.chain
def test_an_unparsable_database_url_is_one_line(deployed: dict[str, str]) -> None:
    line = one_error_line(run(["settlement", "verify"], **{**deployed, "SETTLEMENT_DATABASE_URL": "db at the office"}))
    assert line == (
        "error: not a usable database URL (Could not parse SQLAlchemy URL from given URL string)"
        " (check SETTLEMENT_DATABASE_URL)"
    )


@pytest.mark.chain
def test_verify_with_the_rpc_down_is_one_line(deployed: dict[str, str]) -> None:
    port = free_port()
    down = f"http://user:pw-not-shown@127.0.0.1:{port}/?apikey=not-shown-either"
    line = one_error_line(run(["settlement", "verify"], **{**deployed, "SETTLEMENT_RPC_URL": down}))
    assert line.startswith(f"error: no EVM JSON-RPC answer at http://127.0.0.1:{port}/ (ConnectionError")
    assert line.endswith("(check SETTLEMENT_RPC_URL)") and "not-shown" not in line


@pytest.mark.parametrize(
    "args",
    [
        ["settlement.api", "--help"],
        ["settlement", "--help"],
        ["settlement.devnet", "--help"],
        ["settlement.devnet", "status"],
    ],
    ids=" ".join,
)
def test_a_reader_that_went_away_ends_the_cli_quietly(args: list[str], tmp_path: Path) -> None:
    """stdout is a pipe whose reading end is already closed: every write fails with EPIPE."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", *args],
            env={**os.environ, "SETTLEMENT_DEPLOYMENTS_DIR": str(tmp_path), "SETTLEMENT_ANVIL_PORT": str(free_port())},
            cwd=PROJECT_ROOT,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=CLI_TIMEOUT_S,
            check=False,
        )
    finally:
        os.close(write_end)
    assert done.stderr == ""  # no BrokenPipeError, no "Exception ignored"
    # 141 as a shell reports a process ended by SIGPIPE; argparse's help swallows write errors itself.
    assert done.returncode == (0 if "--help" in args else 141)


@pytest.mark.chain
def test_devnet_status_piped_to_head(deployed: dict[str, str]) -> None:
    done = subprocess.run(
        ["bash", "-c", f"'{sys.executable}' -m settlement.devnet status | head -1"],
        env={**os.environ, **deployed},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout.startswith("devnet: running at ") and len(done.stdout.splitlines()) == 1
    assert done.stderr == ""
