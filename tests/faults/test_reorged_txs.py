"""A reorg drops a lock batch the service already booked: the sender sends it again, same bytes.

The review's case: with a confirmation depth of 0 a one-block reorg dropped a booked lock batch;
the nonce journal still said 'mined', so the agent's next nonce was one the chain never reaches:
every later transaction waited out the receipt timeout and all later trades stayed PENDING.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from hexbytes import HexBytes
from sqlmodel import Session

from settlement.chain.client import LockStatus
from settlement.chain.trade_ids import chain_trade_key
from settlement.domain.access import Actor
from settlement.domain.requests import TradeRequest
from settlement.domain.trade import TradeStatus
from settlement.ledger import repository as repo
from settlement.service import SettlementService
from settlement.testing.devnet import Devnet
from tests.engine.conftest import OPERATOR, make_settings

pytestmark = pytest.mark.chain

RECEIPT_TIMEOUT_S = 5.0


@pytest.fixture
def service(isolated_devnet: Devnet, db_url: str, tmp_path: Path) -> Iterator[SettlementService]:
    settings = make_settings(isolated_devnet, db_url, tmp_path, receipt_timeout_s=RECEIPT_TIMEOUT_S)
    svc = SettlementService(settings, manifest=isolated_devnet.manifest)
    yield svc
    svc.close()


def status_of(service: SettlementService, trade_id: str) -> str:
    with Session(service.db) as session:
        return repo.get_trade(session, trade_id).status


def request(buyer_id: str, seller_id: str, ref: str) -> TradeRequest:
    return TradeRequest(ref, buyer_id, seller_id, "0700.HK", Decimal("10"), Decimal("380.2"), "HKD")


def test_a_booked_lock_a_reorg_drops_is_sent_again_and_later_trades_lock(
    service: SettlementService, isolated_devnet: Devnet
) -> None:
    assert service.confirmation_depth == 0  # the instant-mining devnet
    buyer, seller = (service.participants.register(n, "HK")[0] for n in ("Reorg Buyer", "Reorg Seller"))
    first, _ = service.intake.submit(request(buyer.id, seller.id, "booked-then-reorged"), OPERATOR)
    service.run_cycle()
    assert status_of(service, first.id) == TradeStatus.LOCKED
    first_key = chain_trade_key(first.chain_trade_id)
    head = isolated_devnet.w3.eth.block_number
    (lock_tx,) = isolated_devnet.w3.eth.get_block(head)["transactions"]  # the lock batch, its own block
    assert isinstance(lock_tx, HexBytes)

    isolated_devnet.rpc("anvil_rollback", 1)  # a one-block reorg takes the lock batch away
    assert isolated_devnet.chain().get_lock(first_key).status == LockStatus.NONE
    with pytest.raises(Exception, match="not found"):
        isolated_devnet.w3.eth.get_transaction(lock_tx)

    second, _ = service.intake.submit(request(buyer.id, seller.id, "after-the-reorg"), OPERATOR)
    started = time.monotonic()
    report = service.run_cycle()

    assert time.monotonic() - started < RECEIPT_TIMEOUT_S  # no receipt timeout waited out
    assert report.locked == 1 and status_of(service, second.id) == TradeStatus.LOCKED
    assert isolated_devnet.chain().get_lock(first_key).status == LockStatus.LOCKED  # the same lock, again
    assert isolated_devnet.w3.eth.get_transaction_receipt(lock_tx)["status"] == 1  # same bytes
    assert isolated_devnet.chain().get_lock(chain_trade_key(second.chain_trade_id)).status == LockStatus.LOCKED
    service.settle_until_idle()
    assert service.reconcile(Actor.operator()).balanced
