"""Where the harness finds anvil: SETTLEMENT_ANVIL_BIN, then PATH, then node_modules; else one line
saying how to get the pinned version (an installed wheel has no `npm ci` to point at)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from settlement.config import PROJECT_ROOT
from settlement.devnet import toolchain
from settlement.errors import ToolchainError


def _fake_binary(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "anvil"
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No anvil on PATH, in the setting, in this checkout's or the working directory's node_modules."""
    monkeypatch.delenv("SETTLEMENT_ANVIL_BIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-path"))
    monkeypatch.setattr(toolchain, "NODE_MODULES", tmp_path / "no-node-modules")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_missing_anvil_is_one_line_naming_the_pinned_npm_package(nowhere: Path) -> None:
    with pytest.raises(ToolchainError) as raised:
        toolchain.anvil_path()
    message = str(raised.value)
    assert "\n" not in message
    pinned = json.loads((PROJECT_ROOT / "package.json").read_text())["dependencies"]["@foundry-rs/anvil"]
    assert f"npm install @foundry-rs/anvil@{pinned}" in message
    assert "SETTLEMENT_ANVIL_BIN" in message and "site-packages" not in message


def test_the_setting_comes_first_then_path_then_node_modules(nowhere: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    in_cwd = _fake_binary(nowhere / "node_modules" / "@foundry-rs" / f"anvil-{toolchain._platform_suffix()}" / "bin")
    assert toolchain.anvil_path() == in_cwd
    on_path = _fake_binary(nowhere / "bin")
    monkeypatch.setenv("PATH", str(on_path.parent))
    assert toolchain.anvil_path() == on_path
    configured = _fake_binary(nowhere / "configured")
    monkeypatch.setenv("SETTLEMENT_ANVIL_BIN", str(configured))
    assert toolchain.anvil_path() == configured


def test_a_setting_that_is_no_executable_says_so(nowhere: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SETTLEMENT_ANVIL_BIN", str(nowhere / "missing"))
    with pytest.raises(ToolchainError, match=r"SETTLEMENT_ANVIL_BIN=.*missing is not an executable"):
        toolchain.anvil_path()
