"""`python -m tests.simulation --seed N --ops M` (make chaos): one seeded fault run, one summary line.

Exit 0 when every invariant held, 1 otherwise (the violations and the command to reproduce follow
the summary line). Logs (ops, service, anvil) stay in --workdir, a fresh temporary folder by default.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from tests.simulation.runner import FAULT_KINDS, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.simulation", description=__doc__)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--ops", type=int, default=300)
    parser.add_argument(
        "--faults",
        default=",".join(FAULT_KINDS),
        help=f"comma-separated fault kinds to inject (default all: {','.join(FAULT_KINDS)})",
    )
    parser.add_argument("--workdir", type=Path, default=None, help="where logs go (kept)")
    parser.add_argument("--verbose", action="store_true", help="print each operation as it runs")
    args = parser.parse_args(argv)
    faults = frozenset(name for name in args.faults.split(",") if name)
    if unknown := faults - set(FAULT_KINDS):
        parser.error(f"unknown fault kinds: {', '.join(sorted(unknown))}")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix=f"chaos-{args.seed}-"))
    summary = run(args.seed, args.ops, workdir, faults=faults, verbose=args.verbose)
    print(summary.report())
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
