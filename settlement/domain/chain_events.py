"""The token's, escrow's and net settlement contract's events as plain values, once decoded from their logs.

Why in the domain: the posting rules reason about these events and must not depend on the
chain adapter (web3, ABIs) to do so; settlement.chain.events produces them, the rules consume them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TRANSFER = "Transfer"
LOCKED = "Locked"
RELEASED = "Released"
REFUNDED = "Refunded"
RECOVERED = "Recovered"  # the timelocked recovery of a lock stranded by blacklisting
TOKEN_EVENTS = (TRANSFER,)
ESCROW_EVENTS = (LOCKED, RELEASED, REFUNDED, RECOVERED)
# SettlementNet (net mode): the liquidity moves and a window's net positions. Membership events
# (ParticipantAdmitted/Removed) move no coins and are not mirrored.
DEPOSITED = "Deposited"
WITHDRAWN = "Withdrawn"
NET_POSITION_APPLIED = "NetPositionApplied"
WINDOW_SETTLED = "WindowSettled"
NET_EVENTS = (DEPOSITED, WITHDRAWN, NET_POSITION_APPLIED, WINDOW_SETTLED)


@dataclass(frozen=True)
class ChainEvent:
    """One decoded log. `args` holds the event's inputs by their ABI names.

    Addresses are '0x' + 40 hex, uints are ints, bytes32 values are bytes (as decoded).
    """

    name: str
    args: dict[str, Any]
    block_number: int
    block_hash: str
    tx_hash: str
    tx_index: int
    log_index: int


def trade_key(event: ChainEvent) -> str:
    """The escrow's bytes32 trade id as Trade.chain_trade_id spells it ('0x' + 64 hex)."""
    return "0x" + bytes(event.args["tradeId"]).hex()
