"""The background settlement worker: runs cycles until stopped, woken early by new work, and only
while it holds the ledger's worker lease (settlement/ledger/worker_lease.py).

Kept apart from the service so the service stays a door: it decides nothing about threads,
ticks, leases or backoff, and the worker decides nothing about trades.

Three threads: the keeper takes the lease (every second while on standby) and renews it, so a
long cycle never lets it lapse; the loop runs cycles while the keeper says the lease is ours,
first running `on_active` (crash recovery) each time it becomes ours; the follower (when given)
mirrors the chain into the ledger beside the cycles, also only while the lease is ours, so one
cycle's sends overlap the last one's indexing. All wait on events, so stop() returns within
moments unless a cycle or an indexing run is mid-flight (that one is finished first).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from settlement.ledger.worker_lease import WorkerLease

log = logging.getLogger(__name__)

ERROR_BACKOFF_S = 2.0
STOP_TIMEOUT_S = 30.0  # an upper bound for a cycle in flight at stop(); an idle worker stops at once
STANDBY_RETRY_S = 1.0  # how often a standby tries to take the lease
RENEW_INTERVAL_MAX_S = 1.0


@dataclass
class WorkerHealth:
    last_cycle_at: datetime | None = None
    last_error: str | None = None  # the last cycle's, cleared by a cycle that succeeds
    follow_error: str | None = None  # the last indexing run's, cleared by one that succeeds

    @property
    def error_class(self) -> str | None:
        """The class of the last cycle's or indexing run's error, for /v1/health: details (hosts,
        SQL) stay in the server log."""
        return _error_class(self.last_error or self.follow_error)

    @property
    def cycle_error_class(self) -> str | None:
        """The last cycle's error class only: what stops trades from settling (intake refuses new
        ones while it is set, and the lease row tells standbys). A failed indexing run does not:
        the ledger catches up when it next succeeds."""
        return _error_class(self.last_error)


def _error_class(error: str | None) -> str | None:
    return error.split(":", 1)[0] if error else None


class SettlementWorker:
    def __init__(
        self,
        run_cycle: Callable[[], bool],
        tick_s: float,
        lease: WorkerLease,
        on_active: Callable[[], object] = lambda: None,
        follow: Callable[[], bool] | None = None,
    ) -> None:
        """`run_cycle` runs one settlement cycle and `follow` one step of indexing; each says
        whether there is more to do at once (else its thread waits for the tick or a wake)."""
        self._run_cycle = run_cycle
        self._on_active = on_active
        self._follow = follow
        self.tick_s = tick_s
        self.lease = lease
        self.health = WorkerHealth()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._follow_wake = threading.Event()
        self._active = threading.Event()  # the keeper holds the lease
        self._recovery_due = threading.Event()  # the lease was (re)taken: recover before the next cycle
        self._thread: threading.Thread | None = None
        self._keeper: threading.Thread | None = None
        self._follower: threading.Thread | None = None

    def cycle_done(self) -> None:
        self.health.last_cycle_at = datetime.now(UTC)

    def wake(self) -> None:
        """New work arrived (a trade, a confirm, a cancel), or the chain is back: run a cycle and
        an indexing step now rather than at the tick or after an error's backoff."""
        self._wake.set()
        self._follow_wake.set()

    @property
    def started(self) -> bool:
        return self._thread is not None

    @property
    def active(self) -> bool:
        """Running cycles: started and holding the lease (else a standby)."""
        return self.started and self._active.is_set()

    def start(self) -> None:
        """Try the lease once right away, so a lone server is active (and recovered) when this returns;
        a recovery error then propagates as before. Otherwise the worker starts as a standby."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._wake.clear()
        self._recovery_due.clear()
        if self.lease.hold():
            try:
                self._on_active()
            except BaseException:
                self.lease.release()
                raise
            self._active.set()
        else:
            log.info("settlement worker on standby: another server holds this ledger's worker lease")
        self._keeper = threading.Thread(target=self._keep_lease, name="settlement-lease", daemon=True)
        self._thread = threading.Thread(target=self._loop, name="settlement-worker", daemon=True)
        if self._follow is not None:
            self._follower = threading.Thread(target=self._follow_loop, name="settlement-indexer", daemon=True)
            self._follower.start()
        self._keeper.start()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._follow_wake.set()
        for thread in (self._thread, self._follower, self._keeper):
            if thread is not None:
                thread.join(timeout=STOP_TIMEOUT_S)
        still_cycling = any(t is not None and t.is_alive() for t in (self._thread, self._follower))
        self._thread = self._keeper = self._follower = None
        self._active.clear()
        if still_cycling:  # releasing now would let a standby start a cycle beside this one
            log.warning("settlement worker still mid-cycle after %ss; its lease lapses on its own", STOP_TIMEOUT_S)
            return
        self.lease.release()

    def _keep_lease(self) -> None:
        renew_s = min(RENEW_INTERVAL_MAX_S, self.lease.ttl_s / 3)
        while not self._stop.wait(renew_s if self._active.is_set() else STANDBY_RETRY_S):
            held = self.lease.hold(self.health.cycle_error_class)
            if held and not self._active.is_set():
                log.info("settlement worker active: took this ledger's worker lease")
                self._recovery_due.set()
                self._active.set()
                self._wake.set()
            elif not held and self._active.is_set():
                log.warning("settlement worker lost this ledger's worker lease: on standby")
                self._active.clear()

    def _loop(self) -> None:
        while not self._stop.is_set():
            more = False
            if self._active.is_set():
                try:
                    if self._recovery_due.is_set():
                        self._recovery_due.clear()
                        try:
                            self._on_active()
                        except BaseException:
                            self._recovery_due.set()
                            raise
                    more = self._run_cycle()
                    self.health.last_error = None
                except Exception as exc:  # keep serving; the health endpoint shows the error
                    log.exception("settlement cycle failed")
                    self.health.last_error = f"{type(exc).__name__}: {exc}"
                    self._stop.wait(ERROR_BACKOFF_S)
            if not more:
                self._wake.wait(self.tick_s)
                self._wake.clear()

    def _follow_loop(self) -> None:
        assert self._follow is not None
        while not self._stop.is_set():
            wait_s = self.tick_s
            if self._active.is_set():
                try:
                    if self._follow():
                        wait_s = 0.0  # more confirmed blocks to apply
                    self.health.follow_error = None
                except Exception as exc:  # keep serving; the health endpoint shows the error
                    log.exception("indexing the chain failed")
                    self.health.follow_error = f"{type(exc).__name__}: {exc}"
                    wait_s = ERROR_BACKOFF_S
            if wait_s:
                self._follow_wake.wait(wait_s)
                self._follow_wake.clear()
