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


def hkd_trade_for(buyer_id: str, seller_id: str, ref: str) -> TradeRequest:
    return TradeRequest(ref, buyer_id, seller_id, "0700.HK", Decimal("10"), Decimal("380.2"), "HKD")
