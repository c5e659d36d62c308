"""Idempotency-Key for every money-moving request: the work runs once per caller, operation and key.

Why it is written first: a client that times out retries, and a mint or a release request sent
twice must not happen twice. The row is committed as *in progress* before the work starts, so a
concurrent retry finds it (409 idempotency_in_progress, come back later) and a later one finds
the first response, kept verbatim, and gets it replayed. The same key with another request is
409 idempotency_conflict.

A failure that proves nothing happened releases the key (the client may retry with it). A
failure after an effect may have started (a mint was sent and its fate is unknown) keeps the row
in progress until it expires: never a second effect for one key. Keys expire after
`ttl_s` (SETTLEMENT_IDEMPOTENCY_KEY_TTL_S); an expired key starts a new operation, and expired
rows are purged now and then.

What is stored is the caller's response (status and JSON body): the service does not know the
wire format, the API does not touch the database.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, update

from settlement import errors
from settlement.ledger.models import IdempotentOperation, utcnow
from settlement.ledger.repository import as_utc

log = logging.getLogger(__name__)

IN_PROGRESS = "in_progress"
DONE = "done"
# Expired rows are deleted at most this often per process (and never later than one TTL).
PURGE_INTERVAL_MAX_S = 60.0
# A claim that loses a race re-reads the winner's row; a few rounds cover an expiry in between.
CLAIM_ROUNDS_MAX = 3


@dataclass(frozen=True)
class IdempotentResponse:
    """The response to give: the first one, or its replay."""

    status: int
    body: Any
    replayed: bool


@dataclass(frozen=True)
class _Claim:
    caller: str
    operation: str
    key: str
    claim_id: str


class IdempotentOperations:
    def __init__(self, db: Engine, ttl_s: int, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.ttl = timedelta(seconds=ttl_s)
        self.clock = clock
        self._purge_interval_s = min(PURGE_INTERVAL_MAX_S, float(ttl_s))
        self._purged_at = float("-inf")
        self._purge_guard = threading.Lock()

    def run(
        self, caller: str, operation: str, key: str, request_hash: str, action: Callable[[], tuple[int, Any]]
    ) -> IdempotentResponse:
        """Run `action` (returning the response's status and JSON body) once for this key."""
        self.purge_expired(force=False)
        claim = self._claim(caller, operation, key, request_hash)
        if isinstance(claim, IdempotentResponse):
            return claim
        try:
            status, body = action()
        except errors.SettlementError as exc:
            if exc.outcome_unknown:
                log.warning("%s %s by %s: outcome unknown, the key stays in progress", operation, key, caller)
            else:
                self._release(claim)
            raise
        except Exception:
            self._release(claim)  # not one of ours: a database error rolled back, nothing happened
            raise
        self._finish(claim, status, body)
        return IdempotentResponse(status, body, replayed=False)

    def purge_expired(self, *, force: bool = True) -> int:
        """Delete expired rows (all of them, in progress or done); returns how many."""
        with self._purge_guard:
            now_s = time.monotonic()
            if not force and now_s - self._purged_at < self._purge_interval_s:
                return 0
            self._purged_at = now_s
        with Session(self.db) as session:
            result = session.exec(
                delete(IdempotentOperation).where(col(IdempotentOperation.created_at) <= self.clock() - self.ttl)
            )
            session.commit()
            return int(result.rowcount)

    # ----------------------------------------------------------------- the row's life

    def _claim(self, caller: str, operation: str, key: str, request_hash: str) -> _Claim | IdempotentResponse:
        """Insert the in-progress row, or answer from the one already there."""
        for _ in range(CLAIM_ROUNDS_MAX):
            now = self.clock()
            with Session(self.db) as session:
                row = session.get(IdempotentOperation, (caller, operation, key))
                if row is not None and as_utc(row.created_at) <= now - self.ttl:
                    # Expired: the key starts a new operation. Read again, as a concurrent retry
                    # of it may claim the key first.
                    session.exec(delete(IdempotentOperation).where(*_same_claim(caller, operation, key, row.claim_id)))
                    session.commit()
                    continue
                if row is not None:
                    return _answer(row, request_hash)
                claim = _Claim(caller, operation, key, str(uuid.uuid4()))
                session.add(
                    IdempotentOperation(
                        caller=caller,
                        operation=operation,
                        key=key,
                        request_hash=request_hash,
                        claim_id=claim.claim_id,
                        status=IN_PROGRESS,
                        created_at=now,
                    )
                )
                try:
                    session.commit()
                except IntegrityError:
                    session.rollback()  # a concurrent request with this key got there first
                    continue
                return claim
        raise errors.IdempotencyInProgress(f"requests with Idempotency-Key {key!r} keep racing; retry shortly")

    def _finish(self, claim: _Claim, status: int, body: Any) -> None:
        with Session(self.db) as session:
            session.exec(
                update(IdempotentOperation)
                .where(*_same_claim(claim.caller, claim.operation, claim.key, claim.claim_id))
                .values(status=DONE, response_status=status, response_json=json.dumps(body, separators=(",", ":")))
            )
            session.commit()

    def _release(self, claim: _Claim) -> None:
        """The work failed without effect: forget the key, so the client may retry with it."""
        with Session(self.db) as session:
            session.exec(
                delete(IdempotentOperation).where(
                    *_same_claim(claim.caller, claim.operation, claim.key, claim.claim_id),
                    col(IdempotentOperation.status) == IN_PROGRESS,
                )
            )
            session.commit()


def _same_claim(caller: str, operation: str, key: str, claim_id: str) -> tuple[Any, ...]:
    return (
        col(IdempotentOperation.caller) == caller,
        col(IdempotentOperation.operation) == operation,
        col(IdempotentOperation.key) == key,
        col(IdempotentOperation.claim_id) == claim_id,
    )


def _answer(row: IdempotentOperation, request_hash: str) -> IdempotentResponse:
    if row.request_hash != request_hash:
        raise errors.IdempotencyConflict("this Idempotency-Key was used with a different request")
    if row.status != DONE or row.response_status is None or row.response_json is None:
        raise errors.IdempotencyInProgress("the first request with this Idempotency-Key has not finished yet")
    return IdempotentResponse(row.response_status, json.loads(row.response_json), replayed=True)
