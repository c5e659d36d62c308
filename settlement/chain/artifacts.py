"""ABIs, bytecode and enums of the contracts, from forge's output or from the package itself.

forge's compile output (contracts/out) is the source of truth in a source checkout. An installed
wheel has no forge and no contracts/ folder, so the contracts under contracts/src also ship as
package data (settlement/chain/contracts/<Name>.json, written by `make artifacts` from forge's
output and checked against it by tests/chain/test_packaged_artifacts.py). A checkout reads forge's
output first, so a contract edited and rebuilt is never shadowed by a stale packaged copy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from settlement.config import PROJECT_ROOT
from settlement.errors import ArtifactMissing

ARTIFACTS_DIR = PROJECT_ROOT / "contracts" / "out"
CONTRACTS_SRC_DIR = PROJECT_ROOT / "contracts" / "src"
PACKAGED_DIR = Path(__file__).resolve().parent / "contracts"


@dataclass(frozen=True)
class ContractArtifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    enums: dict[str, list[str]]

    def packaged(self) -> dict[str, Any]:
        """What ships in the wheel: no AST, no metadata, just what deploying and decoding need."""
        return {"name": self.name, "abi": self.abi, "bytecode": self.bytecode, "enums": self.enums}


def load_artifact(name: str, source_file: str | None = None, out_dir: Path | None = None) -> ContractArtifact:
    """forge's output when there is one (a checkout), else the packaged copy (an installed wheel)."""
    forge_path = (out_dir or ARTIFACTS_DIR) / (source_file or f"{name}.sol") / f"{name}.json"
    if forge_path.exists():
        return artifact_from_forge(forge_path, name)
    packaged = PACKAGED_DIR / f"{name}.json"
    if out_dir is None and packaged.exists():
        data = json.loads(packaged.read_text())
        return ContractArtifact(name=name, abi=data["abi"], bytecode=data["bytecode"], enums=data["enums"])
    raise ArtifactMissing(f"{forge_path} not found; compile the contracts first (make build)")


def artifact_from_forge(path: Path, name: str) -> ContractArtifact:
    data = json.loads(path.read_text())
    return ContractArtifact(
        name=name, abi=data["abi"], bytecode=data["bytecode"]["object"], enums=_enums(data.get("ast", {}), name)
    )


def source_artifacts(src_dir: Path = CONTRACTS_SRC_DIR, out_dir: Path = ARTIFACTS_DIR) -> list[ContractArtifact]:
    """Every deployable contract defined under contracts/src (by pattern, so new ones are picked
    up), as forge compiled it. Interfaces and abstract contracts have no bytecode and are skipped."""
    found: list[ContractArtifact] = []
    for source in sorted(src_dir.rglob("*.sol")):
        for path in sorted((out_dir / source.name).glob("*.json")):
            artifact = artifact_from_forge(path, path.stem)
            if artifact.bytecode not in ("", "0x") and _defined_in(path, source):
                found.append(artifact)
    return found


def _defined_in(path: Path, source: Path) -> bool:
    """forge puts contracts imported by a file beside it only when names clash; keep the file's own."""
    data = json.loads(path.read_text())
    compiled_from = str(data.get("ast", {}).get("absolutePath", ""))
    return not compiled_from or compiled_from.endswith(source.name)


def _enums(ast: dict[str, Any], contract: str) -> dict[str, list[str]]:
    """The contract's enums as the compiler saw them, so Python never hand-copies their members."""
    found: dict[str, list[str]] = {}
    for node in ast.get("nodes", []):
        if node.get("nodeType") == "ContractDefinition" and node.get("name") == contract:
            for member in node.get("nodes", []):
                if member.get("nodeType") == "EnumDefinition":
                    found[member["name"]] = [m["name"] for m in member["members"]]
    return found
