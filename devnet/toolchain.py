"""Finds the pinned toolchain (anvil, forge) and compiles the contracts.

anvil is looked up in order: SETTLEMENT_ANVIL_BIN, then `anvil` on PATH (Foundry's installer),
then npm's @foundry-rs/anvil-<platform> package in node_modules (this checkout's, then the
working directory's). An installed wheel needs only anvil: the contracts ship as package data.
forge is needed only to rebuild the contracts in a source checkout.

The npm binaries are called by path because npm 11 may skip the wrapper packages' postinstall.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path

from settlement.config import PROJECT_ROOT, Settings, env_var
from settlement.errors import ToolchainError

NODE_MODULES = PROJECT_ROOT / "node_modules"
CONTRACTS_DIR = PROJECT_ROOT / "contracts"
# The versions package.json pins; a project installing anvil itself should use the same.
FOUNDRY_VERSION = "1.7.1"


__all__ = ["ToolchainError", "anvil_path", "compile_contracts", "tool_path"]


def _platform_suffix() -> str:
    system = {"Linux": "linux", "Darwin": "darwin"}.get(platform.system(), platform.system().lower())
    machine = {"x86_64": "amd64", "AMD64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine(), platform.machine()
    )
    return f"{system}-{machine}"


def _npm_binary(tool: str, node_modules: Path) -> Path:
    return node_modules / "@foundry-rs" / f"{tool}-{_platform_suffix()}" / "bin" / tool


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def anvil_path(settings: Settings | None = None) -> Path:
    """The anvil binary: the setting, then PATH, then node_modules; one line on how to get it."""
    configured = (settings or Settings()).anvil_bin
    if configured is not None:
        if not _executable(configured):
            raise ToolchainError(f"{env_var('anvil_bin')}={configured} is not an executable file")
        return configured
    on_path = shutil.which("anvil")
    if on_path:
        return Path(on_path)
    for node_modules in dict.fromkeys([NODE_MODULES, Path.cwd() / "node_modules"]):
        candidate = _npm_binary("anvil", node_modules)
        if _executable(candidate):
            return candidate
    raise ToolchainError(
        f"anvil not found: run `npm install @foundry-rs/anvil@{FOUNDRY_VERSION}` in {Path.cwd()}, "
        f"or install Foundry {FOUNDRY_VERSION} (https://getfoundry.sh) so anvil is on PATH, "
        f"or set {env_var('anvil_bin')} to its path"
    )


def tool_path(tool: str) -> Path:
    """Path of a native Foundry binary: anvil from anywhere anvil_path looks, forge and cast from
    this checkout's node_modules (`npm ci`)."""
    if tool == "anvil":
        return anvil_path()
    path = _npm_binary(tool, NODE_MODULES)
    if not _executable(path):
        raise ToolchainError(f"{tool} not found at {path}: run `npm ci` (or `make setup`) in {PROJECT_ROOT}")
    return path


def compile_contracts() -> None:
    """forge build (a no-op in ~0.4 s when nothing changed). Only a source checkout compiles: an
    installed package has no contracts/ folder and deploys its packaged artifacts instead."""
    if not (CONTRACTS_DIR / "foundry.toml").is_file():
        return
    result = subprocess.run(
        [str(tool_path("forge")), "build", "--quiet"],
        cwd=CONTRACTS_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ToolchainError(f"forge build failed:\n{result.stdout}{result.stderr}")
