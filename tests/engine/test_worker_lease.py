"""One settlement worker per ledger: a second server stands by, takes over when the first stops or
dies (SIGKILL), and a started server refuses trades while no worker settles its ledger."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from settlement import errors
from settlement.config import PROJECT_ROOT, Settings
from settlement.domain.trade import TradeStatus
from settlement.service import SettlementService
from settlement.testing.devnet import Devnet
from tests.engine.conftest import OPERATOR, Brokers, make_settings
from tests.engine.lease_worker import READY
from tests.engine.test_lifecycle import hkd_trade, reload

LEASE_TTL_S = 2.0
TAKEOVER_MAX_S = 10.0
STOP_MAX_S = 2.0
SETTLE_WAIT_S = 60.0
CHILD_READY_TIMEOUT_S = 120.0


@pytest.fixture
def settings(isolated_devnet: Devnet, db_url: str, tmp_path: Path) -> Settings:
    """A quick sweep and a short lease, so standbys and takeovers show within seconds."""
    return make_settings(isolated_devnet, db_url, tmp_path, sweep_interval_s=0.2, worker_lease_ttl_s=LEASE_TTL_S)


@pytest.fixture
def second(settings: Settings, isolated_devnet: Devnet) -> Iterator[SettlementService]:
    """Another server on the same ledger."""
    svc = SettlementService(settings, manifest=isolated_devnet.manifest)
    yield svc
    svc.close()


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Seconds until `condition` held; fails the test after timeout_s."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"not within {timeout_s}s: {what}")
        time.sleep(0.05)
    return time.monotonic() - started


def timed_stop(service: SettlementService) -> float:
    started = time.monotonic()
    service.stop()
    return time.monotonic() - started


def submit(service: SettlementService, brokers: Brokers, ref: str) -> str:
    trade, created = service.submit_trade(OPERATOR, hkd_trade(brokers, ref), None)
    assert created
    return trade.id


def locked(service: SettlementService, *trade_ids: str) -> Callable[[], bool]:
    return lambda: all(reload(service, trade_id).status == TradeStatus.LOCKED for trade_id in trade_ids)


def test_two_servers_run_one_worker_and_hand_over_on_stop(
    service: SettlementService, second: SettlementService, brokers: Brokers, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="settlement.processing.submission")
    service.start()
    second.start()
    assert service.worker.active and not second.worker.active
    first_health, second_health = service.health(), second.health()
    assert (first_health.worker_role, first_health.worker_live) == ("active", True)
    assert (second_health.worker_role, second_health.worker_live) == ("standby", True)

    trade_ids = [submit(server, brokers, f"pair-{i}") for i, server in enumerate([service, second] * 3)]
    wait_until(locked(service, *trade_ids), SETTLE_WAIT_S, "every trade locked")
    time.sleep(2 * LEASE_TTL_S)  # a standby that wrongly took over would run cycles by now
    assert second.worker.health.last_cycle_at is None and not second.worker.active
    assert "retrying trade by trade" not in caplog.text  # no second worker racing for the same locks

    assert timed_stop(service) < STOP_MAX_S
    assert wait_until(lambda: second.worker.active, TAKEOVER_MAX_S, "the standby takes over") < TAKEOVER_MAX_S
    handed_over = submit(second, brokers, "after-handover")
    wait_until(locked(second, handed_over), SETTLE_WAIT_S, "the new worker settles")
    assert second.health().worker_role == "active"
    assert timed_stop(second) < STOP_MAX_S


def test_a_standby_stops_at_once(service: SettlementService, second: SettlementService) -> None:
    service.start()
    second.start()
    assert not second.worker.active
    assert timed_stop(second) < STOP_MAX_S
    assert service.worker.active  # a standby's stop leaves the holder's lease alone
    assert timed_stop(service) < STOP_MAX_S


def test_an_api_only_server_refuses_trades_until_a_worker_runs(
    settings: Settings, isolated_devnet: Devnet, service: SettlementService, brokers: Brokers
) -> None:
    api_only = SettlementService(settings.model_copy(update={"worker_enabled": False}), isolated_devnet.manifest)
    try:
        api_only.start()
        health = api_only.health()
        assert (health.worker_role, health.worker_live) == ("api-only", False)
        with pytest.raises(errors.SettlementUnavailable, match="no settlement worker"):
            submit(api_only, brokers, "nobody-settles")

        service.start()  # a worker elsewhere: the API-only server takes trades, the worker settles them
        assert api_only.health().worker_live
        trade_id = submit(api_only, brokers, "settled-elsewhere")
        wait_until(locked(service, trade_id), SETTLE_WAIT_S, "the other server's worker settles it")

        service.stop()  # released on stop: refused at once, not after the heartbeat goes stale
        with pytest.raises(errors.SettlementUnavailable):
            submit(api_only, brokers, "worker-gone")
        assert not api_only.health().worker_live
    finally:
        api_only.close()


def lease_worker(settings: Settings) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "SETTLEMENT_RPC_URL": str(settings.rpc_url),
        "SETTLEMENT_CHAIN_ID": str(settings.chain_id),
        "SETTLEMENT_DEPLOYMENTS_DIR": str(settings.deployments_dir),
        "SETTLEMENT_DATABASE_URL": str(settings.database_url),
        "SETTLEMENT_WORKER_LEASE_TTL_S": str(settings.worker_lease_ttl_s),
        # After its first cycle it would not look at new trades for an hour: only a takeover settles them.
        "SETTLEMENT_SWEEP_INTERVAL_S": "3600",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.engine.lease_worker"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_killed_workers_lease_is_taken_over_within_seconds(
    settings: Settings, service: SettlementService, brokers: Brokers
) -> None:
    child = lease_worker(settings)
    try:
        assert child.stdout is not None
        line = child.stdout.readline().strip()  # blocks until the child is active (or has died)
        if line != READY:
            child.kill()
            _, stderr = child.communicate(timeout=CHILD_READY_TIMEOUT_S)
            raise AssertionError(f"lease worker not active ({line!r}, exit {child.returncode}):\n{stderr[-3000:]}")

        service.start()
        assert not service.worker.active and service.health().worker_live  # the child holds the lease
        trade_id = submit(service, brokers, "orphaned")  # accepted: a live worker holds the lease
        time.sleep(0.5)
        assert reload(service, trade_id).status == TradeStatus.PENDING  # the child sleeps through it

        killed_at = time.monotonic()
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=CHILD_READY_TIMEOUT_S)
        wait_until(locked(service, trade_id), TAKEOVER_MAX_S, "taken over and settled")
        assert time.monotonic() - killed_at < TAKEOVER_MAX_S
        assert service.worker.active and service.health().worker_role == "active"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=CHILD_READY_TIMEOUT_S)
        for stream in (child.stdout, child.stderr):
            if stream is not None:
                stream.close()
