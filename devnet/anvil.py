"""Runs an anvil process: on a free or given loopback port, with a fixed mnemonic and chain id.

Used by the CLI (detached, state dumped on stop) and by the pytest fixtures (attached, throwaway).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from settlement.devnet.toolchain import tool_path
from settlement.errors import ToolchainError

STARTUP_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 15.0
DEVNET_ACCOUNTS = 30
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Linux: an attached anvil gets SIGTERM when the process that started it dies (even by
    SIGKILL), so a killed test run or demo leaves no orphan devnet behind."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def rpc_answers(rpc_url: str, timeout_s: float = 0.5) -> bool:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    request = urllib.request.Request(rpc_url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return b"result" in response.read()
    except OSError:
        return False


@dataclass
class AnvilConfig:
    host: str
    port: int
    chain_id: int
    mnemonic: str
    state_file: Path | None = None
    log_file: Path | None = None
    block_time_s: int | None = None

    @property
    def rpc_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        cmd = [
            str(tool_path("anvil")),
            "--host", self.host,
            "--port", str(self.port),
            "--chain-id", str(self.chain_id),
            "--mnemonic", self.mnemonic,
            "--accounts", str(DEVNET_ACCOUNTS),
            "--balance", "10000",
        ]  # fmt: skip
        if self.state_file is not None:
            cmd += ["--dump-state", str(self.state_file)]
            if self.state_file.exists():
                cmd += ["--load-state", str(self.state_file)]
        if self.block_time_s:
            cmd += ["--block-time", str(self.block_time_s)]
        return cmd


class AnvilProcess:
    """A running anvil. `detached` processes outlive this Python process (the CLI's `up`)."""

    def __init__(self, config: AnvilConfig, *, detached: bool = False) -> None:
        self.config = config
        self.detached = detached
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def rpc_url(self) -> str:
        return self.config.rpc_url

    def start(self) -> AnvilProcess:
        if port_in_use(self.config.host, self.config.port):
            raise ToolchainError(
                f"port {self.config.port} on {self.config.host} is already taken "
                "(another anvil?): stop it, or set SETTLEMENT_ANVIL_PORT to a free port"
            )
        log = open(self.config.log_file, "ab") if self.config.log_file else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.process = subprocess.Popen(
                self.config.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=self.detached,
                preexec_fn=None if self.detached else _die_with_parent,
            )
        finally:
            if log is not subprocess.DEVNULL:
                log.close()  # type: ignore[union-attr]
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not rpc_answers(self.rpc_url):
            if self.process.poll() is not None:
                raise ToolchainError(f"anvil exited with code {self.process.returncode}; see {self.config.log_file}")
            if time.monotonic() > deadline:
                self.stop()
                raise ToolchainError(f"anvil did not answer on {self.rpc_url} within {STARTUP_TIMEOUT_S}s")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # anvil dumps state on SIGTERM
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> AnvilProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stop_pid(pid: int, timeout_s: float = STOP_TIMEOUT_S) -> bool:
    """SIGTERM a detached anvil by pid and wait for it (so its state dump completes)."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return True


def _alive(pid: int) -> bool:
    """True while `pid` runs. A zombie counts as stopped: a detached anvil is not our child, and
    until whatever adopted it reaps it (some container inits never do) kill(pid, 0) still works."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no procfs (macOS): kill(pid, 0) is all there is
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"
