"""The contract artifacts shipped as package data are what forge builds today.

An installed wheel deploys from settlement/chain/contracts/*.json, not from forge's output; a
Solidity change rebuilt without `make artifacts` would otherwise ship stale bytecode silently.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from settlement.chain import artifacts
from settlement.chain.artifacts import PACKAGED_DIR, load_artifact, source_artifacts
from tools.contract_artifacts import packaged_text


def test_every_contract_under_src_is_packaged_as_forge_built_it() -> None:
    built = source_artifacts()
    assert {a.name for a in built} >= {"SettlementToken", "SettlementEscrow"}
    for artifact in built:
        packaged = PACKAGED_DIR / f"{artifact.name}.json"
        assert packaged.exists(), f"{artifact.name} is not packaged: run `make artifacts`"
        assert packaged.read_text() == packaged_text(artifact), f"{packaged.name} is stale: run `make artifacts`"
    extra = {p.stem for p in PACKAGED_DIR.glob("*.json")} - {a.name for a in built}
    assert not extra, f"packaged artifacts of contracts no longer under contracts/src: {sorted(extra)}"


def test_the_packaged_copy_is_read_when_forge_output_is_absent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    forge = load_artifact("SettlementEscrow")
    monkeypatch.setattr(artifacts, "ARTIFACTS_DIR", tmp_path)  # as in site-packages: no contracts/out
    packaged = load_artifact("SettlementEscrow")
    assert packaged == forge
    assert packaged.enums  # the manifest reads the escrow's Status enum from here
