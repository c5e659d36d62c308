"""The worker lease: at most one settlement worker per ledger, and a heartbeat every server can read.

Two workers on one ledger would race for the same trades (batches failing with AlreadyLocked and
retried one by one), so a worker runs cycles only while it holds this lease.

- PostgreSQL: a session-level advisory lock, held on a dedicated connection for as long as the
  worker runs. The server drops it the moment that connection closes, so when the process dies
  (even by SIGKILL) a standby gets it at its next try. The key is derived from the database and
  schema, so ledgers in different schemas of one database do not exclude each other.
- SQLite: the `worker_lease` row is the lease, taken with a conditional UPDATE when it is free or
  has expired, and renewed by its holder; a holder that stops renewing for `ttl_s` is taken over.

On both the holder renews the row's heartbeat and expiry (with its last error class), so an API
server without the lease can tell whether some worker is settling this ledger.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import insert, or_, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

from settlement.ledger.models import WorkerLeaseRecord

log = logging.getLogger(__name__)

LEASE_ROW_ID = 1
_TABLE: Any = SQLModel.metadata.tables[WorkerLeaseRecord.__tablename__]
_KEY_NAMESPACE = "settlement-worker-lease:"
HOLDER_CHARS_MAX = 100
ERROR_CHARS_MAX = 100


@dataclass(frozen=True)
class LeaseStatus:
    """What the lease row says: who holds it, when it last beat, and whether that is recent enough."""

    holder: str | None
    heartbeat_at: datetime | None
    live: bool
    worker_error: str | None


def default_holder() -> str:
    """Host, pid and a random suffix: unique per lease object, readable in the row and the logs."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def advisory_lock_key(database: str, schema: str) -> int:
    """A signed 64-bit key (what pg_try_advisory_lock takes) naming this ledger's worker."""
    digest = hashlib.blake2b(f"{_KEY_NAMESPACE}{database}/{schema}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class WorkerLease:
    """hold() takes or renews the lease (call it every ttl_s / 3 or more often); release() gives it up."""

    def __init__(self, engine: Engine, ttl_s: float, holder: str | None = None) -> None:
        self.engine = engine
        self.ttl_s = ttl_s
        self.holder = (holder or default_holder())[:HOLDER_CHARS_MAX]
        self._postgres = engine.dialect.name == "postgresql"
        self._connection: Connection | None = None  # PostgreSQL: the session holding the advisory lock
        self._key = 0  # ...and the lock's key
        self._held = False
        self._mutex = threading.Lock()

    @property
    def held(self) -> bool:
        return self._held

    def hold(self, worker_error: str | None = None) -> bool:
        """Take the lease if it is free, renew it if it is ours; True while this holder has it.
        A database error counts as not holding it (logged): the caller stops running cycles."""
        error = worker_error[:ERROR_CHARS_MAX] if worker_error else None
        with self._mutex:
            try:
                self._held = self._hold_postgres(error) if self._postgres else self._hold_sqlite(error)
            except sa_exc.SQLAlchemyError as exc:
                log.warning("worker lease: %s; not holding it", type(exc).__name__)
                self._drop_connection()
                self._held = False
            return self._held

    def release(self) -> None:
        """Mark the row free (so nobody reads a stopped worker as alive) and let the lease go."""
        with self._mutex:
            if not self._held:
                return
            self._held = False
            try:
                if self._connection is not None:
                    self._free_row(self._connection)
                    self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})
                else:
                    with self.engine.begin() as connection:
                        self._free_row(connection)
            except sa_exc.SQLAlchemyError as exc:  # the lease lapses on its own (connection closed, or expiry)
                log.warning("worker lease: release failed (%s)", type(exc).__name__)
            finally:
                self._drop_connection()

    def status(self) -> LeaseStatus:
        """The row as any server sees it. Raises the database's error if it cannot be read."""
        with self.engine.connect() as connection:
            now = self._now(connection)
            row = connection.execute(select(_TABLE).where(_TABLE.c.id == LEASE_ROW_ID)).first()
        if row is None:
            return LeaseStatus(holder=None, heartbeat_at=None, live=False, worker_error=None)
        expires_at = _aware(row.expires_at)
        return LeaseStatus(
            holder=row.holder,
            heartbeat_at=_aware(row.heartbeat_at),
            live=row.holder is not None and expires_at > now,
            worker_error=row.worker_error,
        )

    # ----------------------------------------------------------------- PostgreSQL

    def _hold_postgres(self, error: str | None) -> bool:
        if self._connection is None:
            connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            try:
                database, schema = connection.execute(text("SELECT current_database(), current_schema()")).one()
                key = advisory_lock_key(database, schema)
                taken = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar_one()
            except BaseException:
                connection.close()
                raise
            if not taken:
                connection.close()
                return False
            self._connection, self._key = connection, key
            log.info("worker lease taken (advisory lock %d) by %s", key, self.holder)
        # The lock lives as long as this session: writing the heartbeat through it also proves it is alive.
        self._write_heartbeat(self._connection, error, only_if_free=False)
        return True

    def _drop_connection(self) -> None:
        if self._connection is not None:
            try:
                self._connection.invalidate()  # never back into the pool while it may hold the lock
                self._connection.close()
            except sa_exc.SQLAlchemyError:
                pass
            self._connection = None

    # ----------------------------------------------------------------- SQLite

    def _hold_sqlite(self, error: str | None) -> bool:
        try:
            with self.engine.begin() as connection:
                return self._write_heartbeat(connection, error, only_if_free=True)
        except sa_exc.IntegrityError:  # another server inserted the first row at the same moment
            return False

    # ----------------------------------------------------------------- the row

    def _write_heartbeat(self, connection: Connection, error: str | None, *, only_if_free: bool) -> bool:
        """Renew the row for this holder; with only_if_free, only if it is ours, free or expired."""
        now = self._now(connection)
        values = {
            "holder": self.holder,
            "heartbeat_at": now,
            "expires_at": now + timedelta(seconds=self.ttl_s),
            "worker_error": error,
        }
        statement = update(_TABLE).where(_TABLE.c.id == LEASE_ROW_ID)
        if only_if_free:
            statement = statement.where(
                or_(_TABLE.c.holder == self.holder, _TABLE.c.holder.is_(None), _TABLE.c.expires_at < now)
            )
        if connection.execute(statement.values(**values)).rowcount == 1:
            return True
        if connection.execute(select(_TABLE.c.id).where(_TABLE.c.id == LEASE_ROW_ID)).first() is not None:
            return False  # someone else's, and alive
        connection.execute(insert(_TABLE).values(id=LEASE_ROW_ID, **values))
        return True

    def _free_row(self, connection: Connection) -> None:
        now = self._now(connection)
        connection.execute(
            update(_TABLE)
            .where(_TABLE.c.id == LEASE_ROW_ID)
            .where(_TABLE.c.holder == self.holder)
            .values(holder=None, expires_at=now, worker_error=None)
        )

    def _now(self, connection: Connection) -> datetime:
        """PostgreSQL's clock when there is one, so servers on several hosts judge expiry alike."""
        if self._postgres:
            return _aware(connection.execute(text("SELECT clock_timestamp()")).scalar_one())
        return datetime.now(UTC)


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every time here is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
