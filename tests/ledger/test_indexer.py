"""The indexer mirrors the chain into the journal: right accounts, once per log, and through reorgs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from settlement.chain.client import ChainClient
from settlement.chain.trade_ids import chain_trade_id
from settlement.domain.journal import (
    ESCROW_UNASSIGNED_ACCOUNT,
    SUPPLY_ACCOUNT,
    EntryKind,
    client_account,
    escrow_account,
    wallet_account,
)
from settlement.domain.trade import TradeStatus
from settlement.errors import ReorgTooDeep
from settlement.indexer import Indexer
from settlement.ledger.journal_store import JournalStore
from settlement.ledger.schema import open_database
from settlement.testing.devnet import Devnet
from tests.ledger.chain_actions import ChainActions
from tests.ledger.factories import add_client, add_participant, add_trade

pytestmark = pytest.mark.chain


@pytest.fixture(scope="module")
def reorg_devnet() -> Iterator[Devnet]:
    """A devnet of this module's own for the reorg tests: anvil_reorg on the session chain, after
    hundreds of snapshots and reverts, now and then lost the escrow's code (anvil 1.7.1); a short
    chain of its own keeps reorgs what they are on a real node."""
    net = Devnet.start()
    yield net
    net.stop()


@pytest.fixture
def isolated_devnet(reorg_devnet: Devnet) -> Iterator[Devnet]:
    with reorg_devnet.isolated():
        yield reorg_devnet


def _escrow(trade_id: str) -> str:
    return escrow_account("0x" + chain_trade_id(trade_id).hex())


def _kinds(journal: JournalStore) -> list[str]:
    return [r.kind for r in journal.iter_records()]


def _nonzero(balances: dict[str, int]) -> dict[str, int]:
    return {account: amount for account, amount in balances.items() if amount}


def test_mint_transfer_lock_release_refund_are_mirrored(
    isolated_devnet: Devnet, engine: Engine, journal: JournalStore, actions: ChainActions, indexer: Indexer
) -> None:
    chain: ChainClient = isolated_devnet.chain()
    manifest = isolated_devnet.manifest
    buyer, seller = manifest.brokers[0], manifest.brokers[1]
    outsider = manifest.spare_accounts[0].address
    buyer_row, seller_row = add_participant(engine, buyer.address), add_participant(engine, seller.address)
    buyer_client = add_client(engine, buyer_row, "buyer's client")
    seller_client = add_client(engine, seller_row, "seller's client")
    with_clients = add_trade(engine, buyer_row, seller_row, 100, buyer_client=buyer_client, seller_client=seller_client)
    refunded, still_open = str(uuid.uuid4()), str(uuid.uuid4())  # trades the database never heard of

    indexer.run_until_head()  # the deployment's funding mints
    journal.allocate(buyer.address, buyer_client.id, 250)
    actions.issue(outsider, 1_000)
    actions.transfer(buyer, seller.address, 50)
    actions.approve_escrow(buyer)
    actions.lock(with_clients.id, buyer, seller.address, 100)
    actions.release(with_clients.id)
    actions.lock(refunded, buyer, seller.address, 30)
    actions.refund(refunded)
    actions.lock(still_open, buyer, seller.address, 20)
    result = indexer.run_until_head()

    assert result.to_block == chain.block_number()
    assert journal.balance(wallet_account(outsider)) == chain.balance_of(outsider) == 1_000
    assert journal.balance(client_account(buyer_client.id)) == 250 - 100
    assert journal.balance(client_account(seller_client.id)) == 100
    for broker in (buyer.address, seller.address):
        clients = journal.balances(prefix="client:")
        mine = buyer_client.id if broker == buyer.address else seller_client.id
        assert journal.balance(wallet_account(broker)) + clients[client_account(mine)] == chain.balance_of(broker)
    assert journal.balance(_escrow(with_clients.id)) == 0
    assert journal.balance(_escrow(refunded)) == 0
    assert journal.balance(_escrow(still_open)) == 20
    escrow_total = sum(journal.balances(prefix="escrow:").values())
    assert escrow_total == chain.balance_of(manifest.escrow.address) == chain.total_locked() == 20
    assert -journal.balance(SUPPLY_ACCOUNT) == int(chain.token.functions.totalSupply().call())
    assert ESCROW_UNASSIGNED_ACCOUNT not in journal.balances()
    kinds = _kinds(journal)
    assert kinds.count(EntryKind.LOCK) == 3
    assert (kinds.count(EntryKind.RELEASE), kinds.count(EntryKind.REFUND)) == (1, 1)
    assert kinds.count(EntryKind.TRANSFER) == 1  # escrow transfers are folded into their events
    lock_entry = next(r for r in journal.iter_records() if r.kind == EntryKind.LOCK)
    assert lock_entry.trade_id == with_clients.id
    assert journal.verify().ok


def test_burns_and_coins_sent_to_the_escrow_outside_a_lock(
    isolated_devnet: Devnet, journal: JournalStore, actions: ChainActions, indexer: Indexer
) -> None:
    chain, manifest = isolated_devnet.chain(), isolated_devnet.manifest
    actions.transfer(manifest.brokers[2], manifest.escrow.address, 7)
    actions.issue(manifest.issuer.address, 5)
    actions.redeem(5)  # the issuer burns coins from its own wallet
    indexer.run_until_head()
    assert journal.balance(ESCROW_UNASSIGNED_ACCOUNT) == 7 == chain.balance_of(manifest.escrow.address)
    assert journal.balance(wallet_account(manifest.issuer.address)) == 0
    assert _kinds(journal)[-1] == EntryKind.BURN
    assert -journal.balance(SUPPLY_ACCOUNT) == int(chain.token.functions.totalSupply().call())


def test_each_log_is_applied_once_however_often_the_indexer_runs(
    engine: Engine, journal: JournalStore, actions: ChainActions, indexer: Indexer, isolated_devnet: Devnet
) -> None:
    manifest = isolated_devnet.manifest
    actions.approve_escrow(manifest.brokers[0])
    actions.lock(str(uuid.uuid4()), manifest.brokers[0], manifest.brokers[1].address, 10)
    first = indexer.run_until_head()
    balances, head = journal.balances(), journal.head()
    assert first.events_applied > 0

    for _ in range(3):
        assert indexer.run_once().events_applied == 0
    with engine.begin() as conn:  # forget where we were: the next run starts from the deployment
        conn.execute(sa.text("DELETE FROM indexer_cursor"))
    assert indexer.run_until_head().events_applied == 0
    fresh = Indexer(isolated_devnet.chain(), engine, journal, chunk_blocks=1)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM indexer_cursor"))
    assert fresh.run_until_head().events_applied == 0
    assert journal.balances() == balances
    assert journal.head() == head


def test_the_unique_constraint_stops_a_replay_the_pre_check_missed(
    engine: Engine, journal: JournalStore, indexer: Indexer, monkeypatch: pytest.MonkeyPatch
) -> None:
    indexer.run_until_head()
    head, balances = journal.head(), journal.balances()
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM indexer_cursor"))
    monkeypatch.setattr(Indexer, "_processed", lambda *_: set())  # blind the pre-check
    with pytest.raises(IntegrityError):
        indexer.run_once()
    assert journal.head() == head  # the whole chunk rolled back, entries and head included
    assert journal.balances() == balances
    assert journal.verify().ok


def test_chunk_size_does_not_change_the_result(
    isolated_devnet: Devnet, journal: JournalStore, indexer: Indexer, replay_db_url: str, actions: ChainActions
) -> None:
    manifest = isolated_devnet.manifest
    actions.transfer(manifest.brokers[3], manifest.brokers[4].address, 3)
    actions.transfer(manifest.brokers[4], manifest.brokers[5].address, 2)
    indexer.run_until_head()
    other = open_database(replay_db_url)
    try:
        small = Indexer(isolated_devnet.chain(), other, JournalStore(other), chunk_blocks=2)
        result = small.run_until_head()
        assert result.to_block == indexer.cursor()[0]  # type: ignore[index]
        assert JournalStore(other).balances() == journal.balances()
    finally:
        other.dispose()


# ---------------------------------------------------------------------------- reorgs


@pytest.mark.parametrize("how", ["replaced", "rolled_back", "reincluded"])
def test_a_reorged_lock_is_reversed_and_the_ledger_matches_a_fresh_replay(
    how: str,
    isolated_devnet: Devnet,
    engine: Engine,
    journal: JournalStore,
    actions: ChainActions,
    indexer: Indexer,
    replay_db_url: str,
) -> None:
    net, manifest = isolated_devnet, isolated_devnet.manifest
    buyer, seller = manifest.brokers[0], manifest.brokers[1]
    buyer_row, seller_row = add_participant(engine, buyer.address), add_participant(engine, seller.address)
    trade = add_trade(engine, buyer_row, seller_row, 100, status=TradeStatus.PENDING)
    actions.approve_escrow(buyer)
    indexer.run_until_head()
    receipt = actions.lock(trade.id, buyer, seller.address, 100)
    lock_block = int(receipt["blockNumber"])
    raw_lock = actions.journal.records[receipt["transactionHash"].to_0x_hex()].raw_tx
    net.mine(1)
    indexer.run_until_head()
    lock_seq = next(r.seq for r in journal.iter_records() if r.kind == EntryKind.LOCK)
    assert journal.balance(_escrow(trade.id)) == 100

    if how == "replaced":  # the lock's block and the one after become empty blocks
        net.rpc("anvil_reorg", 2, [])
    elif how == "rolled_back":  # the chain gets shorter, then grows again without the lock
        net.rpc("anvil_rollback", 2)
        net.mine(1)
    else:  # the same transaction lands one block later on the new branch
        net.rpc("anvil_reorg", 2, [[raw_lock, 1]])
    result = indexer.run_until_head()

    assert result.reorged_blocks >= 1
    reversal = next(r for r in journal.iter_records() if r.kind == EntryKind.REVERSAL)
    assert reversal.reverses_seq == lock_seq
    assert reversal.block_number == lock_block
    on_chain = actions.chain.get_lock(chain_trade_id(trade.id)).amount_base_units
    assert journal.balance(_escrow(trade.id)) == on_chain == (100 if how == "reincluded" else 0)
    verified = journal.verify()
    assert verified.ok, verified.problems

    replay_engine = open_database(replay_db_url)
    try:
        replay = JournalStore(replay_engine)
        Indexer(net.chain(), replay_engine, replay).run_until_head()
        assert _nonzero(journal.balances()) == _nonzero(replay.balances())
    finally:
        replay_engine.dispose()


def test_when_no_indexed_block_is_canonical_it_rebuilds_from_the_deployment(
    engine: Engine, journal: JournalStore, indexer: Indexer
) -> None:
    indexer.run_until_head()
    balances, (entries, _) = _nonzero(journal.balances()), journal.head()
    with engine.begin() as conn:  # every block we remember now looks orphaned
        conn.execute(sa.text("UPDATE indexed_block SET block_hash = '0xdead' || substr(block_hash, 7)"))
        conn.execute(sa.text("UPDATE indexer_cursor SET last_block_hash = '0xdead' || substr(last_block_hash, 7)"))
    result = indexer.run_until_head()
    assert result.reorged_blocks == result.to_block - indexer.deploy_block + 1
    assert _nonzero(journal.balances()) == balances
    assert journal.head()[0] == 3 * entries  # originals, their reversals, the re-ingested entries
    assert indexer.run_until_head().reorged_blocks == 0  # and it does not keep rewinding
    assert journal.verify().ok


def test_a_reorg_deeper_than_the_window_stops_the_indexer(
    isolated_devnet: Devnet, engine: Engine, journal: JournalStore, actions: ChainActions
) -> None:
    indexer = Indexer(isolated_devnet.chain(), engine, journal, reorg_window_blocks=1)
    indexer.run_until_head()
    manifest = isolated_devnet.manifest
    actions.transfer(manifest.brokers[0], manifest.brokers[1].address, 1)
    isolated_devnet.mine(2)
    indexer.run_until_head()
    # Replace the transfer's block and the two after it. (Re-mining empty blocks as empty
    # blocks can give the very same hashes: no reorg at all. The dropped transfer makes sure.)
    isolated_devnet.rpc("anvil_reorg", 3, [])
    head = journal.head()
    with pytest.raises(ReorgTooDeep):
        indexer.run_once()
    assert journal.head() == head
