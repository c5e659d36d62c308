"""Measures the pytest plugin's per-test overhead after session setup.

Runs an outside project's suite of N trivial tests (one health request each, through
`settlement_client`) in a fresh pytest process and records each test's setup + call + teardown.
The first test carries the session setup (anvil, deploy, template database) and is left out; the
median of the others is what each further test costs: a fresh service and database, the API
bound to it, the chain snapshot and revert.

    .venv/bin/python -m tools.harness_overhead [--tests 21]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from settlement.config import PROJECT_ROOT

TRIVIAL_TESTS = """
import pytest


@pytest.mark.parametrize("i", range({count}))
def test_trivial(settlement_client, i):
    assert settlement_client().get("/v1/health").status_code == 200
"""
# Only for this measurement: each phase's duration, as pytest measured it, into a JSON file.
RECORDER = """
import json
import os

DURATIONS = {}


def pytest_runtest_logreport(report):
    DURATIONS[report.nodeid] = DURATIONS.get(report.nodeid, 0.0) + report.duration


def pytest_sessionfinish(session):
    with open(os.environ["OVERHEAD_RECORD"], "w") as out:
        json.dump(DURATIONS, out)
"""
RUN_TIMEOUT_S = 900


def per_test_seconds(count: int) -> list[float]:
    """Setup + call + teardown of each test after the first, in order."""
    with tempfile.TemporaryDirectory(prefix="settlement-overhead-") as folder:
        Path(folder, "test_trivial.py").write_text(TRIVIAL_TESTS.format(count=count))
        Path(folder, "conftest.py").write_text(RECORDER)
        record = Path(folder, "durations.json")
        env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "OVERHEAD_RECORD": str(record)}
        subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
            cwd=folder,
            env=env,
            check=True,
            capture_output=True,
            timeout=RUN_TIMEOUT_S,
        )
        durations: dict[str, float] = json.loads(record.read_text())
        return list(durations.values())[1:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tests", type=int, default=21, help="tests in the suite (at least 2)")
    seconds = per_test_seconds(max(2, parser.parse_args().tests))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"per test after the first ({len(seconds)} tests): median {statistics.median(seconds):.2f} s, "
        f"min {min(seconds):.2f} s, max {max(seconds):.2f} s"
    )
    print(f"machine: {os.cpu_count()} cores, load average {load}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
