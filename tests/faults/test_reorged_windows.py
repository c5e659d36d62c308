"""A reorg drops the transaction that settled a window the service had booked SETTLED.

The sender sends it again byte for byte; on the new branch the payer has withdrawn its
settlement balance, so it reverts. Before, the window and its trades stayed SETTLED, their
obligations journaled, while the chain had settled nothing: a state the chain contradicts.
Now the indexer's rewind makes the next cycle read the window back from SettlementNet: not
settled there, so its trades return to the window (realigned from the chain), its obligations
are reversed, and the window is split again (the short payer's trades roll to the next one,
which settles once the payer is funded again).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from settlement.domain.access import Actor
from settlement.domain.journal import OBLIGATION_PREFIX, EntryKind
from settlement.domain.requests import TradeRequest
from settlement.domain.trade import TradeStatus
from settlement.domain.window import WindowStatus
from settlement.ledger import repository as repo
from settlement.ledger import window_store
from settlement.ledger.models import Participant, Trade, TradeTransition
from settlement.service import SettlementService
from settlement.testing.devnet import Devnet
from tests.engine.conftest import OPERATOR, make_settings

pytestmark = pytest.mark.chain

COIN = 10**6
SETTLE_CYCLES_MAX = 40


@pytest.fixture
def service(isolated_devnet: Devnet, db_url: str, tmp_path: Path) -> Iterator[SettlementService]:
    settings = make_settings(isolated_devnet, db_url, tmp_path, window_length_s=3_600)
    svc = SettlementService(settings, manifest=isolated_devnet.manifest)
    yield svc
    svc.close()


def net_trade(payer: Participant, payee: Participant, ref: str, coins: int) -> TradeRequest:
    """A USD trade of exactly `coins` coins, net, its delivery confirmed by the operator."""
    return TradeRequest(
        ref,
        payer.id,
        payee.id,
        f"REORG-{ref}",
        Decimal(1),
        Decimal(coins),
        "USD",
        settlement_mode="net",
        delivery_confirmed=True,
    )


def trades(service: SettlementService, ids: list[str]) -> list[Trade]:
    with Session(service.db, expire_on_commit=False) as session:
        return [repo.get_trade(session, trade_id) for trade_id in ids]


def window_status(service: SettlementService, window_id: int) -> str:
    with Session(service.db) as session:
        return window_store.get(session, window_id).status


def obligation_balances(service: SettlementService, window_id: int) -> dict[str, int]:
    return service.journal.balances(prefix=f"{OBLIGATION_PREFIX}{window_id}:")


def settle_a_window(service: SettlementService, isolated_devnet: Devnet) -> tuple[Participant, list[str], int, str]:
    """Two brokers, two net trades, the window closed and settled; returns (payer A, trade ids,
    window id, a snapshot from just before the settlement)."""
    a, b = (service.participants.register(f"Reorged window {side}", "HK")[0] for side in ("A", "B"))
    for broker in (a, b):
        service.liquidity.deposit(broker.id, 500 * COIN)
    ids = [
        service.intake.submit(net_trade(a, b, "a-pays", 100), OPERATOR)[0].id,
        service.intake.submit(net_trade(b, a, "b-pays", 30), OPERATOR)[0].id,
    ]
    window_id = trades(service, ids)[0].window_id
    assert window_id is not None
    service.run_cycle()  # the deposits indexed
    fork = isolated_devnet.snapshot()
    assert service.settlement_windows.close(window_id)
    service.run_cycle()
    assert window_status(service, window_id) == WindowStatus.SETTLED
    assert {t.status for t in trades(service, ids)} == {TradeStatus.SETTLED}
    assert sum(1 for v in obligation_balances(service, window_id).values() if v) == 2  # A owes 70, B is owed
    return a, ids, window_id, fork


def test_a_window_settled_again_on_the_new_branch_stays_settled_once(
    service: SettlementService, isolated_devnet: Devnet
) -> None:
    """The same reorg, but the re-sent transaction settles the window again: nothing to undo."""
    _, ids, window_id, fork = settle_a_window(service, isolated_devnet)
    isolated_devnet.revert(fork)
    isolated_devnet.mine(2)
    for _ in range(3):
        service.run_cycle()
    on_chain = service.settlement_windows.require_net().window(window_id)
    assert on_chain.settled
    with Session(service.db) as session:
        window = window_store.get(session, window_id)
        assert (window.status, window.settlement_block) == (WindowStatus.SETTLED, on_chain.block_number)
    assert {t.status for t in trades(service, ids)} == {TradeStatus.SETTLED}
    assert [r.kind for r in service.journal.iter_records()].count(EntryKind.OBLIGATION) == 2
    assert EntryKind.REVERSAL not in {r.kind for r in service.journal.iter_records() if r.trade_id in ids}
    report = service.reconcile(Actor.operator())
    assert report.balanced, report.breaks


def test_a_window_read_back_before_its_transaction_is_sent_again_settles_once_in_the_ledger(
    service: SettlementService, isolated_devnet: Devnet
) -> None:
    """The read-back comes first: the chain has not settled the window, so it is reopened and its
    obligations reversed; then the sender's copy is mined and the same window settles again,
    journaling its obligations anew. Reconcile counts only the live ones."""
    _, ids, window_id, fork = settle_a_window(service, isolated_devnet)
    isolated_devnet.revert(fork)
    isolated_devnet.mine(2)
    service.indexer.run_once()  # the rewind
    service.settlement_windows.run_once()  # the read-back, before any cycle of the sender
    assert window_status(service, window_id) == WindowStatus.PENDING_SETTLEMENT
    assert {t.status for t in trades(service, ids)} == {TradeStatus.IN_WINDOW}
    assert all(v == 0 for v in obligation_balances(service, window_id).values())

    # The sender sends it again; a later cycle's follow-up sees it settled. anvil stores the mined
    # block after answering the send (foundry-rs/foundry#3537), so a cycle can find it not yet mined
    # and report nothing moved: cycle until the window settles, a bounded number of times.
    for _ in range(SETTLE_CYCLES_MAX):
        service.run_cycle()
        if window_status(service, window_id) == WindowStatus.SETTLED:
            break
        time.sleep(0.05)
    service.index()
    assert window_status(service, window_id) == WindowStatus.SETTLED
    assert {t.status for t in trades(service, ids)} == {TradeStatus.SETTLED}
    assert [r.kind for r in service.journal.iter_records()].count(EntryKind.OBLIGATION) == 4  # 2 reversed
    assert sum(1 for v in obligation_balances(service, window_id).values() if v) == 2
    report = service.reconcile(Actor.operator())
    assert report.balanced, report.breaks


@pytest.mark.parametrize("seen_by", ["this process", "a restarted process"])
def test_a_window_whose_settlement_a_reorg_undid_is_split_again_and_nothing_is_left_settled(
    service: SettlementService, isolated_devnet: Devnet, seen_by: str
) -> None:
    """Seen by a restarted process, the rewind's signal is lost with the old one: the first
    cycle's sweep of recently settled windows finds the window instead."""
    a, ids, first_window, fork = settle_a_window(service, isolated_devnet)
    isolated_devnet.revert(fork)  # a reorg without the settlement ...
    service.liquidity.withdraw(a.id, 450 * COIN)  # ... on a branch where A took its cover back
    isolated_devnet.mine(2)
    if seen_by == "a restarted process":
        service.indexer.run_once()  # the old process rewinds the ledger, then stops
        service.close()
        service = SettlementService(service.settings, manifest=isolated_devnet.manifest)
    try:
        check_split_again(service, a, ids, first_window)
    finally:
        if seen_by == "a restarted process":
            service.close()


