"""Anchoring the journal's head on chain, and checking the journal against every anchor.

A service part: it reads the journal's head, asks LedgerAnchor for the latest anchored sequence,
and anchors the head when it has moved on (on a timer; and after each net window settles, when
the window asks for it). Verification reads every anchor and compares it with the entry the
journal now holds at that sequence (settlement/domain/anchors.py holds the rule).

Why a window only asks: the worker's settlement thread settles windows one after another, and an
anchor (sign, send, receipt, two journal writes) took it 0.1 to 0.5 s a window under load, during
which the next window could not close. The worker's indexing thread anchors instead, beside the
next window's settlement (SettlementService.follow_chain).
"""

from __future__ import annotations

import logging
import threading
import time

from settlement import errors
from settlement.chain.client import ChainClient
from settlement.chain.custody import Custody
from settlement.chain.ledger_anchor import LedgerAnchorContract
from settlement.domain.anchors import AnchoredHead, anchor_problems
from settlement.ledger.journal_store import JournalStore

log = logging.getLogger(__name__)


class JournalAnchoring:
    def __init__(self, chain: ChainClient, journal: JournalStore, custody: Custody, interval_s: float) -> None:
        self.journal = journal
        self.custody = custody
        self.interval_s = interval_s
        self.contract = LedgerAnchorContract(chain) if chain.manifest.ledger_anchor is not None else None
        self._last_attempt_s = time.monotonic()  # the first timed anchor comes one interval after start
        self._requested = threading.Event()  # a window settled: anchor at the next anchor_if_due
        self._one_at_a_time = threading.Lock()  # the worker's thread and the operator's request

    @property
    def enabled(self) -> bool:
        return self.contract is not None and self.custody.anchorer is not None

    def request(self) -> None:
        """A window settled: its obligations are anchored at the next anchor_if_due, not here."""
        self._requested.set()

    def anchor_if_due(self) -> AnchoredHead | None:
        """Anchor the head if a window asked for it, or an interval has passed since the last
        attempt. A failed attempt is not retried before the interval: the timer retries it."""
        if not self.enabled:
            return None
        if not self._requested.is_set() and time.monotonic() - self._last_attempt_s < self.interval_s:
            return None
        self._requested.clear()
        return self.anchor_now()

    def anchor_now(self) -> AnchoredHead | None:
        """Anchor the journal's current head; None if it is empty or already anchored."""
        if self.contract is None or self.custody.anchorer is None:
            raise errors.AnchoringUnavailable("this deployment has no LedgerAnchor or no anchoring key")
        with self._one_at_a_time:  # two at once would anchor one sequence twice: the second reverts
            self._last_attempt_s = time.monotonic()
            sequence, head_hash = self.journal.head()
            if sequence == 0 or sequence <= self.contract.latest_sequence():
                return None
            receipt = self.custody.anchorer.transact(self.contract.anchor_call(sequence, head_hash))
            log.info("journal head seq %d anchored in block %d", sequence, int(receipt["blockNumber"]))
            return self.contract.latest()  # two reads: every anchor (verify's read) would grow with the chain

    def latest(self) -> AnchoredHead | None:
        return None if self.contract is None else self.contract.latest()

    def anchors(self) -> list[AnchoredHead]:
        return [] if self.contract is None else self.contract.anchors()

    def problems(self, anchors: list[AnchoredHead]) -> list[tuple[int, str]]:
        """Where the journal no longer matches what was anchored (a rewrite before the last anchor)."""
        stored = {r.seq: r.entry_hash for r in self.journal.records([a.sequence for a in anchors])}
        return anchor_problems(anchors, stored)
