"""Failed-authentication throttle: a client (by peer IP) that keeps sending wrong keys is told to
wait, with 429 and Retry-After, before its key is even looked at.

A sliding window per client: after `failures_max` failures within `window_s`, requests are
refused until the oldest of them leaves the window; a guesser gets at most `failures_max` tries
per window. A successful call does not reset the count (a client holding one valid key must not
be able to keep guessing others). The peer IP is the socket's: behind a reverse proxy every
client shares the proxy's address, so throttle at the proxy there. Memory is bounded: at most
`clients_max` clients are tracked, the least recently failing forgotten first.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

CLIENTS_MAX = 10_000


class FailedAuthThrottle:
    def __init__(
        self,
        failures_max: int,
        window_s: float,
        *,
        clients_max: int = CLIENTS_MAX,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures_max = failures_max
        self.window_s = window_s
        self.clients_max = clients_max
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after_s(self, client: str) -> int | None:
        """Whole seconds this client must wait before its key is checked again; None if it may go on."""
        with self._lock:
            failures = self._failures.get(client)
            if failures is None or len(failures) < self.failures_max:
                return None
            wait_s = failures[0] + self.window_s - self._clock()
            return math.ceil(wait_s) if wait_s > 0 else None

    def failed(self, client: str) -> None:
        with self._lock:
            failures = self._failures.pop(client, None) or deque(maxlen=self.failures_max)
            failures.append(self._clock())
            self._failures[client] = failures  # most recently failing last
            while len(self._failures) > self.clients_max:
                self._failures.popitem(last=False)
