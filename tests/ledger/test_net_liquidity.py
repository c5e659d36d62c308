"""Liquidity moves on anvil below the API: admission at the first deposit, never after the
operator removed the broker, and withdrawal still open to a removed broker."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from settlement import errors
from settlement.chain.custody import Custody
from settlement.chain.net_settlement import NetSettlementContract
from settlement.chain.sender import MemoryTxJournal
from settlement.config import Settings
from settlement.indexer import Indexer
from settlement.ledger.journal_store import JournalStore
from settlement.liquidity import Liquidity
from settlement.reconcile import reconcile
from settlement.testing.devnet import Devnet
from tests.ledger.chain_actions import ChainActions
from tests.ledger.factories import add_participant

pytestmark = pytest.mark.chain
COINS = 10**6


def test_a_removed_broker_is_not_readmitted_by_a_deposit_but_may_withdraw(
    isolated_devnet: Devnet, engine: Engine, journal: JournalStore, actions: ChainActions, indexer: Indexer
) -> None:
    chain = isolated_devnet.chain()
    custody = Custody(
        chain, MemoryTxJournal(), Settings(receipt_poll_s=0.002), hold_broker_keys=True, confirmation_depth=0
    )
    liquidity = Liquidity(engine, chain, custody, journal)
    broker = actions.manifest.brokers[0]
    row = add_participant(engine, broker.address)
    net = NetSettlementContract(chain)

    liquidity.deposit(row.id, 40 * COINS)  # admitted by the operator key, approved, deposited
    assert net.is_participant(broker.address) and net.balance_of(broker.address) == 40 * COINS
    actions.sender(actions.manifest.deployer).transact(net.remove(broker.address))
    assert net.was_removed(broker.address)

    with pytest.raises(errors.RemovedFromNetSettlement):
        liquidity.deposit(row.id, 1 * COINS)
    assert not net.is_participant(broker.address)
    liquidity.withdraw(row.id, 15 * COINS)
    with pytest.raises(errors.WithdrawalExceedsBalance):
        liquidity.withdraw(row.id, 25 * COINS + 1)

    indexer.run_until_head()
    balance = liquidity.balance(row.id)
    assert (balance.admitted, balance.on_chain_base_units, balance.ledger_base_units) == (False, 25 * COINS, 25 * COINS)
    assert reconcile(chain, engine).balanced
