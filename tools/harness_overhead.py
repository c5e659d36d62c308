"""Measures the pytest plugin's per-test overhead after session setup.

Runs an outside project's suite of trivial tests (one health request each, through
`settlement_client`) twice, with 1 and with N tests, each in a fresh pytest process. The
difference divided by N-1 is what each further test costs: a fresh service and database, the
API bound to it, the chain snapshot and revert. Session setup (anvil, deploy, template
database) cancels out.

    .venv/bin/python -m tools.harness_overhead [--tests 21]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from settlement.config import PROJECT_ROOT

TRIVIAL_TESTS = """
import pytest


@pytest.mark.parametrize("i", range({count}))
def test_trivial(settlement_client, i):
    assert settlement_client().get("/v1/health").status_code == 200
"""
RUN_TIMEOUT_S = 900


def _suite_seconds(count: int) -> float:
    with tempfile.TemporaryDirectory(prefix="settlement-overhead-") as folder:
        Path(folder, "test_trivial.py").write_text(TRIVIAL_TESTS.format(count=count))
        env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
            cwd=folder,
            env=env,
            check=True,
            capture_output=True,
            timeout=RUN_TIMEOUT_S,
        )
        return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tests", type=int, default=21, help="tests in the long run (at least 2)")
    tests = max(2, parser.parse_args().tests)
    one = _suite_seconds(1)
    many = _suite_seconds(tests)
    per_test = (many - one) / (tests - 1)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"1 test: {one:.1f} s; {tests} tests: {many:.1f} s; per further test: {per_test:.2f} s")
    print(f"machine: {os.cpu_count()} cores, load average {load}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
