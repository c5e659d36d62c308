"""Net mode in the ledger: SettlementNet's deposits, withdrawals and windows mirrored by the indexer
(on each backend), and reconcile checking settlement balances, the extended omnibus rule and
each window's net positions against the chain."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from settlement.chain.merkle import TradeLeaf, merkle_root
from settlement.chain.net_settlement import NetSettlementContract
from settlement.chain.sender import Call
from settlement.chain.trade_ids import chain_trade_id
from settlement.domain.journal import (
    SETTLEMENT_UNASSIGNED_ACCOUNT,
    EntryKind,
    settlement_account,
    wallet_account,
)
from settlement.domain.posting import window_id_of
from settlement.indexer import Indexer
from settlement.ledger.journal_store import JournalStore
from settlement.ledger.models import Participant
from settlement.reconcile import BreakKind, reconcile
from settlement.testing.devnet import Devnet
from tests.ledger.chain_actions import MAX_ALLOWANCE, ChainActions
from tests.ledger.factories import add_participant

pytestmark = pytest.mark.chain
COINS = 10**6


def _net_activity(
    net: Devnet, engine: Engine, actions: ChainActions, *, settle: bool = True
) -> tuple[NetSettlementContract, list[Participant]]:
    """Three admitted brokers deposit, one withdraws, and (if `settle`) window 1 settles their net positions."""
    manifest = actions.manifest
    contract = NetSettlementContract(net.chain())
    brokers = manifest.brokers[:3]
    rows = [add_participant(engine, b.address) for b in brokers]
    for broker, coins in zip(brokers, (1_000, 500, 300), strict=True):
        actions.sender(manifest.deployer).transact(contract.admit(broker.address))
        approve = actions.chain.token.encode_abi("approve", [contract.address, MAX_ALLOWANCE])
        actions.sender(broker).transact(Call(to=manifest.token.address, data=approve, purpose="approve net"))
        actions.sender(broker).transact(contract.deposit(coins * COINS))
    actions.sender(brokers[1]).transact(contract.withdraw(200 * COINS))
    if settle:
        _settle_window_1(contract, rows, actions)
    return contract, rows


def _settle_window_1(contract: NetSettlementContract, rows: list[Participant], actions: ChainActions) -> None:
    a, b, c = (x.address for x in rows)
    leaves = [
        TradeLeaf(chain_trade_id("w1-0"), a, b, 200 * COINS),
        TradeLeaf(chain_trade_id("w1-1"), a, c, 100 * COINS),
    ]
    positions = {a: -300 * COINS, b: 200 * COINS, c: 100 * COINS}
    receipt = actions.sender(actions.manifest.agent).transact(
        contract.settle_window(1, positions, merkle_root(leaves), len(leaves))
    )
    assert receipt["status"] == 1


def test_deposits_withdrawals_and_a_window_are_mirrored_and_reconcile(
    isolated_devnet: Devnet, engine: Engine, journal: JournalStore, actions: ChainActions, indexer: Indexer
) -> None:
    contract, rows = _net_activity(isolated_devnet, engine, actions)
    indexer.run_until_head()

    for row in rows:
        assert journal.balance(settlement_account(row.address)) == contract.balance_of(row.address)
    assert [journal.balance(settlement_account(r.address)) // COINS for r in rows] == [700, 500, 400]
    kinds = [r.kind for r in journal.iter_records()]
    assert kinds.count(EntryKind.DEPOSIT) == 3 and kinds.count(EntryKind.WITHDRAWAL) == 1
    (window,) = [r for r in journal.iter_records() if r.kind == EntryKind.NET_SETTLEMENT]
    assert window_id_of(window.description) == 1
    assert {p.account: p.amount_base_units for p in window.postings} == {
        settlement_account(rows[0].address): -300 * COINS,
        settlement_account(rows[1].address): 200 * COINS,
        settlement_account(rows[2].address): 100 * COINS,
    }
    assert journal.balance(SETTLEMENT_UNASSIGNED_ACCOUNT) == 0

    report = reconcile(isolated_devnet.chain(), engine)
    assert report.balanced, report.breaks
    assert sum(v for k, v in report.accounts.items() if k.startswith("settlement:")) == contract.total_balances()


def test_an_edited_window_posting_is_a_window_and_balance_break(
    isolated_devnet: Devnet, engine: Engine, actions: ChainActions, indexer: Indexer
) -> None:
    _, rows = _net_activity(isolated_devnet, engine, actions)
    indexer.run_until_head()
    payer = settlement_account(rows[0].address)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE posting SET amount_base_units = amount_base_units + 7 WHERE account = :account "
                "AND entry_seq = (SELECT seq FROM journal_entry WHERE kind = :kind)"
            ),
            {"account": payer, "kind": EntryKind.NET_SETTLEMENT},
        )
    report = reconcile(isolated_devnet.chain(), engine)
    assert not report.balanced
    found = {(b.kind, b.account): b for b in report.breaks}
    window = found[(BreakKind.NET_WINDOW, payer)]
    assert (window.on_chain, window.ledger) == (-300 * COINS, -300 * COINS + 7) and "window 1" in window.detail
    assert found[(BreakKind.NET_BALANCE, payer)].difference == 7
    assert found[(BreakKind.OMNIBUS, wallet_account(rows[0].address))].difference == 7
    assert {BreakKind.NET_TOTAL, BreakKind.NET_HELD, BreakKind.LEDGER_TOTAL} <= {b.kind for b in report.breaks}


def test_coins_sent_to_the_net_contract_directly_are_a_surplus_break(
    isolated_devnet: Devnet, engine: Engine, journal: JournalStore, actions: ChainActions, indexer: Indexer
) -> None:
    contract, _ = _net_activity(isolated_devnet, engine, actions)
    actions.transfer(actions.manifest.brokers[3], contract.address, 5 * COINS)
    indexer.run_until_head()
    assert journal.balance(SETTLEMENT_UNASSIGNED_ACCOUNT) == 5 * COINS
    report = reconcile(isolated_devnet.chain(), engine)
    assert [(b.kind, b.on_chain, b.ledger) for b in report.breaks] == [(BreakKind.NET_SURPLUS, 5 * COINS, 5 * COINS)]


def test_a_reorged_window_is_reversed_and_no_longer_counted(
    isolated_devnet: Devnet, engine: Engine, journal: JournalStore, actions: ChainActions, indexer: Indexer
) -> None:
    contract, rows = _net_activity(isolated_devnet, engine, actions, settle=False)
    before = {r.address: contract.balance_of(r.address) for r in rows}
    snapshot = isolated_devnet.snapshot()
    _settle_window_1(contract, rows, actions)
    indexer.run_until_head()
    assert reconcile(isolated_devnet.chain(), engine).balanced

    isolated_devnet.revert(snapshot)  # the window's block is gone: a reorg without it
    isolated_devnet.mine(3)
    assert indexer.run_until_head().reorged_blocks > 0
    kinds = [r.kind for r in journal.iter_records()]
    assert kinds.count(EntryKind.NET_SETTLEMENT) == 1 and EntryKind.REVERSAL in kinds
    for row in rows:
        assert journal.balance(settlement_account(row.address)) == before[row.address]
    report = reconcile(isolated_devnet.chain(), engine)
    assert report.balanced, report.breaks  # the reversed window is neither a position nor a break
