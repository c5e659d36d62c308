"""`python -m settlement <command>`: operator commands over the ledger and the chain.

Adding a command is one line in SUBCOMMANDS: a name, "module:function" and a help text. The
function receives the arguments after the command name and returns the exit code; modules are
imported only when their command runs, so one command's dependencies never slow another.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from settlement.config import Settings, get_settings
from settlement.entrypoint import CommandHelpFormatter, run_command
from settlement.money import base_units_to_coins
from settlement.text_table import render_table

if TYPE_CHECKING:  # imported where used, so `--help` stays fast
    from settlement.reconcile import Break
    from settlement.service import SettlementService


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
    "verify-proof": Subcommand(
        "settlement.proof_cli:verify_proof_command", "check a trade's window proof on chain; exit 1 if not included"
    ),
}

EXIT_OK, EXIT_FINDINGS = 0, 1


def main(argv: Sequence[str] | None = None) -> int:
    """Errors the operator can fix are one line and exit code 2 (settlement/entrypoint.py)."""
    return run_command(lambda: _main(argv))


def _main(argv: Sequence[str] | None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m settlement",
        description="Operator commands over ledger and chain.",
        formatter_class=CommandHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    for name, sub in SUBCOMMANDS.items():
        commands.add_parser(name, help=sub.help, add_help=False)  # the command parses its own options
    args, rest = parser.parse_known_args(argv)
    handler = _load(SUBCOMMANDS[args.command].target)
    return handler(rest)


def _load(target: str) -> Callable[[list[str]], int]:
    module_name, _, function = target.partition(":")
    handler: Callable[[list[str]], int] = getattr(importlib.import_module(module_name), function)
    return handler


# ---------------------------------------------------------------------------- wiring


def open_service(settings: Settings) -> SettlementService:
    """The one door: the CLI calls the same service as the API, as the operator."""
    from settlement.service import SettlementService

    return SettlementService(settings)


def _index(service: SettlementService) -> str:
    result = service.index()
    if result.to_block < result.from_block:
        summary = f"index already at block {result.to_block}"
    else:
        summary = f"indexed blocks {result.from_block}..{result.to_block}: {result.events_applied} logs applied"
    if result.reorged_blocks:
        summary += f"; undid a reorg of {result.reorged_blocks} block(s)"
    return summary


# ---------------------------------------------------------------------------- commands


def index_command(argv: list[str]) -> int:
    argparse.ArgumentParser(prog="python -m settlement index", description=SUBCOMMANDS["index"].help).parse_args(argv)
    service = open_service(get_settings())
    try:
        print(_index(service))
    finally:
        service.close()
    return EXIT_OK


def reconcile_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m settlement reconcile", description=SUBCOMMANDS["reconcile"].help)
    parser.add_argument("--block", type=int, help="reconcile at this block (default: the indexer's cursor)")
    parser.add_argument("--no-index", action="store_true", help="do not run the indexer first")
    args = parser.parse_args(argv)

    from settlement.domain.access import Actor

    service = open_service(get_settings())
    try:
        if not args.no_index:
            print(_index(service))
        report = service.reconcile(Actor.operator(), block=args.block, index_first=False)
    finally:
        service.close()
    if report.balanced:
        print(f"reconciled at block {report.block_number}: balanced ({report.checks} checks)")
        return EXIT_OK
    print(
        f"reconciled at block {report.block_number}: {len(report.breaks)} break(s) in {report.checks} checks"
        " (amounts in coins)"
    )
    print(breaks_table(report.breaks))
    return EXIT_FINDINGS


def verify_command(argv: list[str]) -> int:
    argparse.ArgumentParser(prog="python -m settlement verify", description=SUBCOMMANDS["verify"].help).parse_args(argv)
    from settlement.domain.access import Actor

    service = open_service(get_settings())
    try:
        result = service.verify_journal(Actor.operator())
    finally:
        service.close()
    if result.ok:
        print(f"journal verified: {result.entries} entries, head {result.head_hash}")
        latest = result.latest_anchor
        if latest is None:
            print("no on-chain anchor yet: only the hash chain vouches for the entries")
        else:
            print(
                f"{result.anchors_checked} on-chain anchor(s) match; entries up to seq {latest.sequence} are as anchored"
            )
        return EXIT_OK
    print(f"journal FAILED verification: {len(result.problems)} problem(s) in {result.entries} entries")
    for seq, message in result.problems:
        print(f"  seq {seq}: {message}")
    return EXIT_FINDINGS


def breaks_table(breaks: Sequence[Break]) -> str:
    """Breaks as an aligned text table; amounts in coins (6 decimals), exact."""
    rows = [
        [
            item.kind,
            item.account,
            "-" if item.on_chain is None else str(base_units_to_coins(item.on_chain)),
            str(base_units_to_coins(item.ledger)),
            "-" if item.difference is None else str(base_units_to_coins(item.difference)),
            item.detail,
        ]
        for item in breaks
    ]
    return render_table(["KIND", "ACCOUNT", "ON CHAIN", "LEDGER", "DIFFERENCE", "DETAIL"], rows, {2, 3, 4})
