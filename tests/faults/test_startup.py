"""`python -m settlement.api` survives a chain that drops its first calls: it retries with backoff, says so in
one line per attempt, answers health "degraded" (503) meanwhile, and comes up healthy; a chain down for longer than
SETTLEMENT_STARTUP_RETRY_S ends it with one error line and exit code 2, not a traceback.

The server runs as an operator runs it, in a subprocess, talking to anvil through a proxy that
drops calls (tests/faults/flaky_rpc.py).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from settlement.config import PROJECT_ROOT
from settlement.devnet.anvil import free_port
from settlement.testing.devnet import Devnet
from tests.faults.flaky_rpc import FlakyRpc

pytestmark = [pytest.mark.chain, pytest.mark.slow]

START_TIMEOUT_S = 120.0  # generous: the shared test machine is slow at times
# web3 retries only the builtin ConnectionError, not requests' dropped connection: each drop fails
# an attempt. Two of each: four failed attempts, 1 + 2 + 4 + 8 s of backoff.
DROPS = 2


def api_env(devnet: Devnet, tmp_path: Path, rpc_url: str, port: int, retry_s: float) -> dict[str, str]:
    devnet.manifest.save(tmp_path / f"{devnet.manifest.chain_id}.json")
    return {
        **os.environ,
        "SETTLEMENT_DEPLOYMENTS_DIR": str(tmp_path),
        "SETTLEMENT_CHAIN_ID": str(devnet.manifest.chain_id),
        "SETTLEMENT_RPC_URL": rpc_url,
        "SETTLEMENT_DATABASE_URL": f"sqlite:///{tmp_path / 'api.db'}",
        "SETTLEMENT_API_PORT": str(port),
        "SETTLEMENT_STARTUP_RETRY_S": str(retry_s),
    }


@pytest.fixture
def proxy(isolated_devnet: Devnet) -> Iterator[FlakyRpc]:
    with FlakyRpc(isolated_devnet.rpc_url) as flaky:
        yield flaky


def start_api(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "settlement.api"],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop_api(process: subprocess.Popen[str]) -> tuple[str, str]:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)  # what Ctrl-C does: a clean shutdown
    try:
        return process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.communicate()


def test_the_api_starts_through_dropped_rpc_calls_and_turns_healthy(
    isolated_devnet: Devnet, proxy: FlakyRpc, tmp_path: Path
) -> None:
    proxy.drop_first = {"eth_chainId": DROPS, "eth_getTransactionCount": DROPS}
    port = free_port()
    process = start_api(api_env(isolated_devnet, tmp_path, proxy.url, port, retry_s=60))
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        status = None
        degraded: list[dict[str, object]] = []  # what health said while startup waited
        while status != 200:
            assert process.poll() is None, stop_api(process)
            assert time.monotonic() < deadline, f"not healthy in {START_TIMEOUT_S}s (last status {status})"
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=5)
            except httpx.TransportError:
                status = None
            else:
                status = response.status_code
                if status == 503:
                    degraded.append(response.json())
            time.sleep(0.2)
    finally:
        stdout, stderr = stop_api(process)
    assert degraded, "health was never served while startup waited"
    assert degraded[0]["status"] == "degraded" and "chain unreachable" in str(degraded[0]["worker_error"])
    assert proxy.dropped >= DROPS
    assert f"chain unreachable at {proxy.url}: retrying in 1 s" in stderr, stderr
    assert "Traceback" not in stdout + stderr
    assert process.returncode == 0, stderr


def test_the_api_gives_up_after_its_retry_budget_in_one_line(
    isolated_devnet: Devnet, proxy: FlakyRpc, tmp_path: Path
) -> None:
    proxy.down = True
    process = start_api(api_env(isolated_devnet, tmp_path, proxy.url, free_port(), retry_s=3))
    try:
        process.wait(timeout=START_TIMEOUT_S)
    finally:
        stdout, stderr = stop_api(process)
    assert process.returncode == 2, stderr
    assert "Traceback" not in stdout + stderr
    retries = [line for line in stderr.splitlines() if "retrying in" in line]
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(retries) >= 2 and all(f"chain unreachable at {proxy.url}" in line for line in retries), stderr
    assert len(errors) == 1 and proxy.url in errors[0], stderr
    assert set(stderr.splitlines()) == set(retries) | set(errors), stderr  # nothing else said


def test_the_api_starts_once_a_locked_database_is_released(isolated_devnet: Devnet, tmp_path: Path) -> None:
    """A SQLite file held by another writer (a backup, a stuck process) past the busy timeout fails
    the migration at start: that is waited out too, and the API comes up once the lock is gone."""
    port = free_port()
    env = api_env(isolated_devnet, tmp_path, isolated_devnet.rpc_url, port, retry_s=60)
    env["SETTLEMENT_DATABASE_BUSY_TIMEOUT_S"] = "0.2"
    log = tmp_path / "stderr.log"
    holder = sqlite3.connect(tmp_path / "api.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    with log.open("w") as stderr_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "settlement.api"],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=stderr_file,
            text=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while "database unavailable" not in log.read_text():  # the lock was met, and waited out
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        holder.execute("ROLLBACK")
        holder.close()
        while True:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"not healthy in {START_TIMEOUT_S}s"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
    finally:
        holder.close()
        stop_api(process)
    stderr = log.read_text()
    assert f"database unavailable at sqlite:///{tmp_path / 'api.db'}: retrying in 1 s" in stderr, stderr
    assert "Traceback" not in stderr
