"""Faults injected between the service and anvil: lost receipts and lost answers strand nothing.

The review's case: the receipt polls after a lock broadcast were dropped, a transport error
escaped the cycle without marking the outcome unknown, the buyer's cancel then failed the trade
"before the lock was sent" while the chain held it locked, and nothing ever refunded it.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import Session

from settlement import errors
from settlement.chain.client import LockStatus
from settlement.chain.trade_ids import chain_trade_key
from settlement.domain.access import Actor
from settlement.domain.requests import TradeRequest
from settlement.domain.trade import Side, TradeStatus
from settlement.ledger import repository as repo
from settlement.service import SettlementService
from settlement.testing.devnet import Devnet
from tests.engine.conftest import OPERATOR, make_settings
from tests.faults.flaky_rpc import FlakyRpc

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


def status_of(service: SettlementService, trade_id: str) -> str:
    with Session(service.db) as session:
        return repo.get_trade(session, trade_id).status


def test_a_lock_whose_receipt_is_lost_is_found_and_refunded_on_cancel(
    flaky_service: SettlementService, proxy: FlakyRpc, isolated_devnet: Devnet
) -> None:
    service = flaky_service
    brokers = [service.participants.register(name, "HK")[0] for name in ("Lost Receipt Buyer", "Lost Receipt Seller")]
    buyer, seller = brokers
    service.intake.submit(hkd_trade_for(buyer.id, seller.id, "warm-up"), OPERATOR)
    service.run_cycle()  # the buyer's escrow approval (and a first lock), receipts still answered
    trade, _ = service.intake.submit(hkd_trade_for(buyer.id, seller.id, "lost-receipt"), OPERATOR)

    proxy.drop_methods = {"eth_getTransactionReceipt"}
    report = service.run_cycle()  # the lock goes out; every receipt poll is lost: no exception escapes
    key = chain_trade_key(trade.chain_trade_id)
    assert isolated_devnet.chain().get_lock(key).status == LockStatus.LOCKED  # it did land
    assert status_of(service, trade.id) == TradeStatus.PENDING and report.locked == 0
    assert service.cycle.submission.outcome_unknown

    service.instructions.cancel(trade.id, Side.OPERATOR)  # the cancel arrives while the outcome is unknown
    proxy.heal()
    service.settle_until_idle()
    assert status_of(service, trade.id) == TradeStatus.REFUNDED
    assert isolated_devnet.chain().get_lock(key).status == LockStatus.REFUNDED
    assert service.reconcile(Actor.operator()).balanced


def test_a_cancelled_trade_is_never_failed_over_a_lock_on_chain(
    flaky_service: SettlementService, proxy: FlakyRpc, isolated_devnet: Devnet
) -> None:
    """Even with the unknown-outcome flag lost (a restart), the cancel path asks the escrow first."""
    service = flaky_service
    buyer, seller = (service.participants.register(n, "SG")[0] for n in ("Flag Lost Buyer", "Flag Lost Seller"))
    service.intake.submit(hkd_trade_for(buyer.id, seller.id, "warm-up"), OPERATOR)
    service.run_cycle()
    trade, _ = service.intake.submit(hkd_trade_for(buyer.id, seller.id, "flag-lost"), OPERATOR)
    proxy.drop_after_forwarding = {"eth_getTransactionReceipt"}
    service.run_cycle()
    service.cycle.submission.outcome_unknown = False  # as if the process had restarted and forgotten
    service.instructions.cancel(trade.id, Side.OPERATOR)
    proxy.heal()
    service.cycle.run_once()
    assert status_of(service, trade.id) != TradeStatus.FAILED
    service.settle_until_idle()
    assert status_of(service, trade.id) == TradeStatus.REFUNDED
    assert isolated_devnet.chain().get_lock(chain_trade_key(trade.chain_trade_id)).status == LockStatus.REFUNDED


@pytest.mark.parametrize("path", ["single", "batch"])
def test_a_lock_mined_before_the_worker_records_it_is_not_counted_twice(
    flaky_service: SettlementService, proxy: FlakyRpc, isolated_devnet: Devnet, path: str
) -> None:
    """Between a lock being mined and the worker recording the trade LOCKED, the chain balance has
    paid for the trade and its reservation still holds it. Intake must not count it twice and
    refuse a payer that can pay; nor may it accept a coin more than the payer has."""
    service = flaky_service
    buyer, seller = (service.participants.register(n, "HK")[0] for n in (f"Twice {path} Buyer", f"Twice {path} Seller"))
    service.intake.submit(hkd_trade_for(buyer.id, seller.id, "warm-up"), OPERATOR)
    service.run_cycle()
    first, _ = service.intake.submit(hkd_trade_for(buyer.id, seller.id, "mined-not-recorded"), OPERATOR)
    proxy.drop_methods = {"eth_getTransactionReceipt"}
    service.run_cycle()  # the lock lands; the worker never hears of it
    proxy.heal()
    assert isolated_devnet.chain().get_lock(chain_trade_key(first.chain_trade_id)).status == LockStatus.LOCKED
    assert status_of(service, first.id) == TradeStatus.PENDING  # still reserved

    free_base_units = service.chain.balance_of(buyer.address)  # the first trade is already paid for
    assert free_base_units > 2 * first.settlement_amount_base_units
    all_of_it = usd_trade_for(buyer.id, seller.id, "all-of-it", free_base_units)
    one_more = usd_trade_for(buyer.id, seller.id, "one-coin-more", free_base_units + 1)

    def submit(request: TradeRequest) -> str | None:
        """The trade's status, or the refusal's code."""
        if path == "single":
            try:
                return service.intake.submit(request, OPERATOR)[0].status
            except errors.SettlementError as exc:
                return exc.code
        result = service.batch_intake.submit([request], OPERATOR)[0]
        return result.error.code if result.error else result.status

    assert submit(one_more) == "insufficient_funds"  # what must not happen: a coin more than it has
    assert submit(all_of_it) == TradeStatus.PENDING  # what must: every coin it has
    service.settle_until_idle()
    assert status_of(service, first.id) == TradeStatus.LOCKED
    assert service.chain.balance_of(buyer.address) == 0
    assert service.reconcile(Actor.operator()).balanced


def usd_trade_for(buyer_id: str, seller_id: str, ref: str, amount_base_units: int) -> TradeRequest:
    return TradeRequest(ref, buyer_id, seller_id, "BOND-1", Decimal(1), Decimal(amount_base_units) / 10**6, "USD")


def hkd_trade_for(buyer_id: str, seller_id: str, ref: str) -> TradeRequest:
    return TradeRequest(ref, buyer_id, seller_id, "0700.HK", Decimal("10"), Decimal("380.2"), "HKD")
