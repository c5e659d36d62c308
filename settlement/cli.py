"""`python -m settlement <command>`: operator commands over the ledger and the chain.

Adding a command is one line in SUBCOMMANDS: a name, "module:function" and a help text. The
function receives the arguments after the command name and returns the exit code; modules are
imported only when their command runs, so one command's dependencies never slow another.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from settlement.config import Settings, get_settings
from settlement.errors import SettlementError
from settlement.money import base_units_to_coins

if TYPE_CHECKING:  # imported where used, so `verify` never loads web3
    from settlement.chain.client import ChainClient
    from settlement.reconcile import Break


@dataclass(frozen=True)
class Subcommand:
    target: str  # "package.module:function", function(argv: list[str]) -> exit code
    help: str


SUBCOMMANDS: dict[str, Subcommand] = {
    "index": Subcommand("settlement.cli:index_command", "mirror chain events into the ledger up to the head"),
    "reconcile": Subcommand(
        "settlement.cli:reconcile_command", "index, then compare ledger and chain; exit 1 on a break"
    ),
    "verify": Subcommand("settlement.cli:verify_command", "check the journal's hash chain; exit 1 on any problem"),
}

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m settlement", description="Operator commands over ledger and chain."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    for name, sub in SUBCOMMANDS.items():
        commands.add_parser(name, help=sub.help, add_help=False)  # the command parses its own options
    args, rest = parser.parse_known_args(argv)
    handler = _load(SUBCOMMANDS[args.command].target)
    try:
        return handler(rest)
    except SettlementError as exc:
        print(f"error ({exc.code}): {exc.detail}", file=sys.stderr)
        return EXIT_ERROR


def _load(target: str) -> Callable[[list[str]], int]:
    module_name, _, function = target.partition(":")
    handler: Callable[[list[str]], int] = getattr(importlib.import_module(module_name), function)
    return handler


# ---------------------------------------------------------------------------- wiring


def open_ledger(settings: Settings) -> Engine:
    from settlement.ledger.schema import open_database

    return open_database(settings.resolved_database_url())


def open_chain(settings: Settings) -> ChainClient:
    """The ChainClient for the deployment in the manifest, at settings.rpc_url or the manifest's."""
    from settlement.chain.client import ChainClient
    from settlement.manifest import DeploymentManifest

    manifest = DeploymentManifest.load(settings.manifest_path())
    return ChainClient.from_manifest(manifest, settings.rpc_url)


def _index(settings: Settings, engine: Engine) -> tuple[ChainClient, str]:
    from settlement.indexer import Indexer
    from settlement.ledger.journal_store import JournalStore

    chain = open_chain(settings)
    result = Indexer(
        chain,
        engine,
        JournalStore(engine),
        confirmation_depth=settings.confirmation_depth,
        chunk_blocks=settings.indexer_chunk_blocks,
        reorg_window_blocks=settings.reorg_window_blocks,
    ).run_until_head()
    if result.to_block < result.from_block:
        summary = f"index already at block {result.to_block}"
    else:
        summary = f"indexed blocks {result.from_block}..{result.to_block}: {result.events_applied} logs applied"
    if result.reorged_blocks:
        summary += f"; undid a reorg of {result.reorged_blocks} block(s)"
    return chain, summary


# ---------------------------------------------------------------------------- commands


def index_command(argv: list[str]) -> int:
    argparse.ArgumentParser(prog="python -m settlement index", description=SUBCOMMANDS["index"].help).parse_args(argv)
    settings = get_settings()
    engine = open_ledger(settings)
    try:
        _, summary = _index(settings, engine)
    finally:
        engine.dispose()
    print(summary)
    return EXIT_OK


def reconcile_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m settlement reconcile", description=SUBCOMMANDS["reconcile"].help)
    parser.add_argument("--block", type=int, help="reconcile at this block (default: the indexer's cursor)")
    parser.add_argument("--no-index", action="store_true", help="do not run the indexer first")
    args = parser.parse_args(argv)

    from settlement.reconcile import reconcile

    settings = get_settings()
    engine = open_ledger(settings)
    try:
        if args.no_index:
            chain = open_chain(settings)
        else:
            chain, summary = _index(settings, engine)
            print(summary)
        report = reconcile(chain, engine, args.block)
    finally:
        engine.dispose()
    if report.balanced:
        print(f"reconciled at block {report.block_number}: balanced ({report.checks} checks)")
        return EXIT_OK
    print(
        f"reconciled at block {report.block_number}: {len(report.breaks)} break(s) in {report.checks} checks"
        " (amounts in coins)"
    )
    print(render_table(report.breaks))
    return EXIT_FINDINGS


def verify_command(argv: list[str]) -> int:
    argparse.ArgumentParser(prog="python -m settlement verify", description=SUBCOMMANDS["verify"].help).parse_args(argv)
    from settlement.ledger.journal_store import JournalStore

    engine = open_ledger(get_settings())
    try:
        result = JournalStore(engine).verify()
    finally:
        engine.dispose()
    if result.ok:
        print(f"journal verified: {result.entries} entries, head {result.head_hash}")
        return EXIT_OK
    print(f"journal FAILED verification: {len(result.problems)} problem(s) in {result.entries} entries")
    for seq, message in result.problems:
        print(f"  seq {seq}: {message}")
    return EXIT_FINDINGS


def render_table(breaks: Sequence[Break]) -> str:
    """Breaks as an aligned text table; amounts in coins (6 decimals), exact."""
    header = ("KIND", "ACCOUNT", "ON CHAIN", "LEDGER", "DIFFERENCE", "DETAIL")
    rows = [header]
    for item in breaks:
        rows.append(
            (
                item.kind,
                item.account,
                "-" if item.on_chain is None else str(base_units_to_coins(item.on_chain)),
                str(base_units_to_coins(item.ledger)),
                "-" if item.difference is None else str(base_units_to_coins(item.difference)),
                item.detail,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    right = {2, 3, 4}
    lines = []
    for row in rows:
        cells = [cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        lines.append("  ".join([*cells, row[-1]]))
    return "\n".join(lines)
