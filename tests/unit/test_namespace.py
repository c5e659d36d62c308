"""Everything importable lives under `settlement`: nothing imports the old top-level names.

The folders api/ and devnet/ are reached as settlement.api and settlement.devnet through the
symlinks settlement/api and settlement/devnet (see the README's layout). Importing one module by
both names would load it twice, with two copies of its state.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OLD_NAMES = ("api", "devnet")


def _sources() -> list[Path]:
    found: list[Path] = []
    for folder in ("settlement", "api", "devnet", "tests", "tools"):
        found += sorted((ROOT / folder).rglob("*.py"))
    return found


@pytest.mark.parametrize("name", OLD_NAMES)
def test_the_namespace_links_point_at_the_folders(name: str) -> None:
    link = ROOT / "settlement" / name
    assert link.is_symlink() and link.resolve() == (ROOT / name).resolve()


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_nothing_imports_the_old_top_level_names(path: Path) -> None:
    offending: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            offending |= {a.name for a in node.names if a.name.split(".")[0] in OLD_NAMES}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            offending |= {node.module} if node.module.split(".")[0] in OLD_NAMES else set()
    assert not offending, f"{path.relative_to(ROOT)} imports {sorted(offending)}: use settlement.api / .devnet"