def check_split_again(service: SettlementService, a: Participant, ids: list[str], first_window: int) -> None:
    for _ in range(3):  # the rewind, the window read back, split again
        service.run_cycle()

    assert not service.settlement_windows.require_net().window(first_window).settled
    after = trades(service, ids)
    assert {t.status for t in after} == {TradeStatus.IN_WINDOW}, after
    assert {t.error_code for t in after} == {"rolled_to_next_window"}  # A is short: its trades roll
    (next_window,) = {t.window_id for t in after}
    assert next_window is not None and next_window != first_window
    with Session(service.db) as session:
        steps = session.exec(
            select(TradeTransition.from_status, TradeTransition.to_status, TradeTransition.reason)
            .where(col(TradeTransition.trade_id).in_(ids))
            .where(TradeTransition.from_status == TradeStatus.SETTLED)
        ).all()
    assert sorted(steps) == [(TradeStatus.SETTLED, TradeStatus.IN_WINDOW, repo.REALIGNED_FROM_CHAIN)] * 2
    assert all(v == 0 for v in obligation_balances(service, first_window).values())  # reversed
    kinds = [r.kind for r in service.journal.iter_records()]
    assert kinds.count(EntryKind.OBLIGATION) == 2
    assert service.reconcile(Actor.operator()).balanced

    # Funded again, A's trades settle once, in the next window.
    service.liquidity.deposit(a.id, 100 * COIN)
    assert service.settlement_windows.close(next_window)
    service.settle_until_idle()
    assert {t.status for t in trades(service, ids)} == {TradeStatus.SETTLED}
    assert service.settlement_windows.require_net().window(next_window).settled
    assert [r.kind for r in service.journal.iter_records()].count(EntryKind.OBLIGATION) == 4  # 2 reversed, 2 live
    report = service.reconcile(Actor.operator())
    assert report.balanced, report.breaks
