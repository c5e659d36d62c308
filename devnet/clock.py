"""Keeps a restarted devnet's chain clock from going backwards.

anvil restarted from its dumped state can come back with its clock behind the last block it
mined before the restart (hours behind, after a test or demo skipped time ahead). Deadlines are
measured in chain time, so `down` records the latest block's timestamp beside the state file,
and `up` mines one block at max(recorded + 1, now) when the loaded chain is behind it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from web3 import Web3

CLOCK_FILE = "anvil-clock.json"


def latest_timestamp(w3: Web3) -> int:
    return int(w3.eth.get_block("latest")["timestamp"])


def record_clock(w3: Web3, state_dir: Path) -> int:
    """Write the latest block's timestamp beside the state file; returns it."""
    timestamp = latest_timestamp(w3)
    (state_dir / CLOCK_FILE).write_text(json.dumps({"latest_block_timestamp": timestamp}) + "\n")
    return timestamp


def recorded_clock(state_dir: Path) -> int | None:
    try:
        return int(json.loads((state_dir / CLOCK_FILE).read_text())["latest_block_timestamp"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # never recorded (first `up`, or anvil died without `down`): nothing to restore


def restore_clock(w3: Web3, state_dir: Path) -> int | None:
    """Mine one block no earlier than the recorded time if the chain came back behind it; returns
    the new block's timestamp, or None when the clock was already where it should be."""
    recorded = recorded_clock(state_dir)
    if recorded is None or latest_timestamp(w3) > recorded:
        return None
    target = max(recorded + 1, int(time.time()))
    w3.provider.make_request("evm_setNextBlockTimestamp", [target])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    return latest_timestamp(w3)
