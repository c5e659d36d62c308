"""Every transition of a trade, end to end: engine -> anvil -> indexer -> ledger -> reconcile."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlmodel import Session, func, select

from settlement import errors
from settlement.chain.client import LockStatus
from settlement.chain.sender import Call
from settlement.domain.access import Actor
from settlement.domain.journal import client_account, escrow_account, wallet_account
from settlement.domain.requests import TradeRequest
from settlement.domain.trade import Side, TradeStatus
from settlement.ledger import repository as repo
from settlement.ledger.models import Trade
from settlement.service import SettlementService
from settlement.testing.devnet import Devnet
from tests.engine.conftest import OPERATOR, Brokers

HKD_RATE = Decimal("0.128205")


def hkd_trade(brokers: Brokers, ref: str, **overrides: object) -> TradeRequest:
    fields: dict[str, object] = {
        "trade_ref": ref,
        "buyer_id": brokers.hk.id,
        "seller_id": brokers.sg.id,
        "instrument": "0700.HK",
        "quantity": Decimal("100"),
        "price": Decimal("380.20"),
        "currency": "HKD",
    }
    fields.update(overrides)
    return TradeRequest(**fields)  # type: ignore[arg-type]


def token_admin(service: SettlementService, function: str, *args: object) -> None:
    """An issuer action on the token (blacklist, pause), as the token's owner would do it."""
    assert service.custody.issuer is not None
    token = service.chain.token
    call_args = [service.chain.w3.to_checksum_address(a) if isinstance(a, str) else a for a in args]
    service.custody.issuer.transact(Call(str(token.address), token.encode_abi(function, call_args), function))


def five_minutes_ahead(service: SettlementService) -> tuple[datetime, int]:
    """A deadline 5 minutes ahead by both clocks, and the chain seconds to skip to pass it.

    The session chain's clock lags the wall clock after snapshot reverts, and intake wants a
    deadline in the future by both."""
    chain_now = datetime.fromtimestamp(service.chain.latest_timestamp(), UTC)
    deadline = max(chain_now, datetime.now(UTC)) + timedelta(minutes=5)
    return deadline, int((deadline - chain_now).total_seconds()) + 300


def chain_key(trade: Trade) -> bytes:
    return bytes.fromhex(trade.chain_trade_id[2:])


def reload(service: SettlementService, trade_id: str) -> Trade:
    with Session(service.db) as session:
        return repo.get_trade(session, trade_id)


def test_lock_then_release_moves_coins_and_mirrors_ledger(service: SettlementService, brokers: Brokers) -> None:
    chain = service.chain
    payer_before = chain.balance_of(brokers.hk.address)
    payee_before = chain.balance_of(brokers.sg.address)

    trade, created = service.intake.submit(hkd_trade(brokers, "T-1"), OPERATOR)
    amount = trade.settlement_amount_base_units
    assert created and trade.status == TradeStatus.PENDING
    assert amount == 4_874_354_100  # 100 x 380.20 HKD x 0.128205, half-even to 6 dp
    assert trade.fx_rate == str(HKD_RATE) and trade.fx_source == "devnet-default"

    service.settle_until_idle()
    locked = reload(service, trade.id)
    assert locked.status == TradeStatus.LOCKED and locked.lock_tx_hash and locked.lock_block
    assert chain.get_lock(chain_key(trade)).status == LockStatus.LOCKED
    assert chain.balance_of(brokers.hk.address) == payer_before - amount
    assert chain.balance_of(brokers.sg.address) == payee_before  # nothing paid before delivery
    assert service.journal.balance(escrow_account(trade.chain_trade_id)) == amount

    service.instructions.confirm_delivery(trade.id)
    service.settle_until_idle()
    released = reload(service, trade.id)
    assert released.status == TradeStatus.RELEASED and released.release_tx_hash
    settled = chain.get_lock(chain_key(trade))
    assert settled.status == LockStatus.RELEASED
    # The escrow deleted the lock and kept only its outcome; reconcile (below) still balances.
    assert (int(settled.payer, 16), int(settled.payee, 16), settled.amount_base_units, settled.deadline) == (0, 0, 0, 0)
    assert chain.balance_of(brokers.sg.address) == payee_before + amount
    assert chain.total_locked() == 0
    assert service.journal.balance(escrow_account(trade.chain_trade_id)) == 0
    assert service.journal.balance(wallet_account(brokers.sg.address)) == payee_before + amount

    with Session(service.db) as session:
        trail = [(t.from_status, t.to_status) for t in repo.transitions_of(session, trade.id)]
    assert trail == [("", "PENDING"), ("PENDING", "LOCKED"), ("LOCKED", "RELEASED")]
    report = service.reconcile(Actor.operator())
    assert report.balanced, report.breaks


