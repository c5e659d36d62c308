"""A process killed mid-settlement and restarted pays exactly once.

The worker is SIGKILLed (no cleanup, no flush) between signing a transaction and recording it,
or between broadcasting it and recording its receipt, first while locking, then while releasing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from sqlmodel import Session

from settlement.config import PROJECT_ROOT, Settings
from settlement.domain.access import Actor
from settlement.domain.trade import TradeStatus
from settlement.ledger import repository as repo
from settlement.service import SettlementService
from settlement.testing.devnet import Devnet
from tests.engine.conftest import OPERATOR, Brokers
from tests.engine.test_lifecycle import hkd_trade

WORKER_TIMEOUT_S = 120


def run_worker(settings: Settings, phase: str, crash_at: str, trade_id: str) -> int:
    env = {
        **os.environ,
        "SETTLEMENT_RPC_URL": str(settings.rpc_url),
        "SETTLEMENT_CHAIN_ID": str(settings.chain_id),
        "SETTLEMENT_DEPLOYMENTS_DIR": str(settings.deployments_dir),
        "SETTLEMENT_DATABASE_URL": str(settings.database_url),
    }
    result = subprocess.run(
        [sys.executable, "-m", "tests.engine.crash_worker", phase, crash_at, trade_id],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=WORKER_TIMEOUT_S,
        check=False,
    )
    if result.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(f"worker failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.returncode


def events_for(devnet: Devnet, event_name: str, trade_key: bytes) -> int:
    escrow = devnet.chain().escrow
    event = getattr(escrow.events, event_name)()
    return len(event.get_logs(from_block=0, argument_filters={"tradeId": trade_key}))


@pytest.mark.parametrize("crash_at", ["signed", "sent"])
def test_killed_worker_restarts_and_settles_exactly_once(
    settings: Settings, service: SettlementService, brokers: Brokers, isolated_devnet: Devnet, crash_at: str
) -> None:
    trade, _ = service.intake.submit(hkd_trade(brokers, f"crash-{crash_at}"), OPERATOR)
    key = bytes.fromhex(trade.chain_trade_id[2:])
    payee_before = service.chain.balance_of(brokers.sg.address)
    service.close()  # the worker processes own the database from here on

    assert run_worker(settings, "lock", crash_at, trade.id) == -signal.SIGKILL
    assert events_for(isolated_devnet, "Locked", key) == (1 if crash_at == "sent" else 0)
    assert run_worker(settings, "lock", "none", trade.id) == 0
    assert events_for(isolated_devnet, "Locked", key) == 1

    assert run_worker(settings, "release", crash_at, trade.id) == -signal.SIGKILL
    assert run_worker(settings, "release", "none", trade.id) == 0

    assert events_for(isolated_devnet, "Locked", key) == 1
    assert events_for(isolated_devnet, "Released", key) == 1
    assert events_for(isolated_devnet, "Refunded", key) == 0
    restarted = SettlementService(settings, manifest=isolated_devnet.manifest)
    try:
        with Session(restarted.db) as session:
            assert repo.get_trade(session, trade.id).status == TradeStatus.RELEASED
        assert restarted.chain.balance_of(brokers.sg.address) == payee_before + trade.settlement_amount_base_units
        report = restarted.reconcile(Actor.operator())
        assert report.balanced, report.breaks
    finally:
        restarted.close()
