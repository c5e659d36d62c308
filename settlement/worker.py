"""The background settlement worker: runs cycles until stopped, woken early by new work.

Kept apart from the service so the service stays a door: it decides nothing about threads,
ticks or backoff, and the worker decides nothing about trades.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

log = logging.getLogger(__name__)

ERROR_BACKOFF_S = 2.0
STOP_TIMEOUT_S = 30.0


@dataclass
class WorkerHealth:
    last_cycle_at: datetime | None = None
    last_error: str | None = None


class SettlementWorker:
    def __init__(self, run_cycle: Callable[[], object], tick_s: float) -> None:
        self._run_cycle = run_cycle
        self.tick_s = tick_s
        self.health = WorkerHealth()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def cycle_done(self) -> None:
        self.health.last_cycle_at = datetime.now(UTC)

    def wake(self) -> None:
        """New work arrived (a trade, a confirm, a cancel): run a cycle now rather than at the tick."""
        self._wake.set()

    @property
    def started(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="settlement-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=STOP_TIMEOUT_S)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._run_cycle()
                self.health.last_error = None
            except Exception as exc:  # keep serving; the health endpoint shows the error
                log.exception("settlement cycle failed")
                self.health.last_error = f"{type(exc).__name__}: {exc}"
                self._stop.wait(ERROR_BACKOFF_S)
            self._wake.wait(self.tick_s)
            self._wake.clear()
