"""Webhook delivery: its statuses and when a failed attempt is tried again.

A receiver that is down for a while must not lose events, and must not be hammered either: each
failed attempt doubles the wait (up to a cap), for a bounded period counted from when the
delivery was queued. After that the delivery is parked: kept, listed for the operator, and sent
again only when replayed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    PARKED = "parked"


REPLAYABLE = frozenset({DeliveryStatus.PARKED, DeliveryStatus.DELIVERED})


@dataclass(frozen=True)
class RetryPolicy:
    first_delay_s: float
    delay_max_s: float
    period_s: float

    def delay_s(self, attempts: int) -> float:
        """The wait after the `attempts`-th failed attempt: first, twice that, four times, … up to the cap."""
        doublings = min(max(attempts - 1, 0), 62)  # 2**62 times any positive delay is past any cap
        return min(self.first_delay_s * (1 << doublings), self.delay_max_s)

    def next_attempt_at(self, attempts: int, queued_at: datetime, now: datetime) -> datetime | None:
        """When to try again after `attempts` failed attempts, or None to park: past the period."""
        at = now + timedelta(seconds=self.delay_s(attempts))
        if at > queued_at + timedelta(seconds=self.period_s):
            return None
        return at
