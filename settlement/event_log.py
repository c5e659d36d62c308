"""Durable trade events and the webhook outbox.

Every trade event is recorded (trade_event_log) as it is published, right after the state change
it reports was committed, and gets an increasing id: the event stream's `id:`, from which a
reconnecting client resumes. With a webhook URL configured, the same transaction queues a
delivery (webhook_delivery) that a dispatcher claims, sends and reports back on; failures are
retried by domain/delivery.py's policy, then parked until an operator replays them.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, insert, select, update
from sqlmodel.sql.expression import Select

from settlement import errors
from settlement.domain.delivery import REPLAYABLE, DeliveryStatus, RetryPolicy
from settlement.ledger.models import TradeEventRecord, WebhookDelivery, utcnow
from settlement.processing.publisher import TradeEvent

LAST_ERROR_MAX_CHARS = 500


@dataclass(frozen=True)
class DeliveryView:
    """A webhook delivery and the event it carries, as the dispatcher and the operator see it."""

    id: str
    event: TradeEvent
    status: DeliveryStatus
    attempts: int
    queued_at: datetime
    next_attempt_at: datetime
    last_error: str | None
    delivered_at: datetime | None


def _payload(event: TradeEvent) -> str:
    fields = {f.name: getattr(event, f.name) for f in dataclasses.fields(event) if f.name != "event_id"}
    return json.dumps(fields, default=lambda value: value.isoformat(), separators=(",", ":"))


def _event(record: TradeEventRecord) -> TradeEvent:
    fields: dict[str, Any] = json.loads(record.payload)
    fields["at"] = datetime.fromisoformat(fields["at"])
    known = {f.name for f in dataclasses.fields(TradeEvent)}
    return TradeEvent(**{k: v for k, v in fields.items() if k in known}, event_id=record.id)


class EventLog:
    def __init__(self, engine: Engine, *, webhooks: bool, retry: RetryPolicy, claim_lease_s: float) -> None:
        self.engine = engine
        self.webhooks = webhooks
        self.retry = retry
        self.claim_lease_s = claim_lease_s

    # ----------------------------------------------------------------- events

    def record(self, event: TradeEvent) -> TradeEvent:
        """Store the event (and queue its webhook delivery); returns it with its durable id.

        The publisher calls this one event at a time, so ids commit in increasing order: a client
        resuming after id N cannot miss an N-1 that committed later (a PostgreSQL sequence alone
        does not promise that).
        """
        now = utcnow()
        # Core statements on one connection: this runs for every event, and ORM objects cost a fifth more.
        with self.engine.begin() as connection:
            event_id = connection.execute(
                insert(TradeEventRecord).values(payload=_payload(event), at=now).returning(col(TradeEventRecord.id))
            ).scalar_one()
            assert event_id is not None  # the key the insert generated
            if self.webhooks:
                connection.execute(
                    insert(WebhookDelivery).values(
                        id=str(uuid.uuid4()),
                        event_id=event_id,
                        status=DeliveryStatus.PENDING,
                        attempts=0,
                        queued_at=now,
                        next_attempt_at=now,
                        updated_at=now,
                    )
                )
        return dataclasses.replace(event, event_id=event_id)

    def record_many(self, events: list[TradeEvent]) -> list[TradeEvent]:
        """record() for a batch (a window's trades settle together): one transaction and one
        multi-row insert, ids returned in the events' order."""
        if not events:
            return []
        now = utcnow()
        table = cast(Table, TradeEventRecord.__table__)  # type: ignore[attr-defined]
        rows = [{"payload": _payload(event), "at": now} for event in events]
        with self.engine.begin() as connection:
            if connection.dialect.name == "sqlite":
                # SQLite answers RETURNING one statement per row when the order must match the
                # parameters; but it has one writer at a time, so rows inserted in one transaction
                # take consecutive ids, ending at the largest id once they are in.
                connection.execute(insert(table), rows)
                last = int(connection.execute(select(func.max(table.c.id))).scalar_one())
                ids = list(range(last - len(rows) + 1, last + 1))
            else:
                returning = insert(table).returning(table.c.id, sort_by_parameter_order=True)
                ids = [int(i) for i in connection.execute(returning, rows).scalars()]
            recorded = [dataclasses.replace(event, event_id=i) for event, i in zip(events, ids, strict=True)]
            if self.webhooks:
                connection.execute(
                    insert(cast(Table, WebhookDelivery.__table__)),  # type: ignore[attr-defined]
                    [
                        {
                            "id": str(uuid.uuid4()),
                            "event_id": event.event_id,
                            "status": DeliveryStatus.PENDING,
                            "attempts": 0,
                            "queued_at": now,
                            "next_attempt_at": now,
                            "updated_at": now,
                        }
                        for event in recorded
                    ],
                )
        return recorded

    def events_after(self, after_id: int, limit: int) -> list[TradeEvent]:
        """Recorded events with an id above `after_id`, oldest first."""
        with Session(self.engine) as session:
            rows = session.exec(
                select(TradeEventRecord)
                .where(col(TradeEventRecord.id) > after_id)
                .order_by(col(TradeEventRecord.id))
                .limit(limit)
            ).all()
            return [_event(row) for row in rows]

    # ----------------------------------------------------------------- webhook outbox

    def claim_due(self, limit: int) -> list[DeliveryView]:
        """Pending deliveries whose time has come, each claimed for one attempt.

        A claim counts the attempt and moves next_attempt_at past the send's timeout (a lease),
        guarded by the attempt count: a second dispatcher on the same database skips what the
        first one took, and a dispatcher that dies mid-send leaves the delivery to be retried.
        """
        now = utcnow()
        claimed: list[DeliveryView] = []
        with Session(self.engine, expire_on_commit=False) as session:
            due = session.exec(
                _with_events()
                .where(col(WebhookDelivery.status) == DeliveryStatus.PENDING)
                .where(col(WebhookDelivery.next_attempt_at) <= now)
                .order_by(col(WebhookDelivery.next_attempt_at), col(WebhookDelivery.event_id))
                .limit(limit)
            ).all()
            lease_until = now + timedelta(seconds=self.claim_lease_s)
            for delivery, event in due:
                result = session.exec(
                    update(WebhookDelivery)
                    .where(col(WebhookDelivery.id) == delivery.id)
                    .where(col(WebhookDelivery.status) == DeliveryStatus.PENDING)
                    .where(col(WebhookDelivery.attempts) == delivery.attempts)
                    .values(attempts=delivery.attempts + 1, next_attempt_at=lease_until, updated_at=now)
                    .execution_options(synchronize_session=False)
                )
                session.commit()
                if result.rowcount == 1:
                    claimed.append(
                        dataclasses.replace(
                            _view(delivery, event), attempts=delivery.attempts + 1, next_attempt_at=lease_until
                        )
                    )
        return claimed

    def delivered(self, delivery_id: str) -> None:
        now = utcnow()
        with Session(self.engine) as session, session.begin():
            session.exec(
                update(WebhookDelivery)
                .where(col(WebhookDelivery.id) == delivery_id)
                .values(status=DeliveryStatus.DELIVERED, delivered_at=now, last_error=None, updated_at=now)
            )

    def failed(self, delivery_id: str, error: str) -> DeliveryView:
        """Schedule the next attempt by the retry policy, or park the delivery once past its period."""
        now = utcnow()
        with Session(self.engine, expire_on_commit=False) as session:
            delivery, event = self._get(session, delivery_id)
            retry_at = self.retry.next_attempt_at(delivery.attempts, delivery.queued_at, now)
            delivery.last_error = error[:LAST_ERROR_MAX_CHARS]
            delivery.updated_at = now
            if retry_at is None:
                delivery.status = DeliveryStatus.PARKED
            else:
                delivery.next_attempt_at = retry_at
            session.add(delivery)
            session.commit()
            return _view(delivery, event)

    def deliveries(self, status: DeliveryStatus | None, after_event_id: int | None, limit: int) -> list[DeliveryView]:
        """Deliveries in event order (a page after `after_event_id`), optionally of one status."""
        query = _with_events()
        if status is not None:
            query = query.where(col(WebhookDelivery.status) == status)
        if after_event_id is not None:
            query = query.where(col(WebhookDelivery.event_id) > after_event_id)
        query = query.order_by(col(WebhookDelivery.event_id)).limit(limit)
        with Session(self.engine) as session:
            return [_view(delivery, event) for delivery, event in session.exec(query).all()]

    def replay(self, delivery_id: str) -> DeliveryView:
        """Queue a parked or delivered delivery again, as if new: same id, fresh retry period."""
        now = utcnow()
        with Session(self.engine, expire_on_commit=False) as session:
            delivery, event = self._get(session, delivery_id)
            if delivery.status not in REPLAYABLE:
                raise errors.DeliveryNotReplayable(
                    f"delivery {delivery_id} is {delivery.status}, not parked or delivered"
                )
            delivery.status = DeliveryStatus.PENDING
            delivery.attempts = 0
            delivery.queued_at = delivery.next_attempt_at = delivery.updated_at = now
            delivery.last_error = None
            delivery.delivered_at = None
            session.add(delivery)
            session.commit()
            return _view(delivery, event)

    @staticmethod
    def _get(session: Session, delivery_id: str) -> tuple[WebhookDelivery, TradeEventRecord]:
        row = session.exec(_with_events().where(col(WebhookDelivery.id) == delivery_id)).first()
        if row is None:
            raise errors.NotFound(f"no webhook delivery {delivery_id}")
        return row[0], row[1]


def _with_events() -> Select[WebhookDelivery, TradeEventRecord]:
    """Deliveries joined to the events they carry."""
    return select(WebhookDelivery, TradeEventRecord).join(
        TradeEventRecord, col(TradeEventRecord.id) == col(WebhookDelivery.event_id)
    )


def _view(delivery: WebhookDelivery, event: TradeEventRecord) -> DeliveryView:
    return DeliveryView(
        id=delivery.id,
        event=_event(event),
        status=DeliveryStatus(delivery.status),
        attempts=delivery.attempts,
        queued_at=delivery.queued_at,
        next_attempt_at=delivery.next_attempt_at,
        last_error=delivery.last_error,
        delivered_at=delivery.delivered_at,
    )
