"""The event log and the webhook outbox on both backends: increasing ids, claims that are never
taken twice, backoff, parking and replay."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine

from settlement.domain.delivery import DeliveryStatus, RetryPolicy
from settlement.errors import DeliveryNotReplayable, NotFound
from settlement.event_log import EventLog
from settlement.views import TradeEvent

FAST = RetryPolicy(first_delay_s=0.01, delay_max_s=0.05, period_s=60)


def event(n: int, status: str = "LOCKED") -> TradeEvent:
    return TradeEvent(f"trade-{n}", status, "buyer", "seller", "0xabc", None, datetime(2026, 1, 1, 8, n, tzinfo=UTC))


def outbox(engine: Engine, *, webhooks: bool = True, retry: RetryPolicy = FAST) -> EventLog:
    return EventLog(engine, webhooks=webhooks, retry=retry, claim_lease_s=30)


def test_events_get_increasing_ids_and_read_back_whole(engine: Engine) -> None:
    log = outbox(engine, webhooks=False)
    recorded = [log.record(event(n)) for n in range(5)]
    ids = [e.event_id for e in recorded if e.event_id is not None]
    assert len(ids) == 5 and ids == sorted(ids) and len(set(ids)) == 5
    assert log.events_after(0, 100) == recorded
    assert log.events_after(ids[2], 100) == recorded[3:]
    assert log.events_after(ids[0], 2) == recorded[1:3]
    assert log.claim_due(10) == []  # no webhook URL: nothing queued


def test_a_batch_of_events_gets_the_ids_its_rows_were_stored_under_in_order(engine: Engine) -> None:
    """record_many (a batch submission, a settled window): one insert, and each event's id is the
    id its row has, in the events' order, between single records on either side."""
    log = outbox(engine)
    before = log.record(event(0))
    batch = log.record_many([event(n, "SETTLED") for n in range(1, 40)])
    after = log.record(event(40))
    assert [e.trade_id for e in batch] == [f"trade-{n}" for n in range(1, 40)]
    assert log.events_after(0, 100) == [before, *batch, after]
    assert len(log.claim_due(100)) == 41  # each one's webhook delivery queued
    assert log.record_many([]) == []


def test_a_delivery_is_claimed_once_retried_with_backoff_then_delivered(engine: Engine) -> None:
    log = outbox(engine)
    recorded = log.record(event(1))
    first = log.claim_due(10)
    assert [(d.event, d.attempts, d.status) for d in first] == [(recorded, 1, DeliveryStatus.PENDING)]
    assert log.claim_due(10) == []  # claimed: leased, not due
    failed = log.failed(first[0].id, "HTTP 503")
    assert failed.status is DeliveryStatus.PENDING and failed.last_error == "HTTP 503"
    time.sleep(0.05)
    second = log.claim_due(10)
    assert [(d.id, d.attempts) for d in second] == [(first[0].id, 2)]
    log.delivered(first[0].id)
    [done] = log.deliveries(DeliveryStatus.DELIVERED, None, 10)
    assert done.id == first[0].id and done.delivered_at is not None and done.last_error is None


def test_concurrent_dispatchers_never_claim_the_same_attempt(engine: Engine) -> None:
    log = outbox(engine)
    for n in range(20):
        log.record(event(n))
    claimed: list[str] = []
    lock = threading.Lock()

    def dispatcher() -> None:
        other = outbox(engine)
        for _ in range(5):
            got = other.claim_due(4)
            with lock:
                claimed.extend(d.id for d in got)

    workers = [threading.Thread(target=dispatcher) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(claimed) == 20 and len(set(claimed)) == 20


def test_past_the_period_a_delivery_is_parked_and_a_replay_queues_it_afresh(engine: Engine) -> None:
    log = outbox(engine, retry=RetryPolicy(first_delay_s=0.01, delay_max_s=0.01, period_s=0.0))
    log.record(event(1))
    [claimed] = log.claim_due(10)
    parked = log.failed(claimed.id, "ConnectError: connection refused")
    assert parked.status is DeliveryStatus.PARKED
    assert log.claim_due(10) == []
    assert [d.id for d in log.deliveries(DeliveryStatus.PARKED, None, 10)] == [claimed.id]

    replayed = log.replay(claimed.id)
    assert (replayed.status, replayed.attempts, replayed.last_error) == (DeliveryStatus.PENDING, 0, None)
    with pytest.raises(DeliveryNotReplayable):
        log.replay(claimed.id)
    with pytest.raises(NotFound):
        log.replay("no-such-delivery")
    assert [d.id for d in log.claim_due(10)] == [claimed.id]


def test_deliveries_page_in_event_order(engine: Engine) -> None:
    log = outbox(engine)
    ids = [log.record(event(n)).event_id for n in range(5)]
    page = log.deliveries(None, None, 2)
    assert [d.event.event_id for d in page] == ids[:2]
    assert [d.event.event_id for d in log.deliveries(None, ids[1], 10)] == ids[2:]
    assert log.deliveries(DeliveryStatus.DELIVERED, None, 10) == []
