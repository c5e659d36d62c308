"""The worker's settlement loop on a real lease: a cycle that says there is more to do (a window
settled, the next may be due) is followed by the next at once; one that says not waits for the tick."""

from __future__ import annotations

import threading
import time

from sqlalchemy.engine import Engine

from settlement.ledger.worker_lease import WorkerLease
from settlement.worker import SettlementWorker

TICK_S = 60.0  # far beyond the test: a cycle that ran again within it did not wait for the tick
QUIET_S = 0.5
RUNS_MAX_S = 10.0


def test_a_cycle_with_more_to_do_is_followed_at_once_and_one_without_waits_for_the_tick(engine: Engine) -> None:
    runs: list[float] = []
    third_run = threading.Event()

    def cycle() -> bool:
        runs.append(time.monotonic())
        if len(runs) == 3:
            third_run.set()
        return len(runs) < 3  # the first two settled a window; the third did not

    worker = SettlementWorker(cycle, TICK_S, WorkerLease(engine, ttl_s=5.0))
    worker.start()
    try:
        assert third_run.wait(RUNS_MAX_S), f"only {len(runs)} cycles ran"
        time.sleep(QUIET_S)
        assert len(runs) == 3  # the third said nothing more: the worker now waits for the 60 s tick
    finally:
        worker.stop()
