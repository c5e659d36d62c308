"""Runs one settlement step in its own process, optionally SIGKILLing itself at a chosen moment.

Used by test_crash.py: `python -m tests.engine.crash_worker <lock|release> <signed|sent|none> <trade_id>`.
Settings come from SETTLEMENT_* env vars, exactly as a restarted service would read them.
"""

from __future__ import annotations

import os
import signal
import sys

from settlement.chain.sender import TxRecord, TxSender
from settlement.config import Settings
from settlement.service import SettlementService


def main(phase: str, crash_at: str, trade_id: str) -> None:
    if crash_at != "none":

        def die(self: TxSender, record: TxRecord) -> None:
            if record.purpose.startswith(phase):
                os.kill(os.getpid(), signal.SIGKILL)

        hook = "_on_signed" if crash_at == "signed" else "_on_sent"
        setattr(TxSender, hook, die)
    service = SettlementService(Settings())
    service.recover()
    if phase == "release":
        service.instructions.confirm_delivery(trade_id)
    service.settle_until_idle()
    service.close()


if __name__ == "__main__":
    main(*sys.argv[1:4])
