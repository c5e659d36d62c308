"""The real parts the simulation breaks: the service process, the anvil node, the chain's history.

`ServiceProcess` is `python -m settlement.api` in a subprocess (SIGKILL means no cleanup at all), `AnvilNode`
an anvil that dumps its state on stop and loads it on start (a node restart), with reorgs
(`anvil_reorg`) and reverts to a snapshot (`evm_revert`: a deep reorg that drops every block since).
The JSON-RPC proxy between them is tests/faults/flaky_rpc.py.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from web3 import Web3

from settlement.chain.client import connect
from settlement.config import DEVNET_MNEMONIC, PROJECT_ROOT
from settlement.devnet.anvil import AnvilConfig, AnvilProcess, free_port

SERVICE_START_TIMEOUT_S = 40.0
SERVICE_STOP_TIMEOUT_S = 10.0
CHAIN_ID = 31337
CLOCK_FIX_TRIES = 3
# A traceback's last line: `package.module.SomeError: message`.
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Unavailable|Timeout)\w*: ")


def _die_with_parent() -> None:
    """The service gets SIGKILL when the simulation dies, so a killed run leaves no orphan."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class ServiceProcess:
    """`python -m settlement.api` on a fixed loopback port, restartable; its output goes to one log file."""

    def __init__(self, env: dict[str, str], port: int, log_path: Path) -> None:
        self.env = env
        self.port = port
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = SERVICE_START_TIMEOUT_S) -> bool:
        """Start and wait until it answers HTTP; False if it exited or never answered."""
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(f"\n--- start {self.starts}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "settlement.api"],
                cwd=PROJECT_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"{self.base_url}/v1/health", timeout=2.0)
                return True
            time.sleep(0.1)
        return False

    def last_error(self) -> str:
        """The last exception line the service logged since its last start (why it would not start)."""
        lines = self.log_path.read_text(errors="replace").split(f"--- start {self.starts}\n")[-1].splitlines()
        raised = [line for line in lines if EXCEPTION_LINE.match(line)]
        return raised[-1].strip() if raised else "no exception logged"

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown hook, no flush, no closing of the database."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=SERVICE_STOP_TIMEOUT_S)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=SERVICE_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()


class AnvilNode:
    """An anvil with its state dumped on stop and loaded on start, on one fixed port."""

    def __init__(self, workdir: Path) -> None:
        self.config = AnvilConfig(
            host="127.0.0.1",
            port=free_port(),
            chain_id=CHAIN_ID,
            mnemonic=DEVNET_MNEMONIC,
            state_file=workdir / "anvil-state.json",
            log_file=workdir / "anvil.log",
        )
        self.process = AnvilProcess(self.config)
        self.w3: Web3 | None = None
        self.snapshots: list[str] = []
        self.floor_block = 0  # the simulation's first block: reorgs stay above it

    @property
    def rpc_url(self) -> str:
        return self.config.rpc_url

    def start(self) -> None:
        self.process = AnvilProcess(self.config).start()
        self.w3 = connect(self.rpc_url)

    def stop(self) -> None:
        self.process.stop()

    def rpc(self, method: str, *params: Any) -> Any:
        assert self.w3 is not None
        response = self.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
        if "error" in response:
            raise RuntimeError(f"{method} failed: {response['error']}")
        return response["result"]

    def latest_timestamp(self) -> int:
        assert self.w3 is not None
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def restart(self) -> None:
        """Stop (state dumped), start again from the dump; the chain clock is kept monotonic,
        since a reloaded anvil may come back with its clock behind (TOOLCHAIN.md)."""
        before_s = self.latest_timestamp()
        self.stop()
        self.start()
        self.snapshots.clear()  # snapshots do not survive a restart
        for _ in range(CLOCK_FIX_TRIES):
            if self.latest_timestamp() > before_s:
                return
            with contextlib.suppress(RuntimeError):  # the service may have mined a block in between
                self.rpc("evm_setNextBlockTimestamp", max(before_s, self.latest_timestamp()) + 1)
                self.rpc("evm_mine")

    def snapshot(self) -> None:
        self.snapshots.append(str(self.rpc("evm_snapshot")))

    def revert_to_snapshot(self) -> bool:
        """A deep reorg: every block since the latest snapshot is gone, with its transactions."""
        if not self.snapshots:
            return False
        return bool(self.rpc("evm_revert", self.snapshots.pop()))

    def reorg(self, depth: int) -> bool:
        """Replace the last `depth` blocks with new, empty ones (their transactions are dropped)."""
        assert self.w3 is not None
        if self.w3.eth.block_number - depth <= self.floor_block:
            return False  # never reorg the deployment away
        try:
            self.rpc("anvil_reorg", depth, [])
        except RuntimeError:
            return False  # anvil 1.7.1 sometimes answers "Required data unavailable" (TOOLCHAIN.md)
        return True

    def increase_time(self, seconds: int) -> None:
        self.rpc("evm_increaseTime", seconds)
        self.rpc("evm_mine")


def service_env(
    *, rpc_url: str, port: int, deployments_dir: Path, data_dir: Path, database_url: str, operator_key: str
) -> dict[str, str]:
    """What a restarted service reads: SETTLEMENT_* only, the rest of the environment as is."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith("SETTLEMENT_")}
    return {
        **keep,
        "SETTLEMENT_RPC_URL": rpc_url,
        "SETTLEMENT_CHAIN_ID": str(CHAIN_ID),
        "SETTLEMENT_DEPLOYMENTS_DIR": str(deployments_dir),
        "SETTLEMENT_DATA_DIR": str(data_dir),
        "SETTLEMENT_DATABASE_URL": database_url,
        "SETTLEMENT_API_HOST": "127.0.0.1",
        "SETTLEMENT_API_PORT": str(port),
        "SETTLEMENT_OPERATOR_KEY": operator_key,
        "SETTLEMENT_SWEEP_INTERVAL_S": "0.2",
        "SETTLEMENT_RECEIPT_TIMEOUT_S": "3",
        "SETTLEMENT_DEFAULT_SETTLEMENT_WINDOW_S": str(SETTLEMENT_WINDOW_S),
        "SETTLEMENT_AUTH_FAILURES_MAX": "1000000",
    }


# Short deadlines, so "deadlines passing" happens within a run (the setting's minimum is 60 s).
SETTLEMENT_WINDOW_S = 600
