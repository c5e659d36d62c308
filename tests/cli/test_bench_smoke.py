"""`make bench --quick` as CI's smoke test: every scenario runs end to end on its own anvil, the
results file has the keys the issue names, and the run leaves no temporary files behind. The
figures themselves are the benchmark's business, not a test's (this machine is shared)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.chain

REPO = Path(__file__).resolve().parents[2]
QUICK_TIMEOUT_S = 300


def test_bench_quick_runs_every_scenario_and_writes_its_results(tmp_path: Path) -> None:
    output = tmp_path / "bench-results.json"
    before = set(Path(tempfile.gettempdir()).glob("settlement-bench-*"))
    done = subprocess.run(
        [sys.executable, "-m", "tools.bench", "--quick", "--output", str(output)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=QUICK_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert str(output) in done.stdout  # the path is printed
    results = json.loads(output.read_text())
    assert results["machine"]
    scenarios = results["scenarios"]
    for name, keys in {
        "net": (
            "trades",
            "brokers",
            "trades_per_s",
            "p99_settle_latency_s",
            "settlement_txs",
            "gas_per_trade",
            "liquidity_saved_ratio",
        ),
        "gross": ("trades", "trades_per_s", "txs_per_trade", "gas_per_trade"),
        "naive": ("trades", "trades_per_s"),
        "chain_limit": ("trades_per_s",),
    }.items():
        assert set(keys) <= scenarios[name].keys(), (name, scenarios[name])
        assert all(scenarios[name][key] is not None for key in keys), scenarios[name]
    assert scenarios["net"]["settlement_txs"] == scenarios["net"]["windows"]  # one per window
    assert scenarios["net"]["balanced"] is True
    assert set(Path(tempfile.gettempdir()).glob("settlement-bench-*")) <= before  # cleaned up
