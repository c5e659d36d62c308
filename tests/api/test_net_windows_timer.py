"""Net settlement windows close without the operator: on their size limit and on their timer.

A module of its own: it runs its own app with short windows on the session's anvil, reverted
after, which must not happen under another module's running app."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from settlement.testing.app import running_app
from settlement.testing.devnet import Devnet
from tests.api.test_net_settlement import _batch, _funded, _net, _wait_settled

pytestmark = pytest.mark.chain


def test_windows_close_on_their_size_limit_and_on_their_timer(devnet: Devnet, tmp_path: Path) -> None:
    """Without the operator: a window closes once it holds SETTLEMENT_WINDOW_TRADES_MAX trades, and
    one with fewer closes SETTLEMENT_WINDOW_LENGTH_S after it opened; each settles on its own."""
    snapshot = devnet.snapshot()
    try:
        with running_app(
            devnet.manifest, devnet.rpc_url, tmp_path, window_length_s=2.0, window_trades_max=3, sweep_interval_s=0.1
        ) as app:
            a, b = _funded(app, "timer-a", "100"), _funded(app, "timer-b", "100")
            full = _batch(app, [_net(a, b, "1"), _net(b, a, "2"), _net(a, b, "3")])
            settled = _wait_settled(app, full[0]["window_id"])
            assert settled["trade_count"] == 3
            assert _seconds(settled["opened_at"], settled["closed_at"]) < 1.5  # closed for its size
            timed = _batch(app, [_net(a, b, "4")])[0]
            assert timed["window_id"] != full[0]["window_id"]
            settled = _wait_settled(app, timed["window_id"])
            assert settled["trade_count"] == 1
            assert _seconds(settled["opened_at"], settled["closed_at"]) >= 2.0  # closed by its timer
    finally:
        devnet.revert(snapshot)


def _seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
