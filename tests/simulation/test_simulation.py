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
# Every fault kind (SIGKILL, proxy noise, swallowed sends, anvil restart, evm_revert, reorgs).
# These seeds broke the service before the sender followed reorgs and trades were realigned
# from the chain: seed 2 lost an acknowledged mint to a reorg, 3 and 10 left trades the chain
# contradicted. They must hold now.
SEEDS = [2, 3, 10]


@pytest.mark.parametrize("seed", SEEDS)
def test_seeded_faults_break_no_invariant(seed: int, tmp_path: Path) -> None:
    summary = run(seed, SHORT_OPS, tmp_path / f"chaos-{seed}")
    assert summary.ok, summary.report()
    assert summary.trades > 0, summary.report()  # the run did something worth checking
