"""Participants and the latest FX rates, cached in the process and re-read only when they change.

Why: intake needs both for every trade (two parties and a rate), and the worker the participant
list for every cycle step, while they change a few times a day. Both tables are append-only
(a participant is registered, a rate recorded; neither row is ever updated or deleted), so one
cheap query, the participant count and the newest rate's id, tells whether anything was added
since the cache was filled, by this process or by any other on the same database. The rows are
re-read only then. The check runs in the caller's session, first, so a cache entry is never
older than what that session would have read itself.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from sqlalchemy import func
from sqlmodel import Session, col, select

from settlement import errors
from settlement.domain.fx import FxQuote
from settlement.ledger import repository as repo
from settlement.ledger.models import FxRate, Participant


@dataclass(frozen=True)
class ReferenceSnapshot:
    """Participants and latest rates as of one version check: take one per request or batch."""

    version: tuple[int, int]  # (participants registered, newest fx_rate id)
    participants: Mapping[str, Participant]  # detached copies: read them, do not add them to a session
    quotes: Mapping[str, FxQuote]

    def participant(self, participant_id: str) -> Participant:
        found = self.participants.get(participant_id)
        if found is None:
            raise errors.UnknownParticipant(f"no participant {participant_id}")
        return found

    def latest_fx_rate(self, currency: str) -> FxQuote | None:
        return self.quotes.get(currency)


class ReferenceData:
    """One per service (per database). Thread-safe: a snapshot is immutable and swapped whole."""

    def __init__(self) -> None:
        self._snapshot: ReferenceSnapshot | None = None
        self._refresh_lock = threading.Lock()
        self.refreshes = 0  # how often the rows were re-read (tests check the cache is one)

    def snapshot(self, session: Session) -> ReferenceSnapshot:
        """The cached snapshot after one version check (in `session`), re-read if anything was added."""
        version = _version(session)
        snapshot = self._snapshot
        if snapshot is not None and snapshot.version == version:
            return snapshot
        with self._refresh_lock:
            participants = {p.id: Participant(**p.model_dump()) for p in repo.list_participants(session)}
            quotes = {q.currency: q for q in repo.latest_fx_rates(session)}
            snapshot = ReferenceSnapshot(version, MappingProxyType(participants), MappingProxyType(quotes))
            self._snapshot = snapshot
            self.refreshes += 1
        return snapshot


def _version(session: Session) -> tuple[int, int]:
    """What changes whenever a participant is registered or a rate recorded: one round trip."""
    registered = select(func.count()).select_from(Participant).scalar_subquery()
    newest_rate = select(func.max(col(FxRate.id))).scalar_subquery()
    row = session.exec(select(registered, newest_rate)).one()
    return int(row[0]), int(row[1] or 0)
