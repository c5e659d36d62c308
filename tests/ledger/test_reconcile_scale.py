"""Reconciliation reads the escrow's locks in JSON-RPC batches: thousands of trades cost a handful
of round trips, counted at a proxy in front of anvil."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from settlement.chain.client import LOCK_READS_PER_BATCH_MAX, ChainClient
from settlement.indexer import Indexer
from settlement.reconcile import reconcile
from settlement.testing.devnet import Devnet
from tests.faults.flaky_rpc import FlakyRpc
from tests.ledger.factories import add_participant, add_trades

pytestmark = [pytest.mark.chain, pytest.mark.slow]

TRADES = 2_100


def test_reconcile_reads_thousands_of_locks_in_a_few_batches(
    isolated_devnet: Devnet, engine: Engine, indexer: Indexer
) -> None:
    brokers = isolated_devnet.manifest.brokers
    buyer, seller = add_participant(engine, brokers[0].address), add_participant(engine, brokers[1].address)
    add_trades(engine, buyer, seller, [10] * TRADES)  # pending: the escrow must have no lock for any of them
    indexer.run_until_head()

    with FlakyRpc(isolated_devnet.rpc_url) as proxy:
        report = reconcile(ChainClient.from_manifest(isolated_devnet.manifest, proxy.url), engine)

    assert report.balanced, report.breaks
    assert report.checks >= TRADES
    assert proxy.calls["eth_call"] >= TRADES  # every trade's lock was read...
    batches = -(-TRADES // LOCK_READS_PER_BATCH_MAX)
    assert proxy.requests <= batches + 30, proxy.calls  # ...in batches, plus a few reads per wallet