def test_cancel_after_lock_refunds_payer(service: SettlementService, brokers: Brokers) -> None:
    payer_before = service.chain.balance_of(brokers.hk.address)
    trade, _ = service.intake.submit(hkd_trade(brokers, "T-cancel"), OPERATOR)
    service.settle_until_idle()
    service.instructions.cancel(trade.id, Side.BUYER)
    service.instructions.cancel(trade.id, Side.SELLER)
    service.settle_until_idle()
    refunded = reload(service, trade.id)
    assert refunded.status == TradeStatus.REFUNDED and refunded.refund_tx_hash
    assert service.chain.get_lock(chain_key(trade)).status == LockStatus.REFUNDED
    assert service.chain.balance_of(brokers.hk.address) == payer_before
    assert service.reconcile(Actor.operator()).balanced


def test_cancel_before_lock_fails_without_touching_chain(service: SettlementService, brokers: Brokers) -> None:
    trade, _ = service.intake.submit(hkd_trade(brokers, "T-early"), OPERATOR)
    service.instructions.cancel(trade.id, Side.BUYER)
    service.instructions.cancel(trade.id, Side.SELLER)
    service.settle_until_idle()
    failed = reload(service, trade.id)
    assert failed.status == TradeStatus.FAILED and failed.error_code == "cancelled_before_lock"
    assert service.chain.get_lock(chain_key(trade)).status == LockStatus.NONE


def test_expired_lock_is_swept_and_refunded(
    service: SettlementService, brokers: Brokers, isolated_devnet: Devnet
) -> None:
    deadline, past_it_s = five_minutes_ahead(service)
    trade, _ = service.intake.submit(hkd_trade(brokers, "T-late", deadline=deadline), OPERATOR)
    service.settle_until_idle()
    assert reload(service, trade.id).status == TradeStatus.LOCKED

    service.settle_until_idle()
    assert reload(service, trade.id).status == TradeStatus.LOCKED  # not before the deadline

    isolated_devnet.increase_time(past_it_s)
    service.settle_until_idle()
    assert reload(service, trade.id).status == TradeStatus.REFUNDED
    assert service.reconcile(Actor.operator()).balanced


def test_confirm_after_deadline_still_ends_refunded(
    service: SettlementService, brokers: Brokers, isolated_devnet: Devnet
) -> None:
    deadline, past_it_s = five_minutes_ahead(service)
    trade, _ = service.intake.submit(hkd_trade(brokers, "T-too-late", deadline=deadline), OPERATOR)
    service.settle_until_idle()
    isolated_devnet.increase_time(past_it_s)
    service.instructions.confirm_delivery(trade.id)
    service.settle_until_idle()
    assert reload(service, trade.id).status == TradeStatus.REFUNDED


