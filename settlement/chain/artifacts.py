"""Reads ABIs and bytecode from forge's compile output (contracts/out), the single source of truth."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from settlement.config import PROJECT_ROOT
from settlement.errors import ArtifactMissing

ARTIFACTS_DIR = PROJECT_ROOT / "contracts" / "out"


@dataclass(frozen=True)
class ContractArtifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    enums: dict[str, list[str]]


def load_artifact(name: str, source_file: str | None = None, out_dir: Path = ARTIFACTS_DIR) -> ContractArtifact:
    path = out_dir / (source_file or f"{name}.sol") / f"{name}.json"
    if not path.exists():
        raise ArtifactMissing(f"{path} not found; compile the contracts first (make build)")
    data = json.loads(path.read_text())
    return ContractArtifact(
        name=name, abi=data["abi"], bytecode=data["bytecode"]["object"], enums=_enums(data.get("ast", {}), name)
    )


def _enums(ast: dict[str, Any], contract: str) -> dict[str, list[str]]:
    """The contract's enums as the compiler saw them, so Python never hand-copies their members."""
    found: dict[str, list[str]] = {}
    for node in ast.get("nodes", []):
        if node.get("nodeType") == "ContractDefinition" and node.get("name") == contract:
            for member in node.get("nodes", []):
                if member.get("nodeType") == "EnumDefinition":
                    found[member["name"]] = [m["name"] for m in member["members"]]
    return found
