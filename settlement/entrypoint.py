"""What every command-line entry point shares (`python -m settlement.api`, `python -m settlement`,
`python -m settlement.devnet`): how a failure the operator can fix is said, and a quiet end when the
reader of stdout goes away.

A configuration or connection problem is one line on stderr naming the SETTLEMENT_* variable to
fix, and exit code 2; a traceback is kept for bugs. `cmd | head -1` ends without a BrokenPipeError
report. Libraries are looked up in sys.modules rather than imported: a command that never
touched the database cannot have failed in it, and `--help` stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from settlement.config import env_var
from settlement.errors import SettlementError
from settlement.redaction import describe_error

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # what a shell reports for a process ended by SIGPIPE


HELP_WIDTH = 100  # one line per command in --help, whatever the terminal says


class CommandHelpFormatter(argparse.HelpFormatter):
    """For every CLI's ArgumentParser: each command and its help on one line."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=28, width=HELP_WIDTH)
        # argparse sizes the name column from the options only, so a command name longer than
        # `-h, --help` would push its help to the next line; start the column wide enough.
        self._action_max_length = 20


def run_command(command: Callable[[], int]) -> int:
    """Run an entry point's body; returns its exit code, never raising for what the operator can fix."""
    try:
        try:
            code = command()
        except SystemExit as exc:  # argparse: --help, usage errors
            code = exit_code(exc.code)
        except KeyboardInterrupt:
            code = EXIT_INTERRUPTED
        except Exception as exc:
            lines = problem_lines(exc)
            if lines is None:
                raise
            for line in lines:
                print(line, file=sys.stderr)
            code = EXIT_ERROR
        sys.stdout.flush()  # inside the try: a closed pipe shows up here, not at interpreter exit
        return code
    except BrokenPipeError:
        _discard_stdout()
        return EXIT_BROKEN_PIPE


def problem_lines(exc: Exception) -> list[str] | None:
    """One line per problem the operator can fix, or None for a bug (which keeps its traceback)."""
    if isinstance(exc, SettlementError):
        setting = exc.context.get("setting")
        hint = f" (check {env_var(setting)})" if isinstance(setting, str) else ""
        return [f"error: {exc.detail}{hint}"]
    if isinstance(exc, ValidationError):
        return [_validation_line(exc.title, error) for error in exc.errors(include_input=False, include_url=False)]
    sa_exc = sys.modules.get("sqlalchemy.exc")
    if sa_exc is not None and isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        from settlement.ledger.schema import driver_message

        return [f"error: database error: {driver_message(exc)} (check {env_var('database_url')})"]
    requests_exc = sys.modules.get("requests.exceptions")
    if requests_exc is not None and isinstance(exc, requests_exc.ConnectionError | requests_exc.Timeout):
        return [f"error: the chain endpoint did not answer ({describe_error(exc)}) (check {env_var('rpc_url')})"]
    return None


def _validation_line(model: str, error: ErrorDetails) -> str:
    """A settings error names the variable; the rejected value is not echoed (it may be a secret)."""
    loc = ".".join(str(part) for part in error["loc"])
    message = error["msg"]
    if model == "Settings" and loc:
        return f"error: {env_var(loc.split('.')[0])} is invalid: {message}"
    return f"error: invalid {model}: {loc or 'value'}: {message}"


def exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)  # sys.exit("message") prints it and exits 1
    return 1


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so the flush at interpreter exit cannot fail a second time."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
