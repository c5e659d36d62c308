"""Anchoring the journal's head on chain, and checking the journal against every anchor.

A service part: it reads the journal's head, asks LedgerAnchor for the latest anchored sequence,
and anchors the head when it has moved on (on a timer in gross mode; at each window close in net
mode). Verification reads every anchor and compares it with the entry the journal now holds at
that sequence (settlement/domain/anchors.py holds the rule).
"""

from __future__ import annotations

import logging
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

    @property
    def enabled(self) -> bool:
        return self.contract is not None and self.custody.anchorer is not None

    def anchor_if_due(self) -> AnchoredHead | None:
        """On the timer: anchor the head if an interval has passed since the last attempt."""
        if not self.enabled or time.monotonic() - self._last_attempt_s < self.interval_s:
            return None
        return self.anchor_now()

    def anchor_now(self) -> AnchoredHead | None:
        """Anchor the journal's current head; None if it is empty or already anchored."""
        if self.contract is None or self.custody.anchorer is None:
            raise errors.AnchoringUnavailable("this deployment has no LedgerAnchor or no anchoring key")
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