def test_many_trades_settle_in_batches(service: SettlementService, brokers: Brokers) -> None:
    trades = [
        service.intake.submit(hkd_trade(brokers, f"B-{i}", quantity=Decimal(i + 1)), OPERATOR)[0] for i in range(12)
    ]
    report = service.settle_until_idle()
    assert report.locked == 12
    assert report.transactions <= 3  # one approval + one lockBatch (+ slack), not twelve locks
    for trade in trades:
        service.instructions.confirm_delivery(trade.id)
    report = service.settle_until_idle()
    assert report.released == 12 and report.transactions == 1
    netting = report.netting()  # all twelve go HK -> SG: one net obligation for the gross sum
    assert netting.gross_base_units == sum(t.settlement_amount_base_units for t in trades)
    assert [(o.payer_id, o.payee_id) for o in netting.net_obligations] == [(brokers.hk.id, brokers.sg.id)]
    assert service.chain.total_locked() == 0
    assert service.reconcile(Actor.operator()).balanced


def test_one_bad_trade_does_not_block_its_batch(service: SettlementService, brokers: Brokers) -> None:
    good = [service.intake.submit(hkd_trade(brokers, f"G-{i}"), OPERATOR)[0] for i in range(3)]
    bad, _ = service.intake.submit(hkd_trade(brokers, "bad", buyer_id=brokers.cn.id, seller_id=brokers.sg.id), OPERATOR)
    # The payer is blacklisted after acceptance: its lock will revert inside the batch.
    token_admin(service, "addBlackList", brokers.cn.address)
    service.settle_until_idle()
    assert [reload(service, t.id).status for t in good] == [TradeStatus.LOCKED] * 3
    failed = reload(service, bad.id)
    assert failed.status == TradeStatus.FAILED and failed.error_code == "blacklisted"
    assert service.chain.get_lock(chain_key(bad)).status == LockStatus.NONE


def test_release_to_blacklisted_payee_keeps_lock_and_says_why(service: SettlementService, brokers: Brokers) -> None:
    trade, _ = service.intake.submit(hkd_trade(brokers, "T-bl"), OPERATOR)
    service.settle_until_idle()
    token_admin(service, "addBlackList", brokers.sg.address)
    service.instructions.confirm_delivery(trade.id)
    service.settle_until_idle()
    stuck = reload(service, trade.id)
    assert stuck.status == TradeStatus.LOCKED and stuck.error_code == "blacklisted"
    service.instructions.cancel(trade.id, Side.OPERATOR)
    service.settle_until_idle()
    assert reload(service, trade.id).status == TradeStatus.REFUNDED


def test_client_sub_accounts_follow_the_trade(service: SettlementService, brokers: Brokers) -> None:
    buyer_client = service.participants.add_client(brokers.hk.id, "HK client A")
    seller_client = service.participants.add_client(brokers.sg.id, "SG client B")
    service.indexer.run_until_head()
    service.participants.allocate(brokers.hk.id, buyer_client.id, 10_000 * 10**6)
    trade, _ = service.intake.submit(
        hkd_trade(brokers, "T-client", buyer_client_id=buyer_client.id, seller_client_id=seller_client.id),
        OPERATOR,
    )
    service.settle_until_idle()
    service.instructions.confirm_delivery(trade.id)
    service.settle_until_idle()
    amount = trade.settlement_amount_base_units
    assert service.journal.balance(client_account(buyer_client.id)) == 10_000 * 10**6 - amount
    assert service.journal.balance(client_account(seller_client.id)) == amount
    balances = service.participants.balances(brokers.hk.id)
    assert balances.on_chain_base_units == balances.ledger_base_units
    assert service.reconcile(Actor.operator()).balanced


def test_submission_is_idempotent_per_key(service: SettlementService, brokers: Brokers) -> None:
    first, created = service.intake.submit(hkd_trade(brokers, "T-idem"), OPERATOR, "key-1")
    again, created_again = service.intake.submit(hkd_trade(brokers, "T-idem"), OPERATOR, "key-1")
    assert created and not created_again and again.id == first.id
    with pytest.raises(errors.IdempotencyConflict):
        service.intake.submit(hkd_trade(brokers, "T-idem", price=Decimal("1")), OPERATOR, "key-1")
    with Session(service.db) as session:
        assert session.exec(select(func.count()).select_from(Trade)).one() == 1
