"""A serving process collects less often, and still collects (api/gc_tuning.py says why)."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import gc, json
from settlement.api.gc_tuning import YOUNG_ALLOCATIONS_MAX, tune_for_serving
before = gc.get_threshold()
tune_for_serving()
print(json.dumps({"before": before, "after": gc.get_threshold(), "frozen": gc.get_freeze_count(),
                  "enabled": gc.isenabled(), "young_max": YOUNG_ALLOCATIONS_MAX}))
"""


def test_tune_for_serving_freezesStartupAndRaisesThresholds_butKeepsCollecting() -> None:
    # In a process of its own: the test process's collector is not this test's to change.
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True)
    probe = json.loads(done.stdout)
    assert probe["after"][0] == probe["young_max"] > probe["before"][0]
    assert probe["frozen"] > 0  # what startup made is no longer walked
    assert probe["enabled"] is True  # cycles are still collected: never gc.disable()
