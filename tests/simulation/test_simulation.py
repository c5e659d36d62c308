"""A few short seeded fault runs in `make test`; `make chaos SEED=… OPS=…` runs long ones.

Each seed starts its own anvil, proxy and service process (nothing shared with the session
devnet), runs its operations and faults, heals, and checks the invariants from the chain.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.simulation.runner import run

pytestmark = [pytest.mark.chain, pytest.mark.slow]

SHORT_OPS = 40
# Seeds that hold on today's code. Seeds 2, 3, 5, 6 and 7 (40 ops) break invariants through
# reorgs and reverts that the sender does not follow yet: add them here once it does.
SEEDS = [1, 8, 9]


@pytest.mark.parametrize("seed", SEEDS)
def test_seeded_faults_break_no_invariant(seed: int, tmp_path: Path) -> None:
    summary = run(seed, SHORT_OPS, tmp_path / f"chaos-{seed}")
    assert summary.ok, summary.report()
    assert summary.trades > 0, summary.report()  # the run did something worth checking
