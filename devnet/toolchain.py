"""Finds the pinned npm toolchain (anvil, forge, solc-js) and compiles the contracts.

Binaries come from npm's @foundry-rs/<tool>-linux-amd64 optional packages; we call them by
path because npm 11 may skip the wrapper packages' postinstall.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
from pathlib import Path

from settlement.config import PROJECT_ROOT
from settlement.errors import ToolchainError

NODE_MODULES = PROJECT_ROOT / "node_modules"
CONTRACTS_DIR = PROJECT_ROOT / "contracts"


__all__ = ["ToolchainError", "compile_contracts", "tool_path"]


def _platform_suffix() -> str:
    system = {"Linux": "linux", "Darwin": "darwin"}.get(platform.system(), platform.system().lower())
    machine = {"x86_64": "amd64", "AMD64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine(), platform.machine()
    )
    return f"{system}-{machine}"


def tool_path(tool: str) -> Path:
    """Path of the native anvil/forge/cast binary installed by `npm ci`."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise ToolchainError("node and npm are required (Node 20+): install them, then run `make setup`")
    path = NODE_MODULES / "@foundry-rs" / f"{tool}-{_platform_suffix()}" / "bin" / tool
    if not path.exists():
        raise ToolchainError(f"{tool} not found at {path}: run `npm ci` (or `make setup`) in {PROJECT_ROOT}")
    return path


def compile_contracts() -> None:
    """forge build (a no-op in ~0.4 s when nothing changed)."""
    result = subprocess.run(
        [str(tool_path("forge")), "build", "--quiet"],
        cwd=CONTRACTS_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ToolchainError(f"forge build failed:\n{result.stdout}{result.stderr}")
