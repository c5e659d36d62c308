"""Starting through a transient outage: a chain or database that is briefly unreachable while
the service starts is retried with bounded exponential backoff, one clear log line per failed
attempt, instead of ending the process at the first dropped call.

Only outages are retried (no answer from the RPC endpoint, a database locked or unreachable); a
wrong manifest, an unsafe setting or a ledger of another chain fails at once. When the budget
(SETTLEMENT_STARTUP_RETRY_S) is spent, the last error is raised for the entry point to print as
one line (exit code 2).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import requests

from settlement.errors import ChainUnavailable, DatabaseUnavailable
from settlement.ledger.outage import database_unavailable
from settlement.redaction import redact_url

log = logging.getLogger(__name__)

T = TypeVar("T")

FIRST_DELAY_S = 1.0
DELAY_MAX_S = 15.0


def outage(exc: BaseException, rpc_url: str, database_url: str) -> str | None:
    """What is unreachable ("chain unreachable at http://host:port"), or None if `exc` is no outage."""
    if isinstance(exc, ChainUnavailable | requests.exceptions.ConnectionError | requests.exceptions.Timeout):
        return f"chain unreachable at {redact_url(rpc_url)}"
    if isinstance(exc, DatabaseUnavailable) or database_unavailable(exc) is not None:
        return f"database unavailable at {redact_url(database_url)}"
    return None


def with_retries(
    step: Callable[[], T],
    *,
    budget_s: float,
    rpc_url: str,
    database_url: str,
    sleep: Callable[[float], None] = time.sleep,
    on_outage: Callable[[str], None] | None = None,
) -> T:
    """Run `step`, again after 1, 2, 4 … s (at most 15 s apart) while it fails with an outage and
    the budget lasts; returns its result, or raises its last error. `on_outage` hears what is
    unreachable before each wait (the API serves a degraded health meanwhile)."""
    deadline = time.monotonic() + budget_s
    delay_s = FIRST_DELAY_S
    while True:
        try:
            return step()
        except Exception as exc:
            what = outage(exc, rpc_url, database_url)
            remaining_s = deadline - time.monotonic()
            if what is None or remaining_s <= 0:
                raise
            wait_s = min(delay_s, remaining_s)
            log.warning("%s: retrying in %s s", what, f"{round(wait_s, 1):g}")
            if on_outage is not None:
                on_outage(what)
            sleep(wait_s)
            delay_s = min(delay_s * 2, DELAY_MAX_S)
