"""Webhook retries: exponential backoff up to a cap, for a bounded period, then parked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from settlement.domain.delivery import RetryPolicy

QUEUED = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = RetryPolicy(first_delay_s=1, delay_max_s=3_600, period_s=86_400)


def test_the_delay_doubles_up_to_the_cap() -> None:
    assert [POLICY.delay_s(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 32, 64]
    assert POLICY.delay_s(13) == 3_600 and POLICY.delay_s(10_000) == 3_600


def test_retries_cover_the_period_then_park() -> None:
    now, attempts = QUEUED, 0
    while True:
        attempts += 1
        retry_at = POLICY.next_attempt_at(attempts, QUEUED, now)
        if retry_at is None:
            break
        assert retry_at > now
        now = retry_at
    assert QUEUED + timedelta(hours=23) < now <= QUEUED + timedelta(hours=24)
    assert 30 < attempts < 40  # 12 doublings to the hour, then hourly


def test_a_replayed_delivery_gets_a_fresh_period() -> None:
    late = QUEUED + timedelta(days=3)
    assert POLICY.next_attempt_at(1, QUEUED, late) is None
    assert POLICY.next_attempt_at(1, late, late) == late + timedelta(seconds=1)
