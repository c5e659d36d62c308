"""Reads ABIs and bytecode from forge's compile output (contracts/out), the single source of truth."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from settlement.config import PROJECT_ROOT
from settlement.errors import SettlementError

ARTIFACTS_DIR = PROJECT_ROOT / "contracts" / "out"


class ArtifactMissing(SettlementError):
    code = "artifact_missing"
    title = "Contract not compiled: run `forge build` (make build)"


@dataclass(frozen=True)
class ContractArtifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str


def load_artifact(name: str, source_file: str | None = None, out_dir: Path = ARTIFACTS_DIR) -> ContractArtifact:
    path = out_dir / (source_file or f"{name}.sol") / f"{name}.json"
    if not path.exists():
        raise ArtifactMissing(f"{path} not found; compile the contracts first (make build)")
    data = json.loads(path.read_text())
    return ContractArtifact(name=name, abi=data["abi"], bytecode=data["bytecode"]["object"])
