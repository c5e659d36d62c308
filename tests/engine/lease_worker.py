"""A settlement server's worker in its own process, for test_worker_lease.py to SIGKILL.

`python -m tests.engine.lease_worker`: starts the service (so it takes the ledger's worker lease),
runs its first cycle, prints READY and then idles until killed. Settings come from SETTLEMENT_*
env vars, exactly as a server would read them.
"""

from __future__ import annotations

import sys
import time

from settlement.config import Settings
from settlement.service import SettlementService

READY = "READY"
FIRST_CYCLE_TIMEOUT_S = 60.0
IDLE_S = 3_600.0


def main() -> int:
    service = SettlementService(Settings())
    service.start()
    deadline = time.monotonic() + FIRST_CYCLE_TIMEOUT_S
    while service.worker.health.last_cycle_at is None:
        if time.monotonic() > deadline:
            print(f"no cycle within {FIRST_CYCLE_TIMEOUT_S}s", file=sys.stderr)
            return 1
        time.sleep(0.05)
    print(READY if service.worker.active else "STANDBY", flush=True)
    time.sleep(IDLE_S)  # the test kills this process long before
    return 0


if __name__ == "__main__":
    sys.exit(main())
