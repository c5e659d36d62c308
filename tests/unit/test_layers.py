"""The architecture's boundaries, checked on the source: a move that breaks one fails here.

- only `settlement/chain/` imports web3 and its helpers (eth_*, hexbytes);
- the domain imports no SQL, no chain and no web code;
- the installable `settlement` package never imports its demo, bench or test harness;
- the API reaches the product only through SettlementService: it imports no SQL rows and no
  service part, and touches none of the service's parts as attributes.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHAIN_LIBRARIES = ("web3", "eth_abi", "eth_account", "eth_utils", "eth_typing", "hexbytes")
SERVICE_PARTS = (
    "engine",
    "intake",
    "cycle",
    "recovery",
    "instructions",
    "journal",
    "indexer",
    "db",
    "chain",
    "custody",
    "participants",
    "publisher",
    "event_log",
)


def _modules(folder: str) -> Iterator[Path]:
    yield from sorted((ROOT / folder).rglob("*.py"))


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _starts(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _core_modules() -> Iterator[Path]:
    harness = ROOT / "settlement" / "testing"
    migrations = ROOT / "settlement" / "ledger" / "migrations"
    for path in _modules("settlement"):
        if harness not in path.parents and migrations not in path.parents:
            yield path


@pytest.mark.parametrize("path", list(_core_modules()), ids=lambda p: str(p.relative_to(ROOT)))
def test_only_the_chain_adapter_imports_web3(path: Path) -> None:
    if (ROOT / "settlement" / "chain") in path.parents:
        return
    offending = {name for name in _imports(path) if _starts(name, CHAIN_LIBRARIES)}
    assert not offending, f"{path.relative_to(ROOT)} imports {sorted(offending)}: move that code into settlement/chain/"


@pytest.mark.parametrize("path", list(_modules("settlement/domain")), ids=lambda p: p.name)
def test_the_domain_is_pure(path: Path) -> None:
    forbidden = ("sqlalchemy", "sqlmodel", "fastapi", "httpx", "requests", "settlement.ledger", "settlement.chain")
    offending = {name for name in _imports(path) if _starts(name, forbidden + CHAIN_LIBRARIES)}
    assert not offending, f"{path.name} imports {sorted(offending)}"


@pytest.mark.parametrize("path", list(_core_modules()), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_package_does_not_import_its_demo_bench_or_harness(path: Path) -> None:
    offending = {
        name
        for name in _imports(path)
        if _starts(name, ("tools", "devnet", "api", "settlement.devnet", "settlement.testing", "settlement.api"))
    }
    assert not offending, f"{path.relative_to(ROOT)} imports {sorted(offending)}"


@pytest.mark.parametrize("path", list(_modules("api")), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_api_goes_through_the_service_door(path: Path) -> None:
    internals = (
        "settlement.ledger",
        "settlement.processing",
        "settlement.indexer",
        "settlement.reconcile",
        "settlement.participants",
        "settlement.chain",
        "sqlalchemy",
        "sqlmodel",
    )
    offending = {name for name in _imports(path) if _starts(name, internals)}
    assert not offending, f"{path.relative_to(ROOT)} imports {sorted(offending)}: go through SettlementService"
    reached = {
        node.attr
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "service"
        and node.attr in SERVICE_PARTS
    }
    assert not reached, f"{path.relative_to(ROOT)} reaches into service.{sorted(reached)}"
