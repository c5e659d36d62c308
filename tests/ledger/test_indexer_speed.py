"""A backfill of 10,000 events takes seconds, not minutes (the indexer's throughput budget)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from settlement.domain.journal import EntryKind
from settlement.indexer import Indexer
from settlement.ledger.journal_store import JournalStore
from settlement.ledger.schema import open_database
from settlement.testing.devnet import Devnet
from tests.ledger.chain_actions import ChainActions

pytestmark = [pytest.mark.chain, pytest.mark.slow]

BATCHES, PER_BATCH = 50, 100  # 5,000 locks: a Transfer and a Locked log each
BUDGET_S = 15.0


@pytest.fixture(scope="module")
def busy_chain(devnet: Devnet) -> Iterator[Devnet]:
    """The session devnet with 10,000 escrow logs on it, built once for both backends."""
    with devnet.isolated():
        actions = ChainActions(devnet)
        payer, payee = devnet.manifest.brokers[6], devnet.manifest.brokers[7]
        actions.approve_escrow(payer)
        batches = [[(str(uuid.uuid4()), 1 + i) for i in range(PER_BATCH)] for _ in range(BATCHES)]
        actions.lock_batch_calls(payer, payee.address, batches)
        yield devnet


def test_ten_thousand_events_ingest_in_seconds(busy_chain: Devnet, db_url: str) -> None:
    engine = open_database(db_url)
    try:
        journal = JournalStore(engine)
        started = time.perf_counter()
        result = Indexer(busy_chain.chain(), engine, journal).run_until_head()
        elapsed = time.perf_counter() - started
        assert result.events_applied >= 2 * BATCHES * PER_BATCH
        locks = sum(1 for r in journal.iter_records() if r.kind == EntryKind.LOCK)
        assert locks == BATCHES * PER_BATCH
        assert elapsed < BUDGET_S, f"{result.events_applied} events took {elapsed:.1f}s"
    finally:
        engine.dispose()
