"""Trades whose on-chain state differs from the service's are realigned from the chain.

The review's cases: a release (or refund) whose receipt was lost while the service forgot that
the outcome was unknown (a restart) left the trade LOCKED for good, each retry reverting
NotLocked; a reorg that dropped a booked lock left the trade LOCKED with no lock on chain. Here
each ends where the chain says within a cycle or two, with the step recorded as realigned from
the chain, and never with `not_locked`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import Session

from settlement.api.schemas.trades import TransitionPublic
from settlement.chain.client import LockStatus
from settlement.chain.trade_ids import chain_trade_key
from settlement.domain.access import Actor
from settlement.domain.requests import TradeRequest
from settlement.domain.trade import Side, TradeStatus
from settlement.ledger import repository as repo
from settlement.ledger.models import Participant, Trade, TradeTransition
from settlement.processing.publisher import TradeEvent
from settlement.service import SettlementService
from settlement.testing.devnet import Devnet
from tests.engine.conftest import OPERATOR, make_settings
from tests.faults.flaky_rpc import FlakyRpc
from tests.ledger.factories import add_trade

pytestmark = pytest.mark.chain


@pytest.fixture
def proxy(isolated_devnet: Devnet) -> Iterator[FlakyRpc]:
    with FlakyRpc(isolated_devnet.rpc_url) as flaky:
        yield flaky


@pytest.fixture
def flaky_service(isolated_devnet: Devnet, proxy: FlakyRpc, db_url: str, tmp_path: Path) -> Iterator[SettlementService]:
    settings = make_settings(isolated_devnet, db_url, tmp_path, rpc_url=proxy.url, receipt_timeout_s=1.5)
    service = SettlementService(settings, manifest=isolated_devnet.manifest)
    yield service
    service.close()


def hkd_trade_for(buyer_id: str, seller_id: str, ref: str) -> TradeRequest:
    return TradeRequest(ref, buyer_id, seller_id, "0700.HK", Decimal("10"), Decimal("380.2"), "HKD")


def locked_trade(service: SettlementService, ref: str) -> tuple[Trade, Participant, Participant]:
    """A trade LOCKED on chain and in the service (the buyer's escrow approval done before)."""
    buyer, seller = (service.participants.register(f"{ref} {side}", "HK")[0] for side in ("Buyer", "Seller"))
    trade, _ = service.intake.submit(hkd_trade_for(buyer.id, seller.id, ref), OPERATOR)
    service.settle_until_idle()
    assert row(service, trade.id).status == TradeStatus.LOCKED
    return trade, buyer, seller


def row(service: SettlementService, trade_id: str) -> Trade:
    with Session(service.db) as session:
        return repo.get_trade(session, trade_id)


def trail(service: SettlementService, trade_id: str) -> list[TradeTransition]:
    with Session(service.db) as session:
        return list(repo.transitions_of(session, trade_id))


def realigned_steps(service: SettlementService, trade_id: str) -> list[tuple[str, str, str | None]]:
    return [
        (t.from_status, t.to_status, t.tx_hash)
        for t in trail(service, trade_id)
        if t.reason == repo.REALIGNED_FROM_CHAIN
    ]


MINED_WAIT_S = 10.0


def wait_for_lock_status(devnet: Devnet, key: bytes, expected: LockStatus) -> None:
    """The lock as the chain has it, once the transaction is stored. With the answer to
    eth_sendRawTransaction lost nobody waited for its receipt, and anvil's automine stores the
    block after answering (foundry-rs/foundry#3537): read at once, the lock can still be LOCKED."""
    deadline = time.monotonic() + MINED_WAIT_S
    while (status := devnet.chain().get_lock(key).status) != expected:
        assert time.monotonic() < deadline, f"the lock is {status}, expected {expected}"
        time.sleep(0.05)


def forget_unknown_outcome(service: SettlementService) -> None:
    """As after a restart: the in-memory mark that an outcome is unknown is gone."""
    service.cycle.submission.outcome_unknown = False


@pytest.mark.parametrize("lost", ["eth_getTransactionReceipt", "eth_sendRawTransaction"])
def test_a_release_whose_answer_is_lost_is_realigned_to_released(
    flaky_service: SettlementService, proxy: FlakyRpc, isolated_devnet: Devnet, lost: str
) -> None:
    service = flaky_service
    trade, _, _ = locked_trade(service, f"lost-release-{lost[4:12]}")
    key = chain_trade_key(trade.chain_trade_id)
    events: list[TradeEvent] = []
    service.subscribe(events.append)
    service.instructions.confirm_delivery(trade.id)

    proxy.drop_after_forwarding = {lost}
    service.run_cycle()  # the release is mined; the service never hears of it
    wait_for_lock_status(isolated_devnet, key, LockStatus.RELEASED)
    assert row(service, trade.id).status == TradeStatus.LOCKED
    forget_unknown_outcome(service)
    proxy.heal()

    service.run_cycle()  # the release is retried, reverts NotLocked: the chain already moved
    released = row(service, trade.id)
    assert released.status == TradeStatus.RELEASED and released.error_code is None
    tx_hash, block = isolated_devnet.chain().last_escrow_event("Released", key)
    assert released.release_tx_hash == tx_hash and released.release_block == block
    assert realigned_steps(service, trade.id) == [(TradeStatus.LOCKED, TradeStatus.RELEASED, tx_hash)]
    assert all(t.error_code != "not_locked" for t in trail(service, trade.id))
    assert [(e.trade_id, e.status, e.tx_hash) for e in events] == [(trade.id, TradeStatus.RELEASED, tx_hash)]
    shown = [TransitionPublic.of(t) for t in service.transitions(Actor.operator(), trade.id)]
    assert [(t.to_status, t.reason) for t in shown][-1] == (TradeStatus.RELEASED, "realigned_from_chain")
    assert service.reconcile(Actor.operator()).balanced


def test_a_refund_whose_receipt_is_lost_is_realigned_to_refunded(
    flaky_service: SettlementService, proxy: FlakyRpc, isolated_devnet: Devnet
) -> None:
    service = flaky_service
    trade, _, _ = locked_trade(service, "lost-refund")
    key = chain_trade_key(trade.chain_trade_id)
    service.instructions.cancel(trade.id, Side.OPERATOR)

    proxy.drop_after_forwarding = {"eth_getTransactionReceipt"}
    service.run_cycle()
    assert isolated_devnet.chain().get_lock(key).status == LockStatus.REFUNDED
    forget_unknown_outcome(service)
    proxy.heal()

    service.settle_until_idle()
    refunded = row(service, trade.id)
    tx_hash, _ = isolated_devnet.chain().last_escrow_event("Refunded", key)
    assert refunded.status == TradeStatus.REFUNDED and refunded.refund_tx_hash == tx_hash
    assert refunded.error_code is None
    assert realigned_steps(service, trade.id) == [(TradeStatus.LOCKED, TradeStatus.REFUNDED, tx_hash)]
    assert service.reconcile(Actor.operator()).balanced


def drop_the_lock_by_reorg(service: SettlementService, isolated_devnet: Devnet, ref: str) -> tuple[Trade, Trade, int]:
    """Lock a trade, index it, then revert the chain to before the lock (a reorg that lost it).

    The agent's nonce is filled on the new chain by another transaction, as a competing fork
    would: the journal's nonce stays consistent, and only the lock is gone. Returns the trade,
    the buyer's warm-up trade (still locked) and the buyer's balance before the lost lock."""
    buyer, seller = (service.participants.register(f"{ref} {side}", "HK")[0] for side in ("Buyer", "Seller"))
    warm_up, _ = service.intake.submit(hkd_trade_for(buyer.id, seller.id, f"{ref}-warm-up"), OPERATOR)
    service.settle_until_idle()  # the buyer's escrow approval, once
    trade, _ = service.intake.submit(hkd_trade_for(buyer.id, seller.id, ref), OPERATOR)
    chain = isolated_devnet.chain()
    balance_before = chain.balance_of(buyer.address)
    fork = isolated_devnet.snapshot()
    service.run_cycle()  # lock mined and booked, then indexed
    assert row(service, trade.id).status == TradeStatus.LOCKED
    assert chain.balance_of(buyer.address) == balance_before - trade.settlement_amount_base_units

    isolated_devnet.revert(fork)
    agent = isolated_devnet.manifest.agent.address
    assert isolated_devnet.send_as(agent, agent)["status"] == 1
    assert chain.get_lock(chain_trade_key(trade.chain_trade_id)).status == LockStatus.NONE
    return trade, warm_up, balance_before


def test_a_lock_dropped_by_a_reorg_is_locked_again(flaky_service: SettlementService, isolated_devnet: Devnet) -> None:
    service = flaky_service
    trade, _, balance_before = drop_the_lock_by_reorg(service, isolated_devnet, "reorged-lock")
    buyer = service.participant(trade.buyer_id)

    service.run_cycle()  # the indexer notices the reorg and rewinds
    service.run_cycle()  # the sweep reads the LOCKED trades back: no lock, so PENDING, and locked again
    relocked = row(service, trade.id)
    key = chain_trade_key(trade.chain_trade_id)
    tx_hash, _ = isolated_devnet.chain().last_escrow_event("Locked", key)
    assert relocked.status == TradeStatus.LOCKED and relocked.lock_tx_hash == tx_hash
    assert realigned_steps(service, trade.id) == [(TradeStatus.LOCKED, TradeStatus.PENDING, None)]
    assert [t.to_status for t in trail(service, trade.id)][-2:] == [TradeStatus.PENDING, TradeStatus.LOCKED]
    # The coins are where the chain says: locked once, out of the buyer's wallet once.
    chain = isolated_devnet.chain()
    assert chain.get_lock(key).status == LockStatus.LOCKED
    assert chain.balance_of(buyer.address) == balance_before - trade.settlement_amount_base_units

    service.instructions.confirm_delivery(trade.id)
    service.settle_until_idle()
    assert row(service, trade.id).status == TradeStatus.RELEASED
    assert service.reconcile(Actor.operator()).balanced


def test_a_lock_dropped_by_a_reorg_after_its_deadline_fails_with_a_clear_code(
    flaky_service: SettlementService, isolated_devnet: Devnet
) -> None:
    service = flaky_service
    trade, warm_up, balance_before = drop_the_lock_by_reorg(service, isolated_devnet, "reorged-late")
    buyer = service.participant(trade.buyer_id)
    isolated_devnet.increase_time(service.settings.default_settlement_window_s + 3_600)

    service.settle_until_idle()
    failed = row(service, trade.id)
    assert failed.status == TradeStatus.FAILED and failed.error_code == "lock_dropped", failed
    assert realigned_steps(service, trade.id) == [(TradeStatus.LOCKED, TradeStatus.PENDING, None)]
    assert all(t.error_code != "not_locked" for t in trail(service, trade.id))
    # Never locked on the canonical chain; the warm-up trade expired too and was refunded.
    assert row(service, warm_up.id).status == TradeStatus.REFUNDED
    expected = balance_before + warm_up.settlement_amount_base_units
    assert isolated_devnet.chain().balance_of(buyer.address) == expected
    assert service.reconcile(Actor.operator()).balanced


def test_a_lock_recovered_by_the_escrow_admin_leaves_locked_for_recovered(
    isolated_devnet: Devnet, db_url: str, tmp_path: Path
) -> None:
    """Both parties blacklisted, the admin's timelocked recovery pays the lock out: no call of the
    service fails (nothing is due), so only the periodic sweep can find it."""
    settings = make_settings(
        isolated_devnet, db_url, tmp_path, realign_every_cycles=3, default_settlement_window_s=7 * 86_400
    )
    service = SettlementService(settings, manifest=isolated_devnet.manifest)
    try:
        trade, buyer, seller = locked_trade(service, "recovered")
        key = chain_trade_key(trade.chain_trade_id)
        chain = isolated_devnet.chain()
        admin = isolated_devnet.manifest.deployer.address
        rescue_to = isolated_devnet.manifest.spare_accounts[0].address
        admin_sends(isolated_devnet, chain.token.address, chain.token_calldata.encode("addBlackList", [buyer.address]))
        admin_sends(isolated_devnet, chain.token.address, chain.token_calldata.encode("addBlackList", [seller.address]))
        escrow = chain.escrow.address
        admin_sends(isolated_devnet, escrow, chain.escrow_calldata.encode("scheduleRecovery", [key, rescue_to]))
        isolated_devnet.increase_time(2 * 86_400 + 60)
        admin_sends(isolated_devnet, escrow, chain.escrow_calldata.encode("executeRecovery", [key]))
        assert chain.get_lock(key).status == LockStatus.RECOVERED
        assert admin == isolated_devnet.manifest.issuer.address  # one devnet key holds both roles

        for _ in range(settings.realign_every_cycles):
            service.run_cycle()
        recovered = row(service, trade.id)
        tx_hash, _ = chain.last_escrow_event("Recovered", key)
        assert recovered.status == TradeStatus.RECOVERED
        assert realigned_steps(service, trade.id) == [(TradeStatus.LOCKED, TradeStatus.RECOVERED, tx_hash)]
        assert service.reconcile(Actor.operator()).balanced
    finally:
        service.close()


def admin_sends(devnet: Devnet, to: str, data: str) -> None:
    """A transaction from the deployer (token blacklister, escrow RECOVERY_ROLE), mined at once."""
    assert devnet.send_as(devnet.manifest.deployer.address, to, data)["status"] == 1


def test_a_refund_someone_else_made_is_realigned_when_ours_reverts_not_locked(
    isolated_devnet: Devnet, db_url: str, tmp_path: Path
) -> None:
    """Anyone may refund after the deadline and its grace period: the service's own refund then
    reverts NotLocked, which says the chain already moved, so the trade is read back at once."""
    settings = make_settings(isolated_devnet, db_url, tmp_path, realign_every_cycles=1_000)
    service = SettlementService(settings, manifest=isolated_devnet.manifest)
    try:
        trade, _, _ = locked_trade(service, "refunded-by-stranger")
        key = chain_trade_key(trade.chain_trade_id)
        chain = isolated_devnet.chain()
        isolated_devnet.increase_time(settings.default_settlement_window_s + 86_400 + 60)  # deadline + grace
        stranger = isolated_devnet.manifest.spare_accounts[1].address
        refund = chain.escrow_calldata.encode("refund", [key])
        assert isolated_devnet.send_as(stranger, chain.escrow.address, refund)["status"] == 1
        assert chain.get_lock(key).status == LockStatus.REFUNDED

        report = service.run_cycle()
        refunded = row(service, trade.id)
        tx_hash, _ = chain.last_escrow_event("Refunded", key)
        assert refunded.status == TradeStatus.REFUNDED and refunded.refund_tx_hash == tx_hash
        assert report.realigned == 1 and report.refunded == 0  # not our refund: the chain's word
        assert realigned_steps(service, trade.id) == [(TradeStatus.LOCKED, TradeStatus.REFUNDED, tx_hash)]
        assert all(t.error_code != "not_locked" for t in trail(service, trade.id))
        assert service.reconcile(Actor.operator()).balanced
    finally:
        service.close()


def test_the_sweep_reads_a_bounded_page_each_time_it_is_due_and_walks_through_them_all(
    isolated_devnet: Devnet, db_url: str, tmp_path: Path
) -> None:
    """Five trades the database believes LOCKED with nothing on chain (as after a reorg the indexer
    has not seen yet): two per sweep, every other cycle, until all are back to PENDING."""
    settings = make_settings(isolated_devnet, db_url, tmp_path, realign_every_cycles=2, realign_trades_max=2)
    service = SettlementService(settings, manifest=isolated_devnet.manifest)
    try:
        buyer, seller = (service.participants.register(f"Sweep {side}", "HK")[0] for side in ("Buyer", "Seller"))
        phantoms = [add_trade(service.db, buyer, seller, 10 + n, status=TradeStatus.LOCKED) for n in range(5)]
        sweep = service.cycle.realignment
        assert [sweep.run_if_due() for _ in range(6)] == [2, 0, 2, 0, 1, 0]
        for trade in phantoms:
            assert row(service, trade.id).status == TradeStatus.PENDING
            assert realigned_steps(service, trade.id) == [(TradeStatus.LOCKED, TradeStatus.PENDING, None)]
    finally:
        service.close()
