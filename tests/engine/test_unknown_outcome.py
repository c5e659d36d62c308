"""A transaction whose fate is unknown (no receipt in time) is neither failed nor sent twice."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session

from settlement.domain.access import Actor
from settlement.domain.trade import TradeStatus
from settlement.ledger import repository as repo
from settlement.service import SettlementService
from settlement.testing.devnet import Devnet
from tests.engine.conftest import OPERATOR, Brokers, make_settings
from tests.engine.test_crash import events_for
from tests.engine.test_lifecycle import hkd_trade


@pytest.fixture
def impatient_service(isolated_devnet: Devnet, db_url: str, tmp_path: Path) -> Iterator[SettlementService]:
    settings = make_settings(isolated_devnet, db_url, tmp_path, receipt_timeout_s=0.5)
    service = SettlementService(settings, manifest=isolated_devnet.manifest)
    yield service
    service.close()


@pytest.fixture
def impatient_brokers(impatient_service: SettlementService) -> Brokers:
    register = impatient_service.participants.register
    return Brokers(register("HK one", "HK")[0], register("CN one", "HK")[0], register("SG one", "SG")[0])


def test_receipt_timeout_leaves_trade_pending_then_recovers_it(
    impatient_service: SettlementService, impatient_brokers: Brokers, isolated_devnet: Devnet
) -> None:
    service, brokers = impatient_service, impatient_brokers
    service.intake.submit(hkd_trade(brokers, "warm-up"), OPERATOR)
    service.settle_until_idle()  # approves the escrow once, so only the lock is in question below

    trade, _ = service.intake.submit(hkd_trade(brokers, "stalled"), OPERATOR)
    key = bytes.fromhex(trade.chain_trade_id[2:])
    isolated_devnet.rpc("evm_setAutomine", False)
    try:
        report = service.cycle.run_once()  # the lock is sent but never mined in time
    finally:
        isolated_devnet.rpc("evm_setAutomine", True)
    assert report.locked == 0 and report.failed == 0
    with Session(service.db) as session:
        stalled = repo.get_trade(session, trade.id)
        assert stalled.status == TradeStatus.PENDING and stalled.error_code == "chain_unavailable"

    isolated_devnet.mine()  # the pending lock lands
    service.settle_until_idle()  # recover() first: adopts the mined lock instead of sending another

    with Session(service.db) as session:
        assert repo.get_trade(session, trade.id).status == TradeStatus.LOCKED
    assert events_for(isolated_devnet, "Locked", key) == 1
    assert service.reconcile(Actor.operator()).balanced
