"""The deployment manifest holds private keys: it is written owner-only, from the first byte."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from settlement.manifest import Account, DeployedContract, DeploymentManifest


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def manifest() -> DeploymentManifest:
    key = Account(address="0x" + "11" * 20, private_key="0x" + "22" * 32)
    contract = DeployedContract(address="0x" + "33" * 20, abi=[])
    return DeploymentManifest(
        chain_id=31337,
        rpc_url="http://127.0.0.1:8545",
        deploy_block=1,
        token=contract,
        escrow=contract,
        deployer=key,
        issuer=key,
        agent=key,
        brokers=[key],
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("permissive_umask")
def test_saved_manifest_is_0600_and_nothing_else_is_left_behind(tmp_path: Path) -> None:
    path = tmp_path / "deployments" / "31337.json"
    manifest().save(path)
    assert mode(path) == 0o600
    assert DeploymentManifest.load(path) == manifest()
    assert [p.name for p in path.parent.iterdir()] == ["31337.json"]


@pytest.mark.usefixtures("permissive_umask")
def test_rewriting_a_world_readable_manifest_replaces_it_with_an_owner_only_one(tmp_path: Path) -> None:
    path = tmp_path / "31337.json"
    path.write_text("{}")
    path.chmod(0o644)
    (tmp_path / "31337.tmp").write_text("left by an older version")  # never reused
    manifest().save(path)
    assert mode(path) == 0o600
